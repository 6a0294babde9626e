"""Payroll fields: the participant's HR id, and each payout line's HR id and split by earning code.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("participants", sa.Column("hr_id", sa.String(255), nullable=True))
    op.add_column("payout_lines", sa.Column("hr_id", sa.String(255), nullable=True))
    op.add_column("payout_lines", sa.Column("earnings", JSONB, nullable=False, server_default="[]"))


def downgrade() -> None:
    op.drop_column("payout_lines", "earnings")
    op.drop_column("payout_lines", "hr_id")
    op.drop_column("participants", "hr_id")
