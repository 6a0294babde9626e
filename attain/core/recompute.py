"""Batch recompute: all changes in, every rep's earnings out, from scratch.

The reference the streaming path must agree with to the minor unit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from attain.core.crediting import Credit, CreditingError, credit_for
from attain.core.earnings import PeriodEarnings, compute_period_earnings
from attain.core.plans import PlanBook, period_of
from attain.core.records import CrmChange, RecordState, apply_change


def merge_changes(changes: Iterable[CrmChange]) -> dict[str, RecordState]:
    """Fold changes into record states (order and duplicates do not matter)."""
    states: dict[str, RecordState] = {}
    for change in changes:
        states[change.record_id] = apply_change(states.get(change.record_id), change)
    return states


def recompute(book: PlanBook, changes: Iterable[CrmChange]) -> dict[tuple[str, str], PeriodEarnings]:
    """Earnings per (rep_id, period) for every period that has credits.

    Records that cannot be credited (:class:`CreditingError`) are left out, as the
    calculator dead-letters them.
    """
    credits_by_rep: dict[str, list[Credit]] = defaultdict(list)
    for state in merge_changes(changes).values():
        try:
            credit = credit_for(state, book)
        except CreditingError:
            continue
        if credit is not None:
            credits_by_rep[credit.rep_id].append(credit)
    results: dict[tuple[str, str], PeriodEarnings] = {}
    for rep_id, credits in credits_by_rep.items():
        participant = book.participants[rep_id]
        plan = book.plans[participant.plan_id]
        for period in sorted({period_of(c.credit_date, plan.period_type) for c in credits}):
            results[(rep_id, period)] = compute_period_earnings(plan, participant, period, credits)
    return results
