"""Outbox trace context: the W3C ``traceparent`` of the transaction that wrote the row (a period's approval),
so the relay publishes the payout line in that trace. Null when tracing is off (attain/platform/tracing.py).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"  # no branch labels, no dependencies (alembic's defaults)


def upgrade() -> None:
    op.add_column("outbox", sa.Column("trace_context", sa.Text, nullable=True))


def downgrade() -> None:
    op.drop_column("outbox", "trace_context")
