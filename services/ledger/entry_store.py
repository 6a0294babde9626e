"""Storing :class:`attain.ledger.entries.Entry` values: every insert writes the input hash, and a
key booked before with different inputs is never silently taken for a retry."""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, or_, select, text

from attain.ledger.entries import DRAW_ENTRY_KINDS, RECONCILED_KINDS, Entry, same_inputs
from services.ledger.metrics import IDEMPOTENCY_CONFLICTS
from services.ledger.schema import entries

log = logging.getLogger("attain.ledger")


def reconciled() -> ColumnElement[bool]:
    """The entries that carry computed earnings (:func:`attain.ledger.entries.is_reconciled`, in SQL)."""
    return or_(entries.c.kind.in_(RECONCILED_KINDS),
               and_(entries.c.kind.in_(DRAW_ENTRY_KINDS), entries.c.created_by.is_(None)))


def insert_entries(connection: Connection, new: Sequence[Entry]) -> None:
    """Append ``new``; a used key fails the transaction (IntegrityError)."""
    if new:
        connection.execute(entries.insert(), [entry.row() for entry in new])


# One statement over arrays (unnest) instead of executemany or a multi-row VALUES: a round trip
# and a cached plan per batch; about twice the snapshots/s of executemany at 1,000 a batch.
_INSERT_UNLESS_BOOKED = text("""
    INSERT INTO ledger_entries (rep_id, period, plan_id, plan_version, component_id, kind, amount, currency,
                                snapshot_version, idempotency_key, source_event_ids, corrects_period, explanation,
                                scope, input_hash, created_by)
    SELECT * FROM unnest(CAST(:rep_id AS text[]), CAST(:period AS text[]), CAST(:plan_id AS text[]),
                         CAST(:plan_version AS int[]), CAST(:component_id AS text[]), CAST(:kind AS text[]),
                         CAST(:amount AS numeric[]), CAST(:currency AS text[]), CAST(:snapshot_version AS bigint[]),
                         CAST(:idempotency_key AS text[]), CAST(:source_event_ids AS jsonb[]),
                         CAST(:corrects_period AS text[]), CAST(:explanation AS text[]), CAST(:scope AS text[]),
                         CAST(:input_hash AS text[]), CAST(:created_by AS text[]))
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING idempotency_key
""")
_ARRAY_COLUMNS = ("rep_id", "period", "plan_id", "plan_version", "component_id", "kind", "amount", "currency",
                  "snapshot_version", "idempotency_key", "corrects_period", "explanation", "scope", "input_hash",
                  "created_by")


def insert_unless_booked(connection: Connection, new: Sequence[Entry]) -> int:
    """Append the entries of ``new`` whose key is unused, in one statement; a used key is a retry (skipped)
    when it booked the same inputs, and a conflict otherwise: counted and logged, the first booking stands.
    Returns how many were appended. The one conditional insert of entries (snapshots, closing draws,
    payments)."""
    if not new:
        return 0
    columns: dict[str, list[Any]] = {name: [getattr(entry, name) for entry in new] for name in _ARRAY_COLUMNS}
    columns["source_event_ids"] = [json.dumps(list(entry.source_event_ids)) for entry in new]
    inserted = connection.execute(_INSERT_UNLESS_BOOKED, columns).scalars().all()
    if len(inserted) < len(new):
        report_conflicts(connection, new, set(inserted))
    return len(inserted)


def report_conflicts(connection: Connection, attempted: Sequence[Entry], inserted: Collection[str]) -> int:
    """Of ``attempted``, those not ``inserted`` (their key was used): count and log each whose stored
    entry booked different inputs. Returns how many conflicted."""
    skipped = {entry.idempotency_key: entry for entry in attempted if entry.idempotency_key not in inserted}
    if not skipped:
        return 0
    conflicts = 0
    for row in connection.execute(select(entries).where(entries.c.idempotency_key.in_(sorted(skipped)))).mappings():
        entry = skipped[row["idempotency_key"]]
        if not same_inputs(row, entry):
            conflicts += 1
            IDEMPOTENCY_CONFLICTS.labels(kind=entry.kind).inc()
            log.error("idempotency conflict: key %r already booked entry %s with different inputs; "
                      "the new %s entry of %s %s is not booked", entry.idempotency_key, row["entry_id"],
                      entry.kind, entry.rep_id, entry.period)
    return conflicts
