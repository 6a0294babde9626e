"""Earnings: a rep's credits for a period through the plan, cumulatively, with a readable trace.

Values are computed from the whole set of credits each time, or from their exact
sums (:mod:`attain.core.partials`, which the calculator keeps per month by adding
and taking away: exact, so the grouping cannot move a result), so the same
credits always give the same earnings. Each
component's period amount is kept exact until the end and rounded once to the
currency's minor unit (the plan's rounding mode, half-up by default).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from operator import attrgetter, is_

from attain.core.components import ComponentResult, RatedCredit, component_result, result_of_totals
from attain.core.crediting import Credit
from attain.core.money import round_money
from attain.core.partials import LineTotals, aggregable
from attain.core.periods import period_bounds, period_of, periods_of_year_until
from attain.core.plans import Plan, PlanBook, Segment
from attain.core.trace import CreditLine

ATTAINMENT_QUANTUM = Decimal("0.0001")
Rated = Callable[[Plan], Sequence[RatedCredit]]
"""The credits rated under a plan (and the book's FX table), in the credits' order; see :func:`rate_credit`."""
Summed = Callable[[Plan, int, date, date], LineTotals | None]
"""Component ``index`` of a plan's lines dated ``first``..``last`` (inclusive), summed, from what the caller
keeps (the calculator: per-month partials); None where the caller has no totals (the lines are then read)."""
ZERO = Decimal(0)
_CREDIT = attrgetter("credit")
_ORDER = attrgetter("order")
_RECORD_ID = attrgetter("record_id")


@dataclass(frozen=True)
class ComponentEarnings:
    """One component's result for a period: what was credited, against which quota, what it earned, and why.

    ``credited_value`` and ``quota`` (prorated) are shown rounded to the currency's minor unit;
    attainment and earnings are computed from the exact values.
    """

    component_id: str
    credited_value: Decimal
    quota: Decimal | None
    attainment_ratio: Decimal | None
    earned_amount: Decimal
    source_record_count: int
    tier: str | None = None
    plan_id: str = ""
    steps: tuple[str, ...] = ()
    lines: tuple[CreditLine, ...] = ()


@dataclass(frozen=True)
class PeriodEarnings:
    rep_id: str
    period: str
    plan_id: str
    plan_version: int
    currency: str
    components: tuple[ComponentEarnings, ...]

    @property
    def total_earned(self) -> Decimal:
        return sum((c.earned_amount for c in self.components), ZERO)


def compute_period_earnings(
    book: PlanBook, rep_id: str, period: str, credits: Iterable[Credit], rated: Rated | None = None,
    summed: Summed | None = None,
) -> PeriodEarnings | None:
    """Earnings of ``rep_id`` in ``period`` from its credits (None when no plan applies in the period).

    Worked example: rate 5%, quota 1,000,000 INR, won deals 300,000.10 and
    450,000.00 in Q1 -> credited 750,000.10, attainment 0.7500,
    earned round(37,500.005) = 37,500.01 INR.

    >>> from attain.core.plan_parser import parse_plan_book
    >>> from attain.core.records import ChangeVersion
    >>> book = parse_plan_book({"plans": [{"id": "ae", "currency": "INR", "components": [
    ...     {"id": "commission", "measure": "closed_won_amount", "rate": "0.05"}]}],
    ...     "participants": [{"id": "r1", "plan": "ae", "quota": "1000000"}]})
    >>> won = [Credit(r, "r1", "closed_won_amount", date(2026, 2, 1), Decimal(a), "INR", ChangeVersion(1))
    ...        for r, a in (("a", "300000.10"), ("b", "450000.00"))]
    >>> result = compute_period_earnings(book, "r1", "2026-Q1", won)
    >>> result.total_earned, result.components[0].attainment_ratio
    (Decimal('37500.01'), Decimal('0.7500'))

    ``rated``, when given, returns the credits rated under a plan by
    :func:`~attain.core.components.rate_credit` with ``book.fx``: a caller that
    keeps each credit's rating saves re-rating every credit on each change.
    The result is the same as without it.

    ``summed``, when given, returns a component's lines summed (:class:`~attain.core.partials.LineTotals`,
    kept per month by the calculator); it is asked only for :func:`~attain.core.partials.aggregable`
    components, whose result then comes from the totals: the same, except that it lists no credit lines.
    """
    segments = book.segments(rep_id, period)
    if not segments:
        return None
    credits = list(credits)
    rate = _Source(_rater(credits, rated), summed)
    components = _before_draw(book, rep_id, period, segments, credits, rate)
    last = segments[-1].plan
    draw = _draw_component(book, rep_id, period, last, segments, components, credits, rate)
    if draw is not None:
        components.append(draw)
    return PeriodEarnings(rep_id, period, last.plan_id, last.version, last.currency, tuple(components))


def _rater(credits: Sequence[Credit], rated: Rated | None) -> Rated | None:
    """``rated``, asked once per plan, checked to hold ``credits`` in order, and sorted for
    :func:`component_result`."""
    if rated is None:
        return None
    memo: dict[int, tuple[Plan, Sequence[RatedCredit]]] = {}

    def rate(plan: Plan) -> Sequence[RatedCredit]:
        kept = memo.get(id(plan))
        if kept is None or kept[0] is not plan:
            items = rated(plan)
            if len(items) != len(credits) or not all(map(is_, map(_CREDIT, items), credits)):
                raise ValueError("rated credits do not match the credits, in order")
            kept = memo[id(plan)] = (plan, sorted(items, key=_ORDER))
        return kept[1]

    return rate


@dataclass(frozen=True)
class _Source:
    """Where component results read their lines from, besides the credits: ratings and totals kept by the caller."""

    rated: Rated | None
    summed: Summed | None


def _before_draw(
    book: PlanBook, rep_id: str, period: str, segments: Sequence[Segment], credits: Sequence[Credit],
    rate: _Source,
) -> list[ComponentEarnings]:
    components: list[ComponentEarnings] = []
    for segment in segments:
        plan = segment.plan
        prefix = f"{plan.plan_id}@v{plan.version}:" if len(segments) > 1 else ""
        plan_components = [
            _component(book, rep_id, period, segment, index, credits, prefix, rate)
            for index in range(len(plan.components))
        ]
        components.extend(plan_components)
        capped = _plan_cap(plan, segment, plan_components, prefix)
        if capped is not None:
            components.append(capped)
    return components


def _component(
    book: PlanBook, rep_id: str, period: str, segment: Segment, index: int, credits: Sequence[Credit], prefix: str,
    rate: _Source,
) -> ComponentEarnings:
    plan = segment.plan
    component = plan.components[index]
    result = _exact(book, rep_id, period, segment, index, credits, rate)
    earned = result.earned
    steps = list(result.steps)
    if component.ytd:
        previous = _previous_period(period)
        if previous is not None:
            prior = [s for s in book.segments(rep_id, previous) if s.plan.plan_id == plan.plan_id]
            already = sum((_exact(book, rep_id, previous, s, index, credits, rate).earned for s in prior), ZERO)
            earned -= already
            steps.append(f"year to date: {result.earned} earned through {period} - {already} through "
                         f"{previous} = {earned} this period")
    rounded = round_money(earned, plan.currency, plan.rounding)
    steps.append(f"rounded {plan.rounding.replace('_', '-')} to {rounded} {plan.currency}")
    attainment = None if result.attainment is None else result.attainment.quantize(ATTAINMENT_QUANTUM, ROUND_HALF_UP)
    return ComponentEarnings(
        component_id=prefix + component.component_id,
        credited_value=round_money(result.credited, plan.currency),
        quota=None if result.quota is None else round_money(result.quota, plan.currency),
        attainment_ratio=attainment,
        earned_amount=rounded,
        source_record_count=(len(set(map(_RECORD_ID, result.lines))) if result.record_count is None
                             else result.record_count),
        tier=result.tier,
        plan_id=plan.plan_id,
        steps=tuple(steps),
        lines=result.lines,
    )


def _exact(
    book: PlanBook, rep_id: str, period: str, segment: Segment, index: int, credits: Sequence[Credit],
    rate: _Source,
) -> ComponentResult:
    """The component's exact (unrounded) result; for a YTD component, cumulative from the year's start."""
    plan = segment.plan
    component = plan.components[index]
    first = segment.start
    quota = _quota(book, rep_id, plan, component.quota, period, segment.proration)
    if component.ytd:
        first = date(segment.start.year, 1, 1)
        quota = _ytd_quota(book, rep_id, plan, component.quota, period)
    target = plan.target_incentive * segment.proration
    if component.team is not None:
        return _team_result(book, period, segment, index, credits)
    if rate.summed is not None and aggregable(component):
        totals = rate.summed(plan, index, first, segment.end)
        if totals is not None:
            return result_of_totals(component, plan, totals, quota, target)
    return component_result(component, plan, book.fx, credits, first, segment.end, quota, target,
                            None if rate.rated is None else rate.rated(plan))


def _team_result(
    book: PlanBook, period: str, segment: Segment, index: int, credits: Sequence[Credit]
) -> ComponentResult:
    """A manager's share of what each team member earned on the manager's credits from them.

    Each member's credits are rebuilt from the manager's (same record, value and
    date, under the member's role) and run through the member's own plan, so the
    streaming and batch paths, which hold the same manager credits, agree.
    """
    component = segment.plan.components[index]
    assert component.team is not None
    by_member: dict[str, list[Credit]] = {}
    for credit in credits:
        if (credit.via and credit.measure == component.measure and segment.start <= credit.credit_date <= segment.end
                and (not component.roles or credit.role in component.roles)):
            role = book.roles[credit.role].of
            by_member.setdefault(credit.via, []).append(replace(credit, rep_id=credit.via, role=role, via=""))
    team_earned = ZERO
    steps = []
    for member, member_credits in sorted(by_member.items()):
        result = compute_period_earnings(book, member, period, member_credits)
        if result is None:
            steps.append(f"{member}: no plan measured in {period}, nothing counted")
            continue
        names = component.team.components
        earned = sum((c.earned_amount for c in result.components
                      if not names or c.component_id.split(":")[-1] in names), ZERO)
        steps.append(f"{member} earned {earned} {result.currency} on these credits")
        team_earned += _in_currency(book, earned, result.currency, segment.plan.currency, segment.end)
    earned = team_earned * component.team.rate
    steps.append(f"team earnings {team_earned} x {component.team.rate} = {earned}")
    return ComponentResult(team_earned, None, None, earned, None, tuple(steps), ())


def _in_currency(book: PlanBook, amount: Decimal, source: str, target: str, on: date) -> Decimal:
    return book.fx.convert(amount, source, target, on).amount


def _quota(book: PlanBook, rep_id: str, plan: Plan, name: str, period: str, proration: Decimal) -> Decimal | None:
    value = book.participants[rep_id].quota(name, period)
    if value is None:
        value = plan.quotas.get(name)
    return None if value is None else value * proration


def _ytd_quota(book: PlanBook, rep_id: str, plan: Plan, name: str, period: str) -> Decimal | None:
    total = ZERO
    for name_of_period in periods_of_year_until(period):
        for segment in book.segments(rep_id, name_of_period):
            if segment.plan.plan_id == plan.plan_id:
                quota = _quota(book, rep_id, segment.plan, name, name_of_period, segment.proration)
                total += quota or ZERO
    return total or None


def _previous_period(period: str) -> str | None:
    names = periods_of_year_until(period)
    return names[-2] if len(names) > 1 else None


def _plan_cap(
    plan: Plan, segment: Segment, components: Sequence[ComponentEarnings], prefix: str
) -> ComponentEarnings | None:
    """A negative adjustment bringing the plan's total down to its cap, so the total stays a sum of components."""
    if plan.cap is None:
        return None
    limits = [plan.cap.amount] if plan.cap.amount is not None else []
    if plan.cap.of_target is not None:
        limits.append(plan.cap.of_target * plan.target_incentive * segment.proration)
    if not limits:
        return None
    limit = round_money(min(limits), plan.currency, plan.rounding)
    total = sum((c.earned_amount for c in components), ZERO)
    if total <= limit:
        return None
    return ComponentEarnings(f"{prefix}plan_cap", ZERO, None, None, limit - total, 0, None, plan.plan_id,
                             (f"plan cap {limit} {plan.currency} bit: components total {total}, "
                              f"adjusted by {limit - total}",))


def _draw_component(
    book: PlanBook, rep_id: str, period: str, plan: Plan, segments: Sequence[Segment],
    components: Sequence[ComponentEarnings], credits: Sequence[Credit], rate: _Source,
) -> ComponentEarnings | None:
    """Top up to the guaranteed draw; a recoverable draw is won back from later periods of the year."""
    if plan.draw is None or not _has_activity(period, credits):
        return None
    guarantee = round_money(plan.draw.amount * sum((s.proration for s in segments if s.plan == plan), ZERO),
                            plan.currency, plan.rounding)
    total = sum((c.earned_amount for c in components), ZERO)
    if not plan.draw.recoverable:
        if total >= guarantee:
            return None
        return ComponentEarnings("draw", ZERO, None, None, guarantee - total, 0, None, plan.plan_id,
                                 (f"non-recoverable draw: guaranteed {guarantee}, earned {total}, "
                                  f"top-up {guarantee - total}",))
    balance = ZERO
    for earlier in periods_of_year_until(period)[:-1]:
        earlier_segments = book.segments(rep_id, earlier)
        if not earlier_segments or earlier_segments[-1].plan.plan_id != plan.plan_id:
            continue
        if not _has_activity(earlier, credits):
            continue
        earlier_total = sum((c.earned_amount for c in _before_draw(book, rep_id, earlier, earlier_segments,
                                                                     credits, rate)), ZERO)
        balance = _draw_step(balance, earlier_total, guarantee)[1]
    adjustment, after = _draw_step(balance, total, guarantee)
    if adjustment == 0:
        return None
    return ComponentEarnings("draw", ZERO, None, None, adjustment, 0, None, plan.plan_id,
                             (f"recoverable draw: guaranteed {guarantee}, earned {total}, outstanding before "
                              f"{balance}, adjustment {adjustment}, outstanding after {after}",))


def _has_activity(period: str, credits: Sequence[Credit]) -> bool:
    """Draws are settled on periods with at least one credit: the streaming calculator publishes a
    period only when a credit in it changes, and the batch recompute must publish the same periods."""
    first, last = period_bounds(period)
    return any(first <= credit.credit_date <= last for credit in credits)


def _draw_step(balance: Decimal, total: Decimal, guarantee: Decimal) -> tuple[Decimal, Decimal]:
    """(adjustment this period, outstanding draw after it).

    >>> _draw_step(Decimal(0), Decimal(300), Decimal(1000))  # top up 700, owed back later
    (Decimal('700'), Decimal('700'))
    >>> _draw_step(Decimal(700), Decimal(1500), Decimal(1000))  # recover 500 of it
    (Decimal('-500'), Decimal('200'))
    """
    if total < guarantee:
        return guarantee - total, balance + guarantee - total
    recovered = min(balance, total - guarantee)
    return -recovered, balance - recovered



def periods_to_publish(book: PlanBook, rep_id: str, changed: Iterable[date], credited: Iterable[date]) -> list[str]:
    """The periods whose earnings a change of credits dated ``changed`` can move.

    The period holding each changed date, under the plan in force that day. A
    plan that carries amounts forward (a year-to-date component or a recoverable
    draw) also moves every period of that year from the first to the last one
    holding any of the rep's ``credited`` dates. The batch recompute passes all
    dates as both arguments, so both paths publish the same periods.
    """
    credited = list(credited)
    result: set[str] = set()
    span: tuple[date, date] | None = None  # days known to give what the last day handled gave
    for day in changed:
        if span is not None and span[0] <= day <= span[1]:
            continue
        entry = book.stretch_on(rep_id, day)
        if entry is None:
            span = None
            continue
        start, end, plan = entry
        period = period_of(day, plan.period_type)
        period_start, period_end = period_bounds(period)
        span = (max(start, period_start), min(end, period_end))  # same plan, same period (so same year): same outcome
        result.add(period)
        if not carries_forward(plan):
            continue
        same_year = [period_of(d, plan.period_type) for d in [*credited, day] if d.year == day.year]
        first, last = min(same_year), max(same_year)
        result.update(p for p in periods_of_year_until(last) if p >= first)
    return sorted(result)


def carries_forward(plan: Plan) -> bool:
    """Whether a period's earnings depend on earlier periods of the year (YTD components, recoverable draws)."""
    return any(c.ytd for c in plan.components) or (plan.draw is not None and plan.draw.recoverable)
