"""Batch recompute: all changes in, every rep's earnings out, from scratch.

The reference the streaming path must agree with to the minor unit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from attain.core.crediting import Credit, CreditingError, credits_for
from attain.core.earnings import PeriodEarnings, compute_period_earnings, periods_to_publish
from attain.core.plans import PlanBook
from attain.core.records import CrmChange, RecordState, apply_change


def merge_changes(changes: Iterable[CrmChange]) -> dict[str, RecordState]:
    """Fold changes into record states (order and duplicates do not matter)."""
    states: dict[str, RecordState] = {}
    for change in changes:
        states[change.record_id] = apply_change(states.get(change.record_id), change)
    return states


def credits_by_rep(book: PlanBook, states: Iterable[RecordState]) -> dict[str, list[Credit]]:
    """Every record's credits grouped by the rep credited; uncreditable records are left out
    (:class:`CreditingError`), as the calculator dead-letters them."""
    grouped: dict[str, list[Credit]] = defaultdict(list)
    for state in states:
        try:
            credits = credits_for(state, book)
        except CreditingError:
            continue
        for credit in credits:
            grouped[credit.rep_id].append(credit)
    return grouped


def recompute(book: PlanBook, changes: Iterable[CrmChange]) -> dict[tuple[str, str], PeriodEarnings]:
    """Earnings per (rep_id, period) for every period that has credits (see :func:`periods_to_publish`)."""
    results: dict[tuple[str, str], PeriodEarnings] = {}
    for rep_id, credits in credits_by_rep(book, merge_changes(changes).values()).items():
        dates = [credit.credit_date for credit in credits]
        for period in periods_to_publish(book, rep_id, dates, dates):
            earnings = compute_period_earnings(book, rep_id, period, credits)
            if earnings is not None:
                results[(rep_id, period)] = earnings
    return results
