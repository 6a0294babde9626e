"""The audit log in PostgreSQL: append a chained record inside the caller's transaction; verify; export.

Appends are serialised by a transaction-scoped advisory lock so two writers
cannot both chain to the same previous record.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, or_, select, text

from attain.ledger.audit_chain import GENESIS, ChainBreak, chain_hash, verify_chain
from services.ledger.schema import audit_log

AUDIT_LOCK = 0x41554449  # "AUDI": pg_advisory_xact_lock key of the audit chain


def _hashed_content(sequence: int, occurred_at: datetime, actor_id: str, action: str, subject: str,
                    details: dict[str, Any]) -> dict[str, Any]:
    return {
        "sequence": sequence, "occurred_at": occurred_at.astimezone(UTC).isoformat(), "actor_id": actor_id,
        "action": action, "subject": subject, "details": details,
    }


def append_audit(connection: Connection, actor_id: str, action: str, subject: str,
                 details: dict[str, Any]) -> int:
    """Chain one record to the log in ``connection``'s transaction; returns its sequence."""
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK})
    last = connection.execute(
        select(audit_log.c.sequence, audit_log.c.record_hash).order_by(audit_log.c.sequence.desc()).limit(1)
    ).first()
    sequence, previous_hash = (last[0] + 1, last[1]) if last else (1, GENESIS)
    occurred_at = datetime.now(UTC)
    details = json.loads(json.dumps(details, default=str))  # what JSONB will give back
    content = _hashed_content(sequence, occurred_at, actor_id, action, subject, details)
    connection.execute(audit_log.insert().values(
        sequence=sequence, occurred_at=occurred_at, actor_id=actor_id, action=action, subject=subject,
        details=details, previous_hash=previous_hash, record_hash=chain_hash(previous_hash, content),
    ))
    return sequence


def verify_audit(engine: Engine) -> tuple[int, list[ChainBreak]]:
    """(records checked, breaks found) over the whole log."""
    with engine.connect() as connection:
        rows = [
            (row.sequence,
             _hashed_content(row.sequence, row.occurred_at, row.actor_id, row.action, row.subject, row.details),
             row.previous_hash, row.record_hash)
            for row in connection.execute(select(audit_log).order_by(audit_log.c.sequence))
        ]
    return len(rows), verify_chain(rows)


def audit_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(audit_log)).scalar_one())


def period_records(engine: Engine, period: str) -> list[dict[str, Any]]:
    """Records whose subject names ``period`` (period transitions, approvals, adjustments of it)."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(audit_log).where(or_(audit_log.c.subject.like(f"%/{period}%"),
                                        audit_log.c.details["period"].astext == period))
            .order_by(audit_log.c.sequence)
        ).mappings().all()
    return [dict(row) for row in rows]


def export_period_zip(engine: Engine, period: str) -> bytes:
    """A ZIP with ``audit-<period>.csv`` and the chain verification result, for auditors."""
    records = period_records(engine, period)
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["sequence", "occurred_at", "actor_id", "action", "subject", "details", "previous_hash",
                     "record_hash"])
    for record in records:
        writer.writerow([record["sequence"], record["occurred_at"].astimezone(UTC).isoformat(), record["actor_id"],
                         record["action"], record["subject"], json.dumps(record["details"], sort_keys=True),
                         record["previous_hash"], record["record_hash"]])
    checked, breaks = verify_audit(engine)
    verification = {"records_checked": checked, "intact": not breaks,
                    "breaks": [{"sequence": b.sequence, "reason": b.reason} for b in breaks]}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"audit-{period}.csv", table.getvalue())
        archive.writestr("chain-verification.json", json.dumps(verification, indent=2))
    return buffer.getvalue()
