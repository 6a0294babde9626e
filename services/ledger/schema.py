"""Ledger tables (SQLAlchemy Core). Migrations in ``migrations/`` create them."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

MONEY = Numeric(24, 6)

entries = Table(
    "ledger_entries",
    metadata,
    Column("entry_id", BigInteger, Identity(), primary_key=True),
    Column("rep_id", String(255), nullable=False),
    Column("period", String(16), nullable=False),
    Column("plan_id", String(255), nullable=False),
    Column("plan_version", Integer, nullable=False),
    Column("component_id", String(255), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("snapshot_version", BigInteger, nullable=False),
    Column("idempotency_key", Text, nullable=False, unique=True),
    Column("source_event_ids", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("corrects_period", String(16), nullable=True),  # set on prior-period adjustments
    Column("scope", String(255), nullable=True),  # period scope (plan family or region); NULL: plan_id
    Column("created_by", String(255), nullable=True),  # a person, for manual entries
    Column("explanation", Text, nullable=True),
    Column("input_hash", String(64), nullable=True),  # SHA-256 of what it books (attain.ledger.entries); NULL: older
)

snapshot_heads = Table(
    "snapshot_heads",
    metadata,
    Column("rep_id", String(255), primary_key=True),
    Column("period", String(16), primary_key=True),
    Column("snapshot_version", BigInteger, nullable=False),
    Column("total_earned", MONEY, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


periods = Table(
    "periods",
    metadata,
    Column("scope", String(255), primary_key=True),  # the plan family (plan_id)
    Column("period", String(16), primary_key=True),
    Column("state", String(16), nullable=False, server_default="open"),
    Column("prepared_by", String(255), nullable=True),  # who locked it for approval
    Column("approval_round", Integer, nullable=False, server_default="0"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

approval_decisions = Table(
    "approval_decisions",
    metadata,
    Column("decision_id", BigInteger, Identity(), primary_key=True),
    Column("scope", String(255), nullable=False),
    Column("period", String(16), nullable=False),
    Column("approval_round", Integer, nullable=False),
    Column("step", String(64), nullable=False),
    Column("actor_id", String(255), nullable=False),
    Column("approved", Boolean, nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("sequence", BigInteger, primary_key=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("actor_id", String(255), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", Text, nullable=False),
    Column("details", JSONB, nullable=False),
    Column("previous_hash", String(64), nullable=False),
    Column("record_hash", String(64), nullable=False, unique=True),
)

payout_lines = Table(
    "payout_lines",
    metadata,
    Column("payout_id", Text, primary_key=True),
    Column("scope", String(255), nullable=False),
    Column("period", String(16), nullable=False),
    Column("rep_id", String(255), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("entry_count", Integer, nullable=False),
    Column("approved_at", DateTime(timezone=True), nullable=False),
    Column("approved_by", String(255), nullable=False),
    Column("hr_id", String(255), nullable=True),
    Column("earnings", JSONB, nullable=False, server_default="[]"),  # [{earning_code, amount, entry_count}]
)

outbox = Table(
    "outbox",
    metadata,
    Column("outbox_id", BigInteger, Identity(), primary_key=True),
    Column("topic", String(255), nullable=False),
    Column("message_key", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_at", DateTime(timezone=True), nullable=True),
    Column("trace_context", Text, nullable=True),  # the writer's W3C traceparent, when tracing is on
)

disputes = Table(
    "disputes",
    metadata,
    Column("dispute_id", BigInteger, Identity(), primary_key=True),
    Column("entry_id", BigInteger, ForeignKey("ledger_entries.entry_id"), nullable=False),
    Column("rep_id", String(255), nullable=False),
    Column("status", String(16), nullable=False, server_default="open"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

dispute_events = Table(
    "dispute_events",
    metadata,
    Column("event_id", BigInteger, Identity(), primary_key=True),
    Column("dispute_id", BigInteger, ForeignKey("disputes.dispute_id"), nullable=False),
    Column("actor_id", String(255), nullable=False),
    Column("action", String(16), nullable=False),
    Column("comment", Text, nullable=False),
    Column("adjustment_entry_id", BigInteger, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

participants = Table(
    "participants",
    metadata,
    Column("rep_id", String(255), primary_key=True),
    Column("region", String(64), nullable=False),
    Column("manager_id", String(255), nullable=True),
    Column("hr_id", String(255), nullable=True),  # the employee's id in payroll/HR (org file hr_id)
)

plan_versions = Table(  # every plan version the ledger has booked earnings under; a new one is audited
    "plan_versions",
    metadata,
    Column("plan_id", String(255), primary_key=True),
    Column("plan_version", Integer, primary_key=True),
    Column("first_seen_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

ledger_lineages = Table(  # the calculator lineage the ledger books (one adopted), and the ones it retired
    "ledger_lineages",
    metadata,
    Column("lineage", Text, primary_key=True),
    Column("state", String(16), nullable=False),
    Column("adopted_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("adopted_by", String(255), nullable=False),
    Column("retired_at", DateTime(timezone=True), nullable=True),
)

quarantined_snapshots = Table(  # newest snapshot per (lineage, rep, period) of a lineage not adopted
    "quarantined_snapshots",
    metadata,
    Column("lineage", Text, primary_key=True),
    Column("rep_id", String(255), primary_key=True),
    Column("period", String(16), primary_key=True),
    Column("snapshot_version", BigInteger, nullable=False),
    Column("snapshot", JSONB, nullable=False),
    Column("received", Integer, nullable=False, server_default="1"),
    Column("first_seen", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_seen", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("resolution", String(16), nullable=True),
)

access_log = Table(  # every read of someone's pay through the ledger's APIs: who, whose, what, when (no amounts)
    "access_log",
    metadata,
    Column("access_id", BigInteger, Identity(), primary_key=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("actor_id", String(255), nullable=False),  # the token's subject
    Column("rep_id", String(255), nullable=False),  # whose pay was read
    Column("region", String(64), nullable=True),  # the rep's region when read, for region-scoped admins
    Column("action", String(64), nullable=False),  # e.g. entries.read, statement.read, payouts.export
    Column("resource", Text, nullable=False),  # e.g. reps/alice/statements/2026-Q1
    Column("door", String(8), nullable=False),  # http | grpc | notifier | portal
)

source_changes = Table(  # the CRM change behind an event id that entries name (earnings v4): deal and who changed it
    "source_changes",
    metadata,
    Column("event_id", Text, primary_key=True),  # as in ledger_entries.source_event_ids
    Column("record_id", Text, nullable=False),  # the CRM record (the deal)
    Column("change_origin", Text, nullable=True),  # Salesforce changeOrigin; NULL when the source did not say
    Column("commit_user", String(255), nullable=True),  # Salesforce commitUser; NULL when the source did not say
    Column("first_seen", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

ledger_events = Table(  # every fact published on ledger.events, once (docs/ledger.md, "ledger.events")
    "ledger_events",
    metadata,
    Column("event_id", Text, primary_key=True),  # the fact's identity: a second write of it adds nothing
    Column("kind", String(32), nullable=False),
    Column("rep_id", String(255), nullable=False),
    Column("scope", String(255), nullable=False),
    Column("period", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
