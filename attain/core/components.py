"""One component's exact result: select credits, convert, apply kickers, rates, gates, bonuses and caps."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from operator import attrgetter, itemgetter

from attain.core.crediting import Credit
from attain.core.fx import FxError, FxTable
from attain.core.partials import LineTotals
from attain.core.plans import Component, Plan
from attain.core.tiers import Tier, TierResult, marginal, retroactive
from attain.core.trace import CreditLine, shown

ZERO = Decimal(0)
ONE = Decimal(1)
_LINES = attrgetter("lines")


@dataclass(frozen=True)
class ComponentResult:
    credited: Decimal
    quota: Decimal | None
    attainment: Decimal | None
    earned: Decimal  # exact, before rounding
    tier: str | None
    steps: tuple[str, ...]
    lines: tuple[CreditLine, ...]
    # clawbacks reversing what was paid: kept out of credited and earned here, priced by attain.core.clawbacks
    reversals: tuple[CreditLine, ...] = ()
    record_count: int | None = None  # records behind the lines (None: count them in ``lines``)


@dataclass(frozen=True)
class RatedCredit:
    """One credit rated once under one plan, whatever the period: what each component makes of it.

    ``lines[i]`` is component ``i``'s line for the credit (FX at the credit date,
    kickers, and what it earns under a per-deal rate) when the component selects it by measure, role, window and filter,
    else None; the period's date range is checked when the lines are summed. A
    conversion that failed is kept as its error and raised only if a period
    counts the line, as rating the credit there would have. Team components
    rate their members' credits afresh and keep None. Depends only on the
    credit, the plan and the FX table, so a caller may keep it with the credit
    and reuse it while all three are unchanged (see :func:`rate_credit`).
    """

    credit: Credit
    order: tuple[date, str, str, str]
    lines: tuple[CreditLine | FxError | None, ...]


def rate_credit(plan: Plan, fx: FxTable, credit: Credit) -> RatedCredit:
    """``credit`` rated under each component of ``plan``.

    >>> from attain.core.plans import Rate
    >>> from attain.core.records import ChangeVersion
    >>> plan = Plan("ae", 1, "INR", "quarter", (Component("c", "closed_won_amount", Rate(flat=Decimal("0.05"))),
    ...                                         Component("d", "demos_held", Rate(flat=Decimal(500)))))
    >>> deal = Credit("a", "r1", "closed_won_amount", date(2026, 1, 9), Decimal(1000), "INR", ChangeVersion(1))
    >>> [line and line.value for line in rate_credit(plan, FxTable(), deal).lines]
    [Decimal('1000'), None]
    """
    lines: list[CreditLine | FxError | None] = []
    for component in plan.components:
        if component.team is not None or not _selects(component, credit):
            lines.append(None)
            continue
        try:
            lines.append(_line(component, plan, fx, credit))
        except FxError as error:
            lines.append(error)
    return RatedCredit(credit, credit_order(credit), tuple(lines))


def component_result(
    component: Component, plan: Plan, fx: FxTable, credits: Sequence[Credit], first: date, last: date,
    quota: Decimal | None, target: Decimal, rated: Sequence[RatedCredit] | None = None,
) -> ComponentResult:
    """Earnings of one component over credits dated ``first``..``last``, before rounding.

    ``quota`` and ``target`` (the target incentive) are already prorated.
    ``rated``, when given, is ``credits`` rated under ``plan`` and ``fx`` by
    :func:`rate_credit`, sorted by :attr:`RatedCredit.order` (stably, from the
    credits' order): the lines are then taken from it instead of being rated
    again (same lines, same order, same result).

    Worked example: flat 5% on two deals of 1,000 and 3,000 INR with a 100 INR
    per-deal cap: 50 + min(150, 100) = 150.

    >>> from attain.core.plans import Cap, Rate
    >>> from attain.core.records import ChangeVersion
    >>> plan_component = Component("c", "closed_won_amount", Rate(flat=Decimal("0.05")), cap=Cap(per_deal=Decimal(100)))
    >>> plan = Plan("ae", 1, "INR", "quarter", (plan_component,))
    >>> deals = [Credit(r, "r1", "closed_won_amount", date(2026, 1, 9), Decimal(a), "INR", ChangeVersion(1))
    ...          for r, a in (("a", 1000), ("b", 3000))]
    >>> component_result(plan_component, plan, FxTable(), deals, date(2026, 1, 1), date(2026, 3, 31), None, ZERO).earned
    Decimal('150.00')
    """
    if rated is None:
        lines = tuple(_line(component, plan, fx, credit) for credit in sorted(credits, key=credit_order)
                      if _selected(component, credit, first, last))
    else:
        index = next(i for i, each in enumerate(plan.components) if each is component)
        lines = _rated_lines(index, rated, first, last)
    reversals = tuple(line for line in lines if line.reverses is not None)
    if reversals:
        lines = tuple(line for line in lines if line.reverses is None)
    return result_of_totals(component, plan, LineTotals.of(lines), quota, target, lines, reversals)


def result_of_totals(
    component: Component, plan: Plan, totals: LineTotals, quota: Decimal | None, target: Decimal,
    lines: tuple[CreditLine, ...] = (), reversals: tuple[CreditLine, ...] = (),
) -> ComponentResult:
    """:func:`component_result` from the component's lines summed (:class:`LineTotals`, which keeps
    reversals of what was paid out of its sums); ``lines``, the lines themselves (reversals apart, in
    ``reversals``), may be left out for an :func:`~attain.core.partials.aggregable` component whose
    totals hold no reversal (the result then lists no lines) and are needed for any other."""
    credited = totals.credited
    attainment = None if not quota else credited / quota
    unit = "" if not totals.with_currency else f" {plan.currency}"
    steps = [f"credited {shown(credited)}{unit} from {totals.count} credit(s)"]
    if quota:
        steps.append(f"quota {shown(quota)}, attainment {attainment:.4f}" if attainment is not None
                     else f"quota {shown(quota)}")
    if component.gate is not None and (attainment is None or attainment < component.gate):
        reversed_value = totals.clawback
        reversal = reversed_value * _base_rate(component)
        steps.append(f"gate: attainment below {component.gate} pays nothing"
                     + (f"; clawbacks still reverse {reversed_value} x {_base_rate(component)} = {reversal}"
                        if reversed_value else ""))
        return ComponentResult(credited, quota, attainment, reversal, None, tuple(steps), _unpriced(lines),
                               reversals, totals.record_count)
    earned, tier, lines = _rated(component, totals, quota, lines, steps)
    for bonus in component.bonuses:
        if attainment is not None and attainment >= bonus.attainment:
            amount = bonus.amount + bonus.of_target * target
            earned += amount
            steps.append(f"bonus at attainment {bonus.attainment}: +{shown(amount)}")
    earned = _capped(component, earned, target, steps)
    return ComponentResult(credited, quota, attainment, earned, tier, tuple(steps), lines, reversals,
                           totals.record_count)


def _base_rate(component: Component) -> Decimal:
    """The rate a reversal is valued at when nothing else applies: the flat rate or the first tier's."""
    return component.rate.tiers[0].rate if component.rate.tiers else component.rate.flat


