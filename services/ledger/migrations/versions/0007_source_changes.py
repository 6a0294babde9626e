"""Source changes: the CRM change behind each event id an entry names (its record, who changed it).

Filled from earnings v4 snapshots as they are booked; a dispute on an entry reads the deals behind it here.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"  # no branch labels, no dependencies (alembic's defaults)


def upgrade() -> None:
    op.create_table(
        "source_changes",
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("record_id", sa.Text, nullable=False),
        sa.Column("change_origin", sa.Text, nullable=True),
        sa.Column("commit_user", sa.String(255), nullable=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("source_changes")
