"""Partial results: what a component needs of a set of credit lines, summed exactly, so a period
can be computed from its months' partials instead of from every credit.

A :class:`LineTotals` is the aggregate of one component's credit lines (credited value, what a
flat rate earns on them, the value of clawback lines, counts and the records behind them). Sums
are exact (:func:`exact_sum`): adding or taking away totals in any grouping or order gives the
same value as adding the lines one by one, so the calculator can keep a month's totals and
update them when one record's credits change (take the old away, add the new).

Which components can be computed from totals (:func:`aggregable`): every component without a
team share that rates on attainment (tiers, marginal or retroactive), or at a flat rate without
a per-deal cap; gates, bonuses and component caps work on the totals. Components that need each
deal (deal-size tiers, a per-deal cap, team shares) stay on the per-credit path, and so does a
component in a period (or year-to-date span) holding a clawback that reverses what was paid
(:attr:`LineTotals.reversals`): its pricing reads each reversal line. Totals carry no
credit lines, so a result computed from them lists none (the explanation trace, in ``simulate``
and ``explain``, always takes the per-credit path).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, Inexact, localcontext
from typing import TYPE_CHECKING, Any

from attain.core.trace import CreditLine

if TYPE_CHECKING:
    from attain.core.plans import Component

ZERO = Decimal(0)
_EXACT_PRECISION = 200  # digits: far beyond any amount x rate; an inexact sum raises rather than rounds


def exact_sum(values: Iterable[Decimal]) -> Decimal:
    """The exact sum of ``values`` (never rounded to the context's 28 digits), so its value does not
    depend on the order or grouping of the terms.

    >>> exact_sum([Decimal("0.01197604790419161676646706587"), Decimal(1000000)])
    Decimal('1000000.01197604790419161676646706587')
    """
    total = ZERO
    with localcontext() as context:
        context.prec = _EXACT_PRECISION
        context.traps[Inexact] = True
        for value in values:
            total += value
    return total


def _exact_difference(left: Decimal, right: Decimal) -> Decimal:
    with localcontext() as context:
        context.prec = _EXACT_PRECISION
        context.traps[Inexact] = True
        return left - right


Shapes = dict[tuple[int, int], int]
"""(sum, exponent) -> how many of that sum's terms have that exponent (sums: 0 credited, 1 earned, 2 clawback)."""


def _shapes(*sums: Iterable[Decimal]) -> Shapes:
    shapes: Shapes = {}
    for which, values in enumerate(sums):
        for value in values:
            key = (which, _exponent(value))
            shapes[key] = shapes.get(key, 0) + 1
    return shapes


def _exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return exponent if isinstance(exponent, int) else 0


def _as_summed(value: Decimal, which: int, shapes: Shapes) -> Decimal:
    """``value`` written as adding its terms one by one writes it: with the smallest exponent among the
    terms still in (and 0's), whatever terms came and went (so the trace shows the same digits)."""
    exponent = min([0, *(e for (w, e), count in shapes.items() if w == which and count)])
    if _exponent(value) == exponent:
        return value
    with localcontext() as context:
        context.prec = _EXACT_PRECISION
        context.traps[Inexact] = True
        return value.quantize(Decimal(1).scaleb(exponent))


def _counted(left: dict[Any, int], right: dict[Any, int], sign: int) -> dict[Any, int]:
    merged = dict(left)
    for key, count in right.items():
        left_over = merged.get(key, 0) + sign * count
        if left_over:
            merged[key] = left_over
        else:
            merged.pop(key, None)
    return merged


@dataclass(frozen=True)
class LineTotals:
    """One component's credit lines, summed: everything :func:`~attain.core.components.component_result`
    reads of them when the component is :func:`aggregable`.

    A line reversing what was paid (``CreditLine.reverses`` set, see :mod:`attain.core.clawbacks`) is in
    none of the sums, counts or records, as :func:`~attain.core.components.component_result` keeps it out
    of credited and earned; ``reversals`` counts such lines, since pricing them at their original period's
    effective rate needs the lines themselves: a period whose totals hold any is computed from its credits.

    ``records`` counts the lines of each record (a record counts once in ``source_record_count``
    however many lines it has, and leaves when its count reaches 0); ``shapes`` counts the terms'
    exponents, so a sum that lost terms is written as a fresh sum of the remaining ones would be.

    >>> from datetime import date
    >>> line = CreditLine("006A", "owner", "credit", date(2026, 1, 9), Decimal(1000), "USD", Decimal("83.5"),
    ...                   date(2026, 1, 8), Decimal(1), (), Decimal("83500.0"), Decimal("4175.000"))
    >>> both = LineTotals.of([line]) + LineTotals.of([line])
    >>> both.credited, both.earned, both.count, both.record_count
    (Decimal('167000.0'), Decimal('8350.000'), 2, 1)
    >>> (both - LineTotals.of([line])).record_count, (both - both).credited
    (1, Decimal('0'))
    """

    credited: Decimal = ZERO
    earned: Decimal = ZERO  # sum of the lines' per-deal earnings (flat rates)
    clawback: Decimal = ZERO  # value of the clawback lines
    count: int = 0
    with_currency: int = 0  # lines with an original currency (amounts, not counts)
    records: dict[str, int] = field(default_factory=dict, compare=False)
    shapes: Shapes = field(default_factory=dict, compare=False)
    reversals: int = 0  # lines reversing what was paid (Credit.reverses): in no sum or count above

    @classmethod
    def of(cls, lines: Iterable[CreditLine]) -> LineTotals:
        """The totals of ``lines``; reversals of what was paid are counted apart, in no sum (see the class)."""
        lines = list(lines)
        reversal_count = sum(1 for line in lines if line.reverses is not None)
        if reversal_count:
            lines = [line for line in lines if line.reverses is None]
        records: dict[str, int] = {}
        for line in lines:
            records[line.record_id] = records.get(line.record_id, 0) + 1
        values = [line.value for line in lines]
        earned = [line.earned for line in lines if line.earned is not None]
        clawback = [line.value for line in lines if line.kind == "clawback"]
        return cls(exact_sum(values), exact_sum(earned), exact_sum(clawback), len(lines),
                   sum(1 for line in lines if line.original_currency), records, _shapes(values, earned, clawback),
                   reversal_count)

    @property
    def record_count(self) -> int:
        return len(self.records)

    def __add__(self, other: LineTotals) -> LineTotals:
        return self._with(other, 1)

    def __sub__(self, other: LineTotals) -> LineTotals:
        return self._with(other, -1)

    def _with(self, other: LineTotals, sign: int) -> LineTotals:
        shapes = _counted(self.shapes, other.shapes, sign)
        add = exact_sum if sign > 0 else (lambda pair: _exact_difference(*pair))
        sums = [_as_summed(add((mine, theirs)), which, shapes) for which, (mine, theirs) in enumerate(
            ((self.credited, other.credited), (self.earned, other.earned), (self.clawback, other.clawback)))]
        return LineTotals(sums[0], sums[1], sums[2], self.count + sign * other.count,
                          self.with_currency + sign * other.with_currency,
                          _counted(self.records, other.records, sign), shapes,
                          self.reversals + sign * other.reversals)


def total_of(parts: Iterable[LineTotals]) -> LineTotals:
    """The totals of several disjoint sets of lines, in one pass.

    >>> total_of([]) == LineTotals()
    True
    """
    parts = list(parts)
    records: dict[str, int] = {}
    shapes: Shapes = {}
    for part in parts:  # in place: one pass over every part's records
        for record_id, count in part.records.items():
            records[record_id] = records.get(record_id, 0) + count
        for shape, count in part.shapes.items():
            shapes[shape] = shapes.get(shape, 0) + count
    return _summed(parts, records, shapes)


def combined(parts: Iterable[LineTotals]) -> LineTotals:
    """The totals of a period's months: like :func:`total_of`, but only to be read, not added to or
    taken from: its ``records`` only say which records count (a union, in C) and it keeps no shapes."""
    parts = list(parts)
    if len(parts) == 1:
        return parts[0]
    records: dict[str, int] = {}
    for part in parts:
        records.update(part.records)
    return _summed(parts, records, {})


def _summed(parts: list[LineTotals], records: dict[str, int], shapes: Shapes) -> LineTotals:
    return LineTotals(exact_sum(p.credited for p in parts), exact_sum(p.earned for p in parts),
                      exact_sum(p.clawback for p in parts), sum(p.count for p in parts),
                      sum(p.with_currency for p in parts), records, shapes, sum(p.reversals for p in parts))


def aggregable(component: Component) -> bool:
    """Whether ``component``'s result can be computed from :class:`LineTotals` (see the module's note)."""
    if component.team is not None:
        return False
    if component.rate.tiers:
        return component.rate.basis != "deal_size"
    return component.cap is None or component.cap.per_deal is None
