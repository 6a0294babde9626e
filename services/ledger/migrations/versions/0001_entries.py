"""Ledger entries (append-only) and snapshot heads.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

MONEY = sa.Numeric(24, 6)


def upgrade() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column("entry_id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("rep_id", sa.String(255), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("plan_id", sa.String(255), nullable=False),
        sa.Column("plan_version", sa.Integer, nullable=False),
        sa.Column("component_id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("snapshot_version", sa.BigInteger, nullable=False),
        sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
        sa.Column("source_event_ids", JSONB, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_index("ix_ledger_entries_rep_period", "ledger_entries", ["rep_id", "period"])
    op.create_table(
        "snapshot_heads",
        sa.Column("rep_id", sa.String(255), primary_key=True),
        sa.Column("period", sa.String(16), primary_key=True),
        sa.Column("snapshot_version", sa.BigInteger, nullable=False),
        sa.Column("total_earned", MONEY, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    # Append-only, enforced by the database: corrections are new entries.
    op.execute(
        """
        CREATE FUNCTION ledger_entries_append_only() RETURNS trigger AS $$
        BEGIN
            RAISE EXCEPTION 'ledger_entries is append-only: post a correcting entry instead';
        END;
        $$ LANGUAGE plpgsql;
        CREATE TRIGGER ledger_entries_no_update_or_delete
            BEFORE UPDATE OR DELETE ON ledger_entries
            FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only();
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER ledger_entries_no_update_or_delete ON ledger_entries")
    op.execute("DROP FUNCTION ledger_entries_append_only()")
    op.drop_table("snapshot_heads")
    op.drop_table("ledger_entries")