def credit_order(credit: Credit) -> tuple[date, str, str, str]:
    """The order credit lines are listed (and summed) in: by date, record, role and kind."""
    return (credit.credit_date, credit.record_id, credit.role, credit.kind)


def _rated_lines(index: int, rated: Sequence[RatedCredit], first: date, last: date) -> tuple[CreditLine, ...]:
    """Component ``index``'s lines dated ``first``..``last``, from ``rated`` sorted by order (so by date)."""
    dated = rated[bisect_left(rated, first, key=_day):bisect_right(rated, last, key=_day)]
    lines = list(filter(None, map(itemgetter(index), map(_LINES, dated))))  # lines and errors are truthy
    if FxError in set(map(type, lines)):
        error = next(line for line in lines if isinstance(line, FxError))
        raise FxError(*error.args)
    return tuple(lines)  # no FxError left


def _day(item: RatedCredit) -> date:
    return item.order[0]


def _selected(component: Component, credit: Credit, first: date, last: date) -> bool:
    return first <= credit.credit_date <= last and _selects(component, credit)


def _selects(component: Component, credit: Credit) -> bool:
    """Whether the component counts the credit, its date aside (measure, role, SPIFF window, filter)."""
    if credit.measure != component.measure:
        return False
    if component.roles and credit.role not in component.roles:
        return False
    if component.window is not None and not component.window[0] <= credit.credit_date <= component.window[1]:
        return False
    return not component.where.parts or component.where.matches(credit.attribute_values())


def _line(component: Component, plan: Plan, fx: FxTable, credit: Credit) -> CreditLine:
    """The credit's line; a reversal of what was paid converts at the rate of the credit it reverses."""
    conversion = fx.convert(credit.amount, credit.currency or plan.currency, plan.currency,
                            credit.reverses or credit.credit_date)
    attributes = credit.attribute_values() if component.kickers else {}
    kickers = [k for k in component.kickers if k.when.matches(attributes)]
    multiplier = ONE
    for kicker in kickers:
        multiplier *= kicker.multiplier
    value = conversion.amount * multiplier
    return CreditLine(
        record_id=credit.record_id, role=credit.role, kind=credit.kind, credit_date=credit.credit_date,
        original_amount=credit.amount, original_currency=credit.currency, fx_rate=conversion.rate,
        fx_date=conversion.rate_date, multiplier=multiplier, kickers=tuple(k.label for k in kickers),
        value=value, earned=_deal_earned(component, value)
        if _rates_each_deal(component) and credit.reverses is None else None,
        changed_by=credit.changed_by, event_id=credit.version.event_id, reverses=credit.reverses,
    )


