"""request log: why each request was routed and why it was escalated

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("log_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("decision_reason", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("escalation_reason", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("log_records", schema=None) as batch_op:
        batch_op.drop_column("escalation_reason")
        batch_op.drop_column("decision_reason")
