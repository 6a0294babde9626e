"""Entries a person posts (manual adjustments, draws, clawbacks), each audited in its transaction."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, select

from attain.core.money import minor_unit, parse_decimal
from attain.ledger.periods import PeriodState, accepts_entries
from services.ledger.audit import append_audit
from services.ledger.schema import entries, periods

# Not "earned" or "adjustment": those carry computed earnings, which reconciliation owns. A person's
# entry stays on top of the computed ones; the next snapshot does not undo it.
MANUAL_KINDS = ("manual", "reversal", "clawback", "draw", "draw_recovery")


class PostingError(ValueError):
    """A manual entry that cannot be posted, and why."""


class ClosedPeriod(PostingError):
    """The period no longer takes entries (locked, approved or paid)."""


def post_manual_entry(connection: Connection, *, actor_id: str, rep_id: str, scope: str, period: str,
                      component_id: str, kind: str, amount: str | Decimal, currency: str, reason: str,
                      idempotency_key: str, plan_id: str = "") -> int:
    """Append one entry in ``connection``'s transaction; returns its id (the existing one on a retry)."""
    if kind not in MANUAL_KINDS:
        raise PostingError(f"kind {kind!r} cannot be posted by hand: use one of {MANUAL_KINDS}")
    if not reason.strip():
        raise PostingError("a manual entry needs a reason")
    value = parse_decimal(amount, "amount")
    if value != value.quantize(Decimal(1).scaleb(-minor_unit(currency))):
        raise PostingError(f"amount {value} has more decimals than {currency} allows ({minor_unit(currency)})")
    state = connection.execute(select(periods.c.state).where(periods.c.scope == scope, periods.c.period == period)
                               .with_for_update(read=True)).scalar()  # a lock waits for this entry
    if state is not None and not accepts_entries(PeriodState(state)):
        raise ClosedPeriod(f"period {scope}/{period} is {state}: post into the open period instead")
    existing = connection.execute(
        select(entries.c.entry_id).where(entries.c.idempotency_key == idempotency_key)).scalar()
    if existing is not None:
        return int(existing)
    entry_id = int(connection.execute(entries.insert().values(
        rep_id=rep_id, period=period, plan_id=plan_id, scope=scope, plan_version=0, component_id=component_id,
        kind=kind, amount=value, currency=currency, snapshot_version=0, idempotency_key=idempotency_key,
        source_event_ids=[], created_by=actor_id, explanation=reason,
    ).returning(entries.c.entry_id)).scalar_one())
    append_audit(connection, actor_id, f"entry.{kind}", f"entry/{entry_id}",
                 {"rep_id": rep_id, "scope": scope, "period": period, "component_id": component_id,
                  "amount": str(value), "currency": currency, "reason": reason})
    return entry_id


def post_manual(engine: Engine, **fields: Any) -> int:
    with engine.begin() as connection:
        return post_manual_entry(connection, **fields)
