"""Access log: every read of someone's pay through the ledger (who, whose, what, when).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_log",
        sa.Column("access_id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("actor_id", sa.String(255), nullable=False),
        sa.Column("rep_id", sa.String(255), nullable=False),
        sa.Column("region", sa.String(64), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("resource", sa.Text, nullable=False),
        sa.Column("door", sa.String(8), nullable=False),
    )
    op.create_index("ix_access_log_rep", "access_log", ["rep_id", "occurred_at"])
    op.create_index("ix_access_log_actor", "access_log", ["actor_id", "occurred_at"])


def downgrade() -> None:
    op.drop_table("access_log")
