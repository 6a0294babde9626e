"""Facts about a rep's pay, published on ``ledger.events`` through the transactional outbox.

Each fact is written in the transaction that makes it true (the lock, the payment, the dispute's answer,
the booking of a prior-period adjustment): a ``ledger_events`` row under the fact's id and an outbox row
(:class:`services.ledger.payouts.OutboxRelay` publishes it, as it does payout lines). A fact already
written (a retried request, a period reopened and locked again, a snapshot booked twice) adds nothing:
once per fact in the ledger, at least once on the wire, once in effect for a reader that dedupes on
``event_id`` or on the milestone key it makes (the notifier).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert

from attain.contracts.earnings import EarningsSnapshot
from attain.contracts.ledger_events import (
    DISPUTE_ANSWERED,
    PAID,
    STATEMENT_CHANGED,
    STATEMENT_READY,
    LedgerEvent,
)
from attain.core.milestones import joined_key
from attain.ledger.entries import Entry
from attain.ledger.statement_changes import cause_of
from attain.platform import topics, tracing
from attain.platform.avro import contract
from services.ledger.schema import dispute_events, entries, ledger_events, outbox
from services.ledger.scopes import entry_scope


def fact_id(kind: str, *parts: str) -> str:
    """``kind|part|...`` with ``|`` escaped inside parts, so two facts never share an id."""
    return joined_key(kind, *parts)


def publish(connection: Connection, events: Iterable[LedgerEvent]) -> int:
    """Write each fact not written before, with its outbox row, in ``connection``'s transaction.

    Returns how many were new. Two transactions writing one fact at once: the second waits on the first's
    row and writes nothing.
    """
    wanted = {event.event_id: event for event in events}
    if not wanted:
        return 0
    new = connection.execute(
        insert(ledger_events).on_conflict_do_nothing().returning(ledger_events.c.event_id),
        [{"event_id": e.event_id, "kind": e.fact.kind, "rep_id": e.fact.rep_id, "scope": e.scope,
          "period": e.fact.period}
         for e in wanted.values()]).scalars().all()
    if new:
        codec, trace = contract(topics.LEDGER_EVENTS), tracing.traceparent()
        connection.execute(outbox.insert(), [
            {"topic": topics.LEDGER_EVENTS, "message_key": wanted[event_id].fact.rep_id,
             "payload": codec.encode(wanted[event_id].to_avro()), "trace_context": trace}
            for event_id in in_order(new, wanted)])
    return len(new)


def in_order(chosen: Iterable[str], given: Iterable[str]) -> list[str]:
    """``chosen`` (a subset of ``given``) in ``given``'s order. In linear time: ``publish`` runs while the
    period's row is locked, with a fact per rep (searching a list for each would be quadratic)."""
    position = {key: number for number, key in enumerate(given)}
    return sorted(chosen, key=position.__getitem__)


def statements_issued(connection: Connection, scope: str, period: str, actor_id: str) -> int:
    """The period was locked: each rep with entries in it has an issued statement."""
    reps = connection.execute(
        select(entries.c.rep_id).distinct()
        .where(entry_scope() == scope, entries.c.period == period).order_by(entries.c.rep_id)).scalars()
    now = datetime.now(UTC)
    return publish(connection, (
        LedgerEvent.of(fact_id(STATEMENT_READY, scope, period, rep_id), STATEMENT_READY, rep_id, scope, period, now,
                    actor_id=actor_id) for rep_id in reps))


def paid(connection: Connection, scope: str, period: str, lines: Sequence[Mapping[str, object]],
         actor_id: str) -> int:
    """Finance marked the period paid: one fact per payout line (rep and currency)."""
    now = datetime.now(UTC)
    return publish(connection, (
        LedgerEvent.of(fact_id(PAID, str(line["payout_id"])), PAID, str(line["rep_id"]), scope, period, now,
                    str(line["currency"]), Decimal(str(line["amount"])), actor_id)
        for line in lines))


def dispute_answered(connection: Connection, dispute_id: int, rep_id: str, entry: Mapping[str, object],
                     status: str, adjustment: Decimal | None, actor_id: str) -> int:
    """Someone other than the rep answered dispute ``dispute_id`` (call after writing the answer's event):
    the fact names the answer's number, so each answer is its own fact."""
    answer = connection.execute(
        select(dispute_events.c.event_id).where(dispute_events.c.dispute_id == dispute_id,
                                                dispute_events.c.actor_id != rep_id)).all()
    scope = str(entry["scope"] or entry["plan_id"])
    return publish(connection, [LedgerEvent.of(
        fact_id(DISPUTE_ANSWERED, str(dispute_id), str(len(answer))), DISPUTE_ANSWERED, rep_id, scope,
        str(entry["period"]), datetime.now(UTC), str(entry["currency"]), adjustment, actor_id,
        {"dispute_id": str(dispute_id), "answer": str(len(answer)), "status": status,
         "entry_id": str(entry["entry_id"])})])


def statements_changed(connection: Connection, booked: Sequence[Entry],
                       snapshots: Sequence[EarningsSnapshot]) -> int:
    """Snapshots corrected issued periods (prior-period adjustments among ``booked``): one fact per rep,
    corrected period, payout scope, currency and snapshot version, naming the deals whose CRM changes made it.
    The id names the scope it is grouped by: two scopes' facts under one id would be one fact (``publish``
    keeps one per id)."""
    deals = {(s.rep_id, s.period, s.snapshot_version): ",".join(dict.fromkeys(c.record_id for c in s.changes))
             for s in snapshots}
    plan_versions = {(s.rep_id, s.period, s.snapshot_version): str(s.plan_version) for s in snapshots}
    changes: dict[tuple[str, str, str, str, int], Decimal] = defaultdict(Decimal)
    for entry in booked:
        if entry.corrects_period:
            key = (entry.rep_id, entry.corrects_period, entry.scope or entry.plan_id, entry.currency,
                   entry.snapshot_version)
            changes[key] += entry.amount
    now = datetime.now(UTC)
    events = []
    for (rep_id, period, scope, currency, version), amount in sorted(changes.items()):
        behind = deals.get((rep_id, period, version), "")
        events.append(LedgerEvent.of(
            fact_id(STATEMENT_CHANGED, rep_id, period, scope, currency, f"v{version}"), STATEMENT_CHANGED, rep_id,
            scope, period, now, currency, amount, details={
                "change": f"v{version}", "cause": "crm" if behind else "recompute", "deals": behind,
                "snapshot_version": str(version), "plan_version": plan_versions.get((rep_id, period, version), "")}))
    return publish(connection, events)


def statement_changed_by_hand(connection: Connection, entry: Entry, entry_id: int) -> int:
    """A person posted ``entry`` (an adjustment, a clawback, a dispute's resolution) correcting an issued period."""
    if not entry.corrects_period:
        return 0
    scope = entry.scope or entry.plan_id
    return publish(connection, [LedgerEvent.of(
        fact_id(STATEMENT_CHANGED, entry.rep_id, entry.corrects_period, scope, entry.currency, f"e{entry_id}"),
        STATEMENT_CHANGED, entry.rep_id, scope, entry.corrects_period, datetime.now(UTC),
        entry.currency, entry.amount, entry.created_by or "",
        {"change": f"e{entry_id}", "cause": cause_of(entry.row(), None), "entry_ids": str(entry_id),
         "reason": entry.explanation or ""})])