def _rated(
    component: Component, totals: LineTotals, quota: Decimal | None, lines: tuple[CreditLine, ...], steps: list[str]
) -> tuple[Decimal, str | None, tuple[CreditLine, ...]]:
    rate = component.rate
    credited = totals.credited
    if _rates_each_deal(component):
        description = f"x {rate.flat}" if not rate.tiers else f"deal-size tiers ({rate.method})"
        return _per_deal(component, totals, lines, steps, description)
    if not quota:
        steps.append("no quota for this period: attainment tiers pay nothing")
        return ZERO, None, lines
    result = _tiered(rate.method, rate.tiers, credited, quota)
    for tier, value, earned in result.slices:
        steps.append(f"tier {tier.name} ({rate.method}): {shown(value)} x {tier.rate} = {shown(earned, 4)}")
    return result.earned, None if result.tier is None else result.tier.name, lines


def _rates_each_deal(component: Component) -> bool:
    """Whether the component rates each credit on its own (a flat rate or deal-size tiers), not on attainment."""
    return not component.rate.tiers or component.rate.basis == "deal_size"


def _deal_rating(component: Component, value: Decimal) -> tuple[Decimal, str | None]:
    """What one credit of ``value`` earns under a per-deal rate, before the per-deal cap, and the tier it hits."""
    rate = component.rate
    if not rate.tiers:
        return value * rate.flat, None
    result = _tiered(rate.method, rate.tiers, abs(value), ONE)
    sign = -1 if value < 0 else 1
    return sign * result.earned, None if result.tier is None else result.tier.name


def _deal_earned(component: Component, value: Decimal) -> Decimal:
    """What one credit of ``value`` earns under a per-deal rate, per-deal cap applied."""
    earned = _deal_rating(component, value)[0]
    per_deal_cap = component.cap.per_deal if component.cap else None
    return per_deal_cap if per_deal_cap is not None and earned > per_deal_cap else earned


def _per_deal(
    component: Component, totals: LineTotals, lines: tuple[CreditLine, ...], steps: list[str], description: str,
) -> tuple[Decimal, str | None, tuple[CreditLine, ...]]:
    """Total and trace of a per-deal rate; the lines already carry what each earns (set by :func:`_line`)."""
    per_deal_cap = component.cap.per_deal if component.cap else None
    if not component.rate.tiers and per_deal_cap is None:  # no tier or cap to report per line: just add up
        total = totals.earned
        steps.append(f"each credit {description}: {shown(total, 4)}")
        return total, None, lines
    total = ZERO
    tiers_hit: list[str] = []
    for line in lines:
        earned, tier = _deal_rating(component, line.value)
        if per_deal_cap is not None and earned > per_deal_cap:
            steps.append(f"per-deal cap {per_deal_cap} bit on {line.record_id}: {shown(earned)} -> {per_deal_cap}")
            earned = per_deal_cap
        if tier:
            tiers_hit.append(tier)
        total += earned
    steps.append(f"each credit {description}: {shown(total, 4)}")
    return total, (tiers_hit[-1] if tiers_hit else None), lines


def _unpriced(lines: tuple[CreditLine, ...]) -> tuple[CreditLine, ...]:
    """``lines`` without per-deal earnings, for a component whose gate pays nothing on them."""
    return tuple(line if line.earned is None else replace(line, earned=None) for line in lines)


def _tiered(method: str, tiers: Sequence[Tier], value: Decimal, scale: Decimal) -> TierResult:
    return retroactive(tiers, value, scale) if method == "retroactive" else marginal(tiers, value, scale)


def _capped(component: Component, earned: Decimal, target: Decimal, steps: list[str]) -> Decimal:
    cap = component.cap
    if cap is None:
        return earned
    limits = []
    if cap.amount is not None:
        limits.append((cap.amount, f"cap {cap.amount}"))
    if cap.of_target is not None:
        limits.append((cap.of_target * target, f"cap {cap.of_target} x target incentive {shown(target)}"))
    for limit, label in limits:
        if earned > limit:
            steps.append(f"{label} bit: {shown(earned)} -> {shown(limit)}")
            earned = limit
    return earned
