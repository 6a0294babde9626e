"""Clawbacks that reverse what was paid: a deal's reversal at its original period's effective rate.

A clawback credit with ``reverses`` set (the measure's clawback ``method`` is
``reverse_paid``, the default) is not rated by the period it lands in. It is
taken out of that period's credited value and attainment, and reverses what
the deal earned where it was credited: the deal's value (converted at the FX
rate of its original credit date) times the component's *effective rate* in
the original period, what the component earned there divided by what it
credited there (so tiers, caps and gates of that period are honoured). The
reversal is added to the component after its own caps and gates, and the
component's amount is rounded once, as always.

Worked example: Q1 credits 1,000,000 INR against a 1,000,000 quota on marginal
tiers 5% to 50% attainment and 10% above: earned 25,000 + 50,000 = 75,000,
effective rate 0.075. A 200,000 deal of Q1 cancelled in Q2 reverses
-200,000 x 0.075 = -15,000 in Q2, not -200,000 x 10% at the top tier.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal

from attain.core.components import ComponentResult
from attain.core.crediting import Credit
from attain.core.periods import period_of
from attain.core.plans import PlanBook, Segment
from attain.core.trace import CreditLine, shown

ZERO = Decimal(0)
Original = Callable[[str, Segment, int], ComponentResult]
"""A component's exact result in (period, segment, component index), before reversals landing there."""


def reversals(
    book: PlanBook, rep_id: str, component_id: str, segment: Segment, result: ComponentResult, original: Original,
) -> tuple[Decimal, list[str], tuple[CreditLine, ...]]:
    """(the amount reversed, trace steps, the priced reversal lines) for ``result``'s reversal lines dated
    in ``segment``; the rate of each original period (and plan version) is worked out once, however many
    days of it the reversed deals were credited on."""
    places: dict[date, tuple[str, Segment, int] | str] = {}
    rates: dict[tuple[str, date] | date, tuple[Decimal, str]] = {}
    total = ZERO
    steps: list[str] = []
    priced: list[CreditLine] = []
    for line in result.reversals:
        if not segment.start <= line.credit_date <= segment.end or line.reverses is None:
            continue
        if line.reverses not in places:
            places[line.reverses] = _original(book, rep_id, component_id, line.reverses)
        where = places[line.reverses]
        key = line.reverses if isinstance(where, str) else (where[0], where[1].start)
        if key not in rates:
            rates[key] = _rate_of(where, original)
        rate, how = rates[key]
        amount = line.value * rate
        total += amount
        priced.append(replace(line, earned=amount))
        steps.append(f"clawback of {line.record_id} (credited {line.reverses}, reversed {line.credit_date}): "
                     f"{how}; deal credit {shown(line.value)} x {shown(rate, 6)} = {shown(amount, 4)}")
    return total, steps, tuple(priced)


def effective_rate(
    book: PlanBook, rep_id: str, component_id: str, day: date, original: Original
) -> tuple[Decimal, str]:
    """(what ``component_id`` earned per unit credited in the period holding ``day``, how it was worked out).

    Zero when the rep had no plan with that component then, or it credited nothing (nothing was paid).
    """
    return _rate_of(_original(book, rep_id, component_id, day), original)


def _original(book: PlanBook, rep_id: str, component_id: str, day: date) -> tuple[str, Segment, int] | str:
    """(period, segment, component index) of ``component_id`` on ``day``, or why nothing was paid."""
    plan = book.plan_on(rep_id, day)
    if plan is None:
        return f"no plan on {day}, nothing was paid"
    period = period_of(day, plan.period_type, plan.fiscal_start)
    segment = next((s for s in book.segments(rep_id, period) if s.start <= day <= s.end), None)
    index = None if segment is None else next(
        (i for i, c in enumerate(segment.plan.components) if c.component_id == component_id), None)
    if segment is None or index is None:
        return f"no component {component_id!r} in {period}, nothing was paid"
    return period, segment, index


def _rate_of(where: tuple[str, Segment, int] | str, original: Original) -> tuple[Decimal, str]:
    if isinstance(where, str):
        return ZERO, where
    period, segment, index = where
    result = original(period, segment, index)
    if not result.credited:
        return ZERO, f"{period} credited nothing, nothing was paid"
    rate = result.earned / result.credited
    return rate, (f"{period} credited {shown(result.credited)}, earned {shown(result.earned, 4)}, "
                  f"effective rate {shown(result.earned, 4)} / {shown(result.credited)} = {shown(rate, 6)}")


def reversed_days(credits: Iterable[Credit]) -> list[date]:
    """The original credit dates the clawbacks among ``credits`` reverse (their periods set the rate).

    >>> from attain.core.records import ChangeVersion
    >>> back = Credit("006A", "r1", "m", date(2026, 4, 15), Decimal(-5), "INR", ChangeVersion(1), kind="clawback",
    ...               reverses=date(2026, 2, 10))
    >>> reversed_days([back, replace(back, kind="credit", reverses=None)])
    [datetime.date(2026, 2, 10)]
    """
    return sorted({credit.reverses for credit in credits if credit.reverses is not None})


def reversal_reach(book: PlanBook) -> int:
    """The most days after a credit date that a clawback reversing it can land: a period's earnings can
    move the reversals of its deals in periods up to this many days after its end
    (:attr:`PlanBook.reversal_reach`, worked out once per book)."""
    return book.reversal_reach


def reversals_into(credits: Sequence[Credit], first: date, last: date) -> list[date]:
    """The dates of the clawbacks among ``credits`` reversing credits dated ``first``..``last``."""
    return sorted({c.credit_date for c in credits if c.reverses is not None and first <= c.reverses <= last})


def vanishing_credit_warnings(book: PlanBook) -> list[tuple[str, str, str]]:
    """(measure, message, hint) for each measure a plan pays on whose ``when`` filter reads a won flag or a
    stage (field names holding "won" or "stage"), so a credited deal can stop matching, with no clawback
    rule: its credit would vanish from a period that may already be paid, and nothing would be reversed
    where the change happened.

    >>> from attain.core.plan_parser import parse_plan_book
    >>> book = parse_plan_book({"plans": [{"id": "ae", "currency": "INR", "components": [
    ...     {"id": "c", "measure": "closed_won_amount", "rate": "0.05"}]}],
    ...     "participants": [{"id": "r1", "plan": "ae", "quota": "1000"}]})
    >>> [(name, message[:40]) for name, message, _ in vanishing_credit_warnings(book)]
    [('closed_won_amount', 'a credited deal whose is_won changes so ')]
    """
    warnings = []
    for name in sorted(book.used_measures):
        measure = book.measures.get(name)
        if measure is None or measure.clawback is not None:
            continue
        fields = sorted(f for f in measure.when.fields if "won" in f.lower() or "stage" in f.lower())
        if not fields:
            continue
        warnings.append((name, f"a credited deal whose {' or '.join(fields)} changes so it stops matching (a won "
                               "deal turned lost) loses its credit in the period it was credited, rewriting a period "
                               "that may be paid, and nothing is clawed back where the change happened",
                         f"add clawback: {{window_days: 90}} to measure {name!r} (redefine it under measures:)"))
    return warnings
