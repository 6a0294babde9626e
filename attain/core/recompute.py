"""Batch recompute: all changes in, every rep's earnings out, from scratch.

The reference the streaming path must agree with to the minor unit. Changes are
admitted as the calculator admits them (:func:`attain.core.admission.admit`, in
the order given): a refused change holds its record at its last valid state.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from attain.core.admission import Admitted, admit
from attain.core.crediting import Credit
from attain.core.earnings import PeriodEarnings, compute_period_earnings, periods_to_publish
from attain.core.plans import PlanBook
from attain.core.records import CrmChange


def admit_changes(book: PlanBook, changes: Iterable[CrmChange]) -> dict[str, Admitted]:
    """Every record after admitting its changes in the order given (refusals held, as the calculator does)."""
    by_record: dict[str, list[CrmChange]] = defaultdict(list)
    for change in changes:
        by_record[change.record_id].append(change)
    return {record_id: admit(None, record_changes, book) for record_id, record_changes in by_record.items()}


def admitted_credits_by_rep(records: Iterable[Admitted]) -> dict[str, list[Credit]]:
    """The admitted records' credits grouped by the rep credited."""
    grouped: dict[str, list[Credit]] = defaultdict(list)
    for record in records:
        for credit in record.credits:
            grouped[credit.rep_id].append(credit)
    return grouped


def recompute(book: PlanBook, changes: Iterable[CrmChange]) -> dict[tuple[str, str], PeriodEarnings]:
    """Earnings per (rep_id, period) for every period that has credits (see :func:`periods_to_publish`)."""
    results: dict[tuple[str, str], PeriodEarnings] = {}
    for rep_id, credits in admitted_credits_by_rep(admit_changes(book, changes).values()).items():
        dates = [credit.credit_date for credit in credits]
        for period in periods_to_publish(book, rep_id, dates, dates):
            earnings = compute_period_earnings(book, rep_id, period, credits)
            if earnings is not None:
                results[(rep_id, period)] = earnings
    return results
