"""Entry input hash: what an entry books, so a reused idempotency key with different inputs is refused.

Rows written before it hold NULL; their hash is computed from their stored fields when compared
(``attain.ledger.entries.stored_hash``).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"  # no branch labels, no dependencies (alembic's defaults)


def upgrade() -> None:
    op.add_column("ledger_entries", sa.Column("input_hash", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("ledger_entries", "input_hash")
