"""paired checks: verdict counters and calibration spend in usage, calibration settings and a
settings version per deployment

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("calibration_rate_bps", sa.Integer(), nullable=False, server_default="200")
        )
        batch_op.add_column(
            sa.Column(
                "calibration_daily_cap_micros", sa.BigInteger(), nullable=False, server_default="1000000"
            )
        )
        batch_op.add_column(
            sa.Column("settings_version", sa.BigInteger(), nullable=False, server_default="1")
        )

    with op.batch_alter_table("usage_aggregates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("judged", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("acceptable", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("calibration_cost_micros", sa.BigInteger(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("usage_aggregates", schema=None) as batch_op:
        batch_op.drop_column("calibration_cost_micros")
        batch_op.drop_column("acceptable")
        batch_op.drop_column("judged")

    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_column("settings_version")
        batch_op.drop_column("calibration_daily_cap_micros")
        batch_op.drop_column("calibration_rate_bps")
