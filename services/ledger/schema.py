"""Ledger tables (SQLAlchemy Core). Migrations in ``migrations/`` create them."""

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Integer,
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
