"""``attain recompute --period P``: the pure core's earnings for P against the ledger's, and the fix.

The expected earnings come from replaying every CRM change through
:func:`attain.core.recompute.recompute`; differences per (rep, component) are
reported, and with ``apply`` posted as adjustments (into P when it is open,
else as prior-period adjustments into the next open period), audited. A draw's
differences are booked as draws: its top-up as a ``draw`` entry and its recovery
as a ``draw_recovery`` entry, as the snapshots book them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Engine, select

from attain.core.earnings import EARNINGS, RECOVERABLE_DRAW, PeriodEarnings
from attain.core.plans import PlanBook
from attain.core.reconcile import deltas
from attain.ledger.entries import DRAW_ENTRY_KINDS, Entry, booking_kind, draw_parts, is_recoverable
from attain.ledger.periods import PeriodState, posting_period
from services.ledger.audit import append_audit
from services.ledger.db import reconciled
from services.ledger.entry_store import insert_entries
from services.ledger.period_close import due_closing_draws
from services.ledger.schema import entries, periods
from services.ledger.scopes import ScopeBy, accrual_period, scopes_for

Posted = dict[str, dict[tuple[str, str], tuple[Decimal, str, str, bool]]]
"""rep -> (component, booking kind: ``earned`` or a draw kind) -> (amount, currency, plan_id, whether a draw
entry among them is a recoverable draw's)."""


@dataclass(frozen=True)
class Difference:
    rep_id: str
    component_id: str
    ledger_amount: Decimal
    expected_amount: Decimal
    plan_id: str
    plan_version: int
    currency: str
    kind: str = "earned"  # the booking it corrects: ``earned`` (an adjustment), ``draw`` or ``draw_recovery``
    recoverable: bool = False  # a draw's: whether it is a recoverable draw

    @property
    def delta(self) -> Decimal:
        return self.expected_amount - self.ledger_amount


def ledger_components(engine: Engine, period: str) -> Posted:
    """rep -> (component, booking kind) -> (posted computed amount, currency, plan_id, recoverable draw) for
    ``period``: a draw component's top-ups and recoveries apart, as snapshots book them."""
    accrual = accrual_period()
    result: Posted = {}
    with engine.connect() as connection:
        for row in connection.execute(
            select(entries.c.rep_id, entries.c.component_id, entries.c.currency, entries.c.plan_id,
                   accrual, entries.c.amount, entries.c.kind, entries.c.explanation)
            .where(accrual == period, reconciled())
        ):
            key = (row[1], booking_kind(row[6]))
            previous = result.setdefault(row[0], {}).get(key, (Decimal(0), row[2], row[3], False))
            recoverable = previous[3] or (row[6] in DRAW_ENTRY_KINDS and is_recoverable(
                {"kind": row[6], "explanation": row[7]}))
            result[row[0]][key] = (previous[0] + row[5], row[2], row[3], recoverable)
    return result


def with_closing_draws(engine: Engine, book: PlanBook, expected: Iterable[PeriodEarnings], period: str,
                       scope_by: ScopeBy = "plan") -> list[PeriodEarnings]:
    """``expected`` plus the draw that locking ``period`` paid each rep on a plan with a draw who earned
    nothing in it (:mod:`services.ledger.period_close`), where the period is no longer open: the ledger
    holds those, so the plan engine expects them."""
    result = list(expected)
    earned = {e.rep_id for e in result if e.period == period and e.total_earned}
    due = [d for d in due_closing_draws(book, period) if d.rep_id not in earned]
    if not due:
        return result
    with engine.connect() as connection:
        scope_of = scopes_for(connection, {(d.rep_id, d.plan_id) for d in due}, scope_by)
        closed = {row.scope for row in connection.execute(
            select(periods.c.scope).where(periods.c.period == period, periods.c.state != PeriodState.OPEN.value))}
    draws = {d.rep_id: d for d in due if scope_of[(d.rep_id, d.plan_id)] in closed}
    return [e for e in result if not (e.period == period and e.rep_id in draws)] + list(draws.values())


def differences(expected: Iterable[PeriodEarnings], ledger: Posted, period: str) -> list[Difference]:
    """Per (rep, component, booking kind), where the ledger's computed amount differs from the plan engine's
    (a draw component's top-ups and recoveries compared apart, see :func:`attain.ledger.entries.draw_parts`)."""
    found: list[Difference] = []
    by_rep = {e.rep_id: e for e in expected if e.period == period}
    for rep_id in sorted(set(by_rep) | set(ledger)):
        earnings = by_rep.get(rep_id)
        booked = ledger.get(rep_id, {})
        posted = {key: amount for key, (amount, _, _, _) in booked.items()}
        wanted: dict[tuple[str, str], Decimal] = {}
        recoverable = {key[0] for key, (_, _, _, flag) in booked.items() if flag}
        for c in earnings.components if earnings else ():
            wanted.update(draw_parts(c.component_id, c.earned_amount, None if c.kind == EARNINGS else c.kind))
            if c.kind == RECOVERABLE_DRAW:
                recoverable.add(c.component_id)
        any_posted = next(iter(booked.values()), None)
        plan_id = earnings.plan_id if earnings else (any_posted[2] if any_posted else "")
        currency = earnings.currency if earnings else (any_posted[1] if any_posted else "")
        for (component, kind), _ in deltas(wanted, posted).items():
            found.append(Difference(rep_id, component, posted.get((component, kind), Decimal(0)),
                                    wanted.get((component, kind), Decimal(0)), plan_id,
                                    earnings.plan_version if earnings else 0, currency, kind,
                                    component in recoverable))
    return found


def apply_differences(engine: Engine, period: str, found: list[Difference], actor_id: str,
                      scope_by: ScopeBy = "plan") -> int:
    """Post each difference: earnings as an adjustment, a draw's top-up or recovery as a ``draw`` or
    ``draw_recovery`` entry (never as an adjustment); re-running with the same ledger state posts nothing new."""
    if not found:
        return 0
    with engine.begin() as connection:
        scope_of = scopes_for(connection, {(d.rep_id, d.plan_id) for d in found}, scope_by)
        scopes = sorted(set(scope_of.values()))
        states: dict[str, dict[str, PeriodState]] = {scope: {} for scope in scopes}
        for row in connection.execute(select(periods).where(periods.c.scope.in_(scopes))
                                      .with_for_update(read=True)):
            states[row.scope][row.period] = PeriodState(row.state)
        rows = []
        for difference in found:
            scope = scope_of[(difference.rep_id, difference.plan_id)]
            posting = posting_period(period, states[scope])
            common = {"rep_id": difference.rep_id, "period": period, "posting": posting,
                      "plan_id": difference.plan_id, "plan_version": difference.plan_version, "scope": scope,
                      "component_id": difference.component_id, "ledger_amount": difference.ledger_amount,
                      "expected_amount": difference.expected_amount, "currency": difference.currency,
                      "actor_id": actor_id}
            rows.append(Entry.recompute_adjustment(**common) if difference.kind == "earned" else
                        Entry.recompute_draw(kind=difference.kind, recoverable=difference.recoverable, **common))
        insert_entries(connection, rows)
        append_audit(connection, actor_id, "recompute.apply", f"recompute/{period}",
                     {"period": period, "adjustments": [
                         {"rep_id": r.rep_id, "component_id": r.component_id, "amount": str(r.amount),
                          "posted_in": r.period} for r in rows]})
    return len(rows)
