"""routing policy settings, billing, status page

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "status_probes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("component", sa.String(length=32), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("status_probes", schema=None) as batch_op:
        batch_op.create_index("ix_status_probes_component_checked", ["component", "checked_at"], unique=False)

    op.create_table(
        "incidents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.String(length=5000), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(["created_by"], ["accounts.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fee_share_bps", sa.Integer(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("baseline_cost_micros", sa.BigInteger(), nullable=False),
        sa.Column("actual_cost_micros", sa.BigInteger(), nullable=False),
        sa.Column("net_savings_micros", sa.BigInteger(), nullable=False),
        sa.Column("fee_micros", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "month", name="uq_invoices_account_month"),
    )
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invoices_account_id"), ["account_id"], unique=False)

    op.create_table(
        "invoice_lines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("deployment_id", sa.Uuid(), nullable=True),
        sa.Column("deployment_name", sa.String(length=100), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("baseline_cost_micros", sa.BigInteger(), nullable=False),
        sa.Column("actual_cost_micros", sa.BigInteger(), nullable=False),
        sa.Column("net_savings_micros", sa.BigInteger(), nullable=False),
        sa.Column("fee_micros", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["deployment_id"], ["deployments.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("invoice_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invoice_lines_invoice_id"), ["invoice_id"], unique=False)

    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fee_share_bps", sa.Integer(), nullable=True))

    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("routing_mode", sa.String(length=8), nullable=False, server_default="on")
        )
        batch_op.add_column(sa.Column("quality_target", sa.Float(), nullable=False, server_default="0.95"))
        batch_op.add_column(sa.Column("allowed_models", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("category_rules", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("pins", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(
            sa.Column("metadata_logs", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("log_retention_days", sa.Integer(), nullable=False, server_default="30")
        )
    # Routing that was switched off stays off.
    op.execute("UPDATE deployments SET routing_mode = 'off' WHERE NOT routing_enabled")
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_column("routing_enabled")

    with op.batch_alter_table("usage_aggregates", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("feedback_reports", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("shadow_requests", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("shadow_cost_micros", sa.BigInteger(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("usage_aggregates", schema=None) as batch_op:
        batch_op.drop_column("shadow_cost_micros")
        batch_op.drop_column("shadow_requests")
        batch_op.drop_column("feedback_reports")

    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("routing_enabled", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    op.execute("UPDATE deployments SET routing_enabled = (routing_mode = 'on')")
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_column("log_retention_days")
        batch_op.drop_column("metadata_logs")
        batch_op.drop_column("pins")
        batch_op.drop_column("category_rules")
        batch_op.drop_column("allowed_models")
        batch_op.drop_column("quality_target")
        batch_op.drop_column("routing_mode")

    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("fee_share_bps")

    with op.batch_alter_table("invoice_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoice_lines_invoice_id"))

    op.drop_table("invoice_lines")
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoices_account_id"))

    op.drop_table("invoices")
    op.drop_table("incidents")
    with op.batch_alter_table("status_probes", schema=None) as batch_op:
        batch_op.drop_index("ix_status_probes_component_checked")

    op.drop_table("status_probes")
