"""Storing :class:`attain.ledger.entries.Entry` values: every insert writes the input hash, and a
key booked before with different inputs is never silently taken for a retry."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence

from sqlalchemy import ColumnElement, Connection, and_, or_, select
from sqlalchemy.dialects.postgresql import insert

from attain.ledger.entries import DRAW_ENTRY_KINDS, RECONCILED_KINDS, Entry, stored_hash
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


def insert_unless_booked(connection: Connection, new: Sequence[Entry]) -> int:
    """Append the entries of ``new`` whose key is unused; a used key is a retry (skipped) when it
    booked the same inputs, and a conflict otherwise: counted and logged, the first booking stands.
    Returns how many were appended."""
    if not new:
        return 0
    inserted = connection.execute(
        insert(entries).on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(entries.c.idempotency_key), [entry.row() for entry in new]).scalars().all()
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
        if stored_hash(row) != entry.input_hash:
            conflicts += 1
            IDEMPOTENCY_CONFLICTS.labels(kind=entry.kind).inc()
            log.error("idempotency conflict: key %r already booked entry %s with different inputs; "
                      "the new %s entry of %s %s is not booked", entry.idempotency_key, row["entry_id"],
                      entry.kind, entry.rep_id, entry.period)
    return conflicts
