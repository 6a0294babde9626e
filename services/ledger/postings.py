"""Entries a person posts (manual adjustments, draws, clawbacks), each audited in its transaction."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, select

from attain.core.money import minor_unit, parse_decimal
from attain.ledger.entries import MANUAL_KINDS, Entry, IdempotencyConflict, check_reuse
from attain.ledger.periods import PeriodState, accepts_entries
from services.ledger.audit import append_audit
from services.ledger.ledger_events import statement_changed_by_hand
from services.ledger.schema import entries, periods

__all__ = ["MANUAL_KINDS", "ClosedPeriod", "IdempotencyConflict", "PostingError", "post_entry", "post_manual",
           "post_manual_entry"]


class PostingError(ValueError):
    """A manual entry that cannot be posted, and why."""


class ClosedPeriod(PostingError):
    """The period no longer takes entries (locked, approved or paid)."""


def post_manual_entry(connection: Connection, *, actor_id: str, rep_id: str, scope: str, period: str,
                      component_id: str, kind: str, amount: str | Decimal, currency: str, reason: str,
                      idempotency_key: str, plan_id: str = "") -> int:
    """Append one entry in ``connection``'s transaction; returns its id (the existing one on a retry).

    A retry is the same key with the same inputs (:attr:`Entry.input_hash`); the same key with other
    inputs raises :class:`IdempotencyConflict` and books nothing.
    """
    if kind not in MANUAL_KINDS:
        raise PostingError(f"kind {kind!r} cannot be posted by hand: use one of {MANUAL_KINDS}")
    if not reason.strip():
        raise PostingError("a manual entry needs a reason")
    return post_entry(connection, Entry.manual(
        key=idempotency_key, actor_id=actor_id, rep_id=rep_id, scope=scope, period=period,
        component_id=component_id, amount=parse_decimal(amount, "amount"), currency=currency, reason=reason,
        kind=kind, plan_id=plan_id))


def post_entry(connection: Connection, entry: Entry) -> int:
    """Append a person's ``entry`` into its open period, audited; idempotent by its key (see
    :func:`post_manual_entry`)."""
    if not (entry.explanation or "").strip():
        raise PostingError("a manual entry needs a reason")
    value, currency = entry.amount, entry.currency
    if value != value.quantize(Decimal(1).scaleb(-minor_unit(currency))):
        raise PostingError(f"amount {value} has more decimals than {currency} allows ({minor_unit(currency)})")
    state = connection.execute(select(periods.c.state).where(periods.c.scope == entry.scope,
                                                             periods.c.period == entry.period)
                               .with_for_update(read=True)).scalar()  # a lock waits for this entry
    if state is not None and not accepts_entries(PeriodState(state)):
        raise ClosedPeriod(f"period {entry.scope}/{entry.period} is {state}: post into the open period instead")
    existing = connection.execute(
        select(entries).where(entries.c.idempotency_key == entry.idempotency_key)).mappings().first()
    if existing is not None:
        check_reuse(existing, entry)
        return int(existing["entry_id"])
    entry_id = int(connection.execute(entries.insert().values(**entry.row()).returning(entries.c.entry_id))
                   .scalar_one())
    append_audit(connection, str(entry.created_by), f"entry.{entry.kind}", f"entry/{entry_id}",
                 {"rep_id": entry.rep_id, "scope": entry.scope, "period": entry.period,
                  "component_id": entry.component_id, "amount": str(entry.amount), "currency": entry.currency,
                  "reason": entry.explanation})
    statement_changed_by_hand(connection, entry, entry_id)
    return entry_id


def post_manual(engine: Engine, **fields: Any) -> int:
    with engine.begin() as connection:
        return post_manual_entry(connection, **fields)
