"""ledger.events: one row per fact the ledger published (statement issued, paid, dispute answered, an issued
statement changed), keyed by the fact's id, so a fact made true twice (a retry, a reopened and relocked
period) is published once.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.create_table(
        "ledger_events",
        sa.Column("event_id", sa.Text, primary_key=True),  # the fact's identity: written once
        sa.Column("kind", sa.String(32), nullable=False), sa.Column("rep_id", sa.String(255), nullable=False),
        sa.Column("scope", sa.String(255), nullable=False), sa.Column("period", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ledger_events_rep_period", "ledger_events", ["rep_id", "period"])


def downgrade() -> None:
    op.drop_table("ledger_events")
