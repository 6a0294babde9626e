"""Entry kinds and labels, periods, approvals, hash-chained audit log, payout lines, outbox, disputes,
plan versions seen, org.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(24, 6)
KINDS = ("earned", "adjustment", "reversal", "clawback", "draw", "draw_recovery", "manual", "payment")
APPEND_ONLY = ("approval_decisions", "audit_log", "dispute_events", "payout_lines")


def _now() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    op.add_column("ledger_entries", sa.Column("corrects_period", sa.String(16), nullable=True))
    # The period scope (plan family or region) the entry belongs to; NULL on entries from 0001: their plan_id.
    op.add_column("ledger_entries", sa.Column("scope", sa.String(255), nullable=True))
    op.add_column("ledger_entries", sa.Column("created_by", sa.String(255), nullable=True))
    op.add_column("ledger_entries", sa.Column("explanation", sa.Text, nullable=True))
    kinds = ", ".join(f"'{kind}'" for kind in KINDS)
    op.create_check_constraint("ck_ledger_entries_kind", "ledger_entries", f"kind IN ({kinds})")
    op.create_index("ix_ledger_entries_rep_accrual", "ledger_entries",
                    ["rep_id", sa.text("coalesce(corrects_period, period)")])
    op.create_table(
        "periods",
        sa.Column("scope", sa.String(255), primary_key=True),
        sa.Column("period", sa.String(16), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False, server_default="open"),
        sa.Column("prepared_by", sa.String(255), nullable=True),
        sa.Column("approval_round", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("state IN ('open', 'locked', 'approved', 'paid')", name="ck_periods_state"),
    )
    op.create_table(
        "approval_decisions",
        sa.Column("decision_id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("scope", sa.String(255), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("approval_round", sa.Integer, nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("actor_id", sa.String(255), nullable=False),
        sa.Column("approved", sa.Boolean, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        _now(),
        sa.UniqueConstraint("scope", "period", "approval_round", "step"),
    )
    op.create_table(
        "audit_log",
        sa.Column("sequence", sa.BigInteger, primary_key=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("details", JSONB, nullable=False),
        sa.Column("previous_hash", sa.String(64), nullable=False),
        sa.Column("record_hash", sa.String(64), nullable=False, unique=True),
    )
    op.create_table(
        "payout_lines",
        sa.Column("payout_id", sa.Text, primary_key=True),
        sa.Column("scope", sa.String(255), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("rep_id", sa.String(255), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("entry_count", sa.Integer, nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(255), nullable=False),
    )
    op.create_index("ix_payout_lines_period", "payout_lines", ["scope", "period"])
    op.create_table(
        "outbox",
        sa.Column("outbox_id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("message_key", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        _now(),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_outbox_unpublished", "outbox", ["outbox_id"], postgresql_where=sa.text("published_at IS NULL"))
    op.create_table(
        "disputes",
        sa.Column("dispute_id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("entry_id", sa.BigInteger, sa.ForeignKey("ledger_entries.entry_id"), nullable=False),
        sa.Column("rep_id", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        _now(),
        sa.CheckConstraint("status IN ('open', 'adjusted', 'rejected')", name="ck_disputes_status"),
    )
    op.create_table(
        "dispute_events",
        sa.Column("event_id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("dispute_id", sa.BigInteger, sa.ForeignKey("disputes.dispute_id"), nullable=False),
        sa.Column("actor_id", sa.String(255), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("adjustment_entry_id", sa.BigInteger, nullable=True),
        _now(),
    )
    op.create_table(
        "plan_versions",
        sa.Column("plan_id", sa.String(255), primary_key=True),
        sa.Column("plan_version", sa.Integer, primary_key=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "participants",
        sa.Column("rep_id", sa.String(255), primary_key=True),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("manager_id", sa.String(255), nullable=True),
    )
    op.execute(
        """
        CREATE FUNCTION attain_append_only() RETURNS trigger AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: record a new row instead', TG_TABLE_NAME;
        END;
        $$ LANGUAGE plpgsql;
        """
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_no_update_or_delete BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION attain_append_only()"
        )


def downgrade() -> None:
    for table in APPEND_ONLY:
        op.execute(f"DROP TRIGGER {table}_no_update_or_delete ON {table}")
    op.execute("DROP FUNCTION attain_append_only()")
    for table in ("participants", "plan_versions", "dispute_events", "disputes", "outbox", "payout_lines", "audit_log",
                  "approval_decisions", "periods"):
        op.drop_table(table)
    op.drop_index("ix_ledger_entries_rep_accrual", "ledger_entries")
    op.drop_constraint("ck_ledger_entries_kind", "ledger_entries")
    for column in ("explanation", "created_by", "scope", "corrects_period"):
        op.drop_column("ledger_entries", column)
