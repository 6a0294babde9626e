"""Earnings: a rep's credits for a period through the plan, cumulatively, with a readable trace.

Values are computed from the whole set of credits each time, or from their exact
sums (:mod:`attain.core.partials`, which the calculator keeps per month by adding
and taking away: exact, so the grouping cannot move a result), so the same
credits always give the same earnings. Each
component's period amount is kept exact until the end and rounded once to the
currency's minor unit (the plan's rounding mode, half-up by default).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from operator import attrgetter, is_

from attain.core.clawbacks import reversals
from attain.core.components import ComponentResult, RatedCredit, component_result, result_of_totals
from attain.core.crediting import Credit
from attain.core.money import round_money
from attain.core.partials import LineTotals, aggregable
from attain.core.periods import PeriodType, period_bounds, period_of, periods_of_year_until, periods_to_date
from attain.core.plans import Component, Plan, PlanBook, Segment
from attain.core.trace import CreditLine, shown

ATTAINMENT_QUANTUM = Decimal("0.0001")
Rated = Callable[[Plan], Sequence[RatedCredit]]
"""The credits rated under a plan (and the book's FX table), in the credits' order; see :func:`rate_credit`."""
Summed = Callable[[Plan, int, date, date], LineTotals | None]
"""Component ``index`` of a plan's lines dated ``first``..``last`` (inclusive), summed, from what the caller
keeps (the calculator: per-month partials); None where the caller has no totals (the lines are then read)."""
ZERO = Decimal(0)
EARNINGS = "earnings"
DRAW = "draw"  # a non-recoverable draw's top-up: the rep keeps it
RECOVERABLE_DRAW = "recoverable_draw"  # a recoverable draw: top-ups (positive) and recoveries (negative)
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
    kind: str = EARNINGS  # EARNINGS, or DRAW / RECOVERABLE_DRAW for the draw top-up (and recovery)
    # the part of ``earned_amount`` that reverses what earlier periods paid (clawbacks): outside the plan cap
    # and the draw, which work on the period's own earnings (``earned_amount - reversed_amount``)
    reversed_amount: Decimal = ZERO

    @property
    def own_amount(self) -> Decimal:
        """What the period's own credits earned: ``earned_amount`` without the reversals it holds."""
        return self.earned_amount - self.reversed_amount


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
    A component whose range (its period, or its year or half to date) holds a clawback reversing what was
    paid (:attr:`~attain.core.partials.LineTotals.reversals`) is computed from the credits: each reversal
    is priced at its original period's effective rate.
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


def component_of(book: PlanBook, rep_id: str, plan_id: str, plan_version: int, component_id: str) -> Component | None:
    """The plan component an earnings component id names: ``commission`` in plan ``plan_id`` v``plan_version``,
    or ``other@v2:commission`` (the prefix :func:`compute_period_earnings` gives when a period spans plan
    versions). The newest version of the plan when that version is not in the rep's timeline; None for an id
    no plan of the rep has (a plan cap's line, a draw).

    >>> from attain.core.plans import Participant, Rate
    >>> plan = Plan("ae", 2, "INR", "quarter", (Component("commission", "bookings", Rate()),))
    >>> book = PlanBook({"ae": (plan,)}, {"r": Participant("r", "R", {})}, {}, {},
    ...                 timelines={"r": ((date.min, date.max, plan),)})
    >>> component_of(book, "r", "x", 1, "ae@v2:commission").component_id, component_of(book, "r", "ae", 2, "cap")
    ('commission', None)
    """
    prefixed = _PREFIXED.fullmatch(component_id)
    if prefixed:
        plan_id, plan_version, component_id = prefixed[1], int(prefixed[2]), prefixed[3]
    plans = [plan for plan in book.plans_of(rep_id) if plan.plan_id == plan_id]
    chosen = [plan for plan in plans if plan.version == plan_version] or plans[-1:]
    return next((c for plan in chosen for c in plan.components if c.component_id == component_id), None)


_PREFIXED = re.compile(r"(.+)@v(\d+):(.+)")


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
    steps = list(result.steps)
    lines = result.lines
    reversed_amount = ZERO
    if result.reversals:  # clawbacks reversing what was paid: added after gates and caps, outside any true-up
        reversed_amount, reversal_steps, priced = reversals(
            book, rep_id, component.component_id, segment, result,
            lambda name, at, i: _exact(book, rep_id, name, at, i, credits, rate))
        steps += reversal_steps
        lines += priced
    if accumulates_over(component) is None:
        rounded = round_money(result.earned + reversed_amount, plan.currency, plan.rounding)
        reversed_part = rounded - round_money(result.earned, plan.currency, plan.rounding) if reversed_amount else ZERO
    else:
        rounded = _true_up(book, rep_id, period, segment, index, credits, rate, result, steps)
        reversed_part = round_money(reversed_amount, plan.currency, plan.rounding) if reversed_amount else ZERO
        rounded += reversed_part
    steps.append(f"rounded {plan.rounding.replace('_', '-')} to {rounded} {plan.currency}")
    attainment = None if result.attainment is None else result.attainment.quantize(ATTAINMENT_QUANTUM, ROUND_HALF_UP)
    return ComponentEarnings(
        component_id=prefix + component.component_id,
        credited_value=round_money(result.credited, plan.currency),
        quota=None if result.quota is None else round_money(result.quota, plan.currency),
        attainment_ratio=attainment,
        earned_amount=rounded,
        source_record_count=(len(set(map(_RECORD_ID, lines))) if result.record_count is None or result.reversals
                             else result.record_count),
        tier=result.tier,
        plan_id=plan.plan_id,
        steps=tuple(steps),
        lines=lines,
        reversed_amount=reversed_part,
    )


def _exact(
    book: PlanBook, rep_id: str, period: str, segment: Segment, index: int, credits: Sequence[Credit],
    rate: _Source, cutoff: date | None = None,
) -> ComponentResult:
    """The component's exact (unrounded) result; for a YTD component, cumulative from the year's start.

    A to-date component leaves out the deals whose clawback reversing what was paid is dated by ``cutoff``
    (the segment's end unless given: a true-up reads the earlier period as of the period it pays):
    from the period of its reversal on, a reversed deal counts towards no attainment to date.
    """
    plan = segment.plan
    component = plan.components[index]
    first = segment.start
    quota = _quota(book, rep_id, plan, component.quota, period, segment.proration)
    span = accumulates_over(component)
    if span is not None:
        span_name = period_of(segment.start, span, plan.fiscal_start)
        first = period_bounds(span_name, plan.fiscal_start)[0]
        quota = (_span_quota(book, rep_id, plan, component.quota, span_name) if component.quota_period
                 else _ytd_quota(book, rep_id, plan, component.quota, period))
    target = plan.target_incentive * segment.proration
    if not quota_applies(book, component):
        quota = None
    if component.team is not None:
        return _team_result(book, period, segment, index, credits)
    cutoff = segment.end if cutoff is None else cutoff
    if rate.summed is not None and aggregable(component):
        totals = rate.summed(plan, index, first, segment.end)
        later = (None if span is None or cutoff <= segment.end
                 else rate.summed(plan, index, segment.end + timedelta(days=1), cutoff))
        if (totals is not None and not totals.reversals  # reversals are priced line by line: from the credits
                and (span is None or cutoff <= segment.end or (later is not None and not later.reversals))):
            return result_of_totals(component, plan, totals, quota, target)
    rated = None if rate.rated is None else rate.rated(plan)
    if span is not None:
        gone = reversed_originals(credits, first, cutoff)
        if gone:
            credits = [c for c in credits if id(c) not in gone]
            rated = None if rated is None else [item for item in rated if id(item.credit) not in gone]
    return component_result(component, plan, book.fx, credits, first, segment.end, quota, target, rated)


def reversed_originals(credits: Sequence[Credit], first: date, cutoff: date) -> set[int]:
    """The ``id`` of each credit dated from ``first`` on that a clawback reversing what was paid, dated by
    ``cutoff``, reverses: the same record, rep, measure, role and share, the amount negated, dated on the
    credit date the clawback names (crediting issues the two together)."""
    keys = {(c.record_id, c.rep_id, c.measure, c.role, c.via, c.reverses, -c.amount) for c in credits
            if c.reverses is not None and first <= c.reverses and c.credit_date <= cutoff}
    if not keys:
        return set()
    return {id(c) for c in credits if c.reverses is None and c.kind == "credit"
            and (c.record_id, c.rep_id, c.measure, c.role, c.via, c.credit_date, c.amount) in keys}


def quota_applies(book: PlanBook, component: Component) -> bool:
    """Whether a quota means anything to ``component``: its measure sums money (attainment is then worth
    showing), or the component pays by attainment (attainment tiers, a gate, bonuses, year to date).
    A count paid per unit (demos, new logos) has no quota: 5 logos are not 0% of an INR quota.
    """
    measure = book.measures.get(component.measure)
    by_attainment = bool(component.rate.tiers) and component.rate.basis == "attainment"
    return (measure is None or measure.kind == "sum" or by_attainment or component.gate is not None
            or bool(component.bonuses) or component.ytd)


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
    # a member's clawback reversing what was paid needs the member's credits of the original period too
    first = min([segment.start, *(c.reverses for c in credits if c.reverses is not None and c.via
                                  and segment.start <= c.credit_date <= segment.end)])
    for credit in credits:
        if (credit.via and credit.measure == component.measure and first <= credit.credit_date <= segment.end
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
    for name_of_period in periods_of_year_until(period, plan.fiscal_start):
        for segment in book.segments(rep_id, name_of_period):
            if segment.plan.plan_id == plan.plan_id:
                quota = _quota(book, rep_id, segment.plan, name, name_of_period, segment.proration)
                total += quota or ZERO
    return total or None


def accumulates_over(component: Component) -> PeriodType | None:
    """The period a component's attainment runs to date over: its quota's period (an annual or half-year
    quota), the year for a plain ``ytd`` component, None for one measured period by period."""
    if component.quota_period is not None:
        return component.quota_period
    return "year" if component.ytd else None


def _span_quota(book: PlanBook, rep_id: str, plan: Plan, name: str, span_name: str) -> Decimal | None:
    """The quota set for a whole year (or half), prorated by the days of it the participant is on the plan."""
    value = book.participants[rep_id].quota(name, span_name)
    if value is None:
        value = plan.quotas.get(name)
    if value is None:
        return None
    first, last = period_bounds(span_name, plan.fiscal_start)
    days = sum(((min(last, end) - max(first, start)).days + 1 for start, end, on in book.timelines.get(rep_id, ())
                if on.plan_id == plan.plan_id and start <= last and end >= first), 0)
    return value * Decimal(days) / Decimal((last - first).days + 1)


def _true_up(
    book: PlanBook, rep_id: str, period: str, segment: Segment, index: int, credits: Sequence[Credit],
    rate: _Source, result: ComponentResult, steps: list[str],
) -> Decimal:
    """What the period pays on a to-date component: its earnings to date minus what the earlier periods of the
    year (or half) earned, each rounded, so a year's payments add up to exactly its earnings at year end."""
    plan = segment.plan
    component = plan.components[index]
    span = accumulates_over(component)
    assert span is not None
    to_date = round_money(result.earned, plan.currency, plan.rounding)
    names = periods_to_date(period, span, plan.fiscal_start)
    already = ZERO
    if len(names) > 1:  # the earlier period's own versions of the plan, where they have the component
        prior = [(s, i) for s in book.segments(rep_id, names[-2]) if s.plan.plan_id == plan.plan_id
                 for i in [_index_of(s.plan, component.component_id)] if i is not None]
        already = round_money(sum((_exact(book, rep_id, names[-2], s, i, credits, rate, segment.end).earned
                                   for s, i in prior), ZERO), plan.currency, plan.rounding)
    span_name = period_of(segment.start, span, plan.fiscal_start)
    first = period_bounds(span_name, plan.fiscal_start)[0]
    kind = {"year": "annual quota", "half": "half-year quota"}.get(component.quota_period or "",
                                                                 "year-to-date quota")
    quota = "no quota" if result.quota is None else f"{kind} {shown(result.quota)}"
    attainment = "" if result.attainment is None else f", attainment {result.attainment:.4f}"
    earlier = f"{names[0]}..{names[-2]}" if len(names) > 2 else names[0] if len(names) > 1 else "none"
    gone = sorted({line.record_id for line in result.reversals if line.reverses is not None and line.reverses >= first})
    without = f" without {', '.join(gone)} (reversed by {segment.end})" if gone else ""
    steps.append(f"to date ({span_name} from {first}): credited {shown(result.credited)}{without}, {quota}"
                 f"{attainment}, earnings {to_date}; earlier periods ({earlier}){without} earned {already}; "
                 f"true-up {to_date} - {already} = {to_date - already} in {period}")
    return to_date - already


def _index_of(plan: Plan, component_id: str) -> int | None:
    """The index of ``plan``'s component ``component_id``: versions of a plan may list other components."""
    return next((i for i, c in enumerate(plan.components) if c.component_id == component_id), None)


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
    total = _own_total(components)
    if total <= limit:
        return None
    return ComponentEarnings(f"{prefix}plan_cap", ZERO, None, None, limit - total, 0, None, plan.plan_id,
                             (f"plan cap {limit} {plan.currency} bit: components total {total}"
                              f"{_reversals_apart(components)}, adjusted by {limit - total}",))


def _own_total(components: Iterable[ComponentEarnings]) -> Decimal:
    """What the components earned on the period's own credits: the plan cap and the draw work on it, so
    a clawback of what an earlier period paid is taken back in full, never absorbed by either."""
    return sum((c.own_amount for c in components), ZERO)


def _reversals_apart(components: Sequence[ComponentEarnings]) -> str:
    """The trace's note that the clawbacks in ``components`` are outside a cap's or draw's total."""
    reversed_total = sum((c.reversed_amount for c in components), ZERO)
    return f" (clawbacks of {reversed_total} apart: they reverse what was paid)" if reversed_total else ""


def _draw_component(
    book: PlanBook, rep_id: str, period: str, plan: Plan, segments: Sequence[Segment],
    components: Sequence[ComponentEarnings], credits: Sequence[Credit], rate: _Source,
) -> ComponentEarnings | None:
    """Top up to the guaranteed draw; a recoverable draw is won back from later periods of the year.

    A period without credits is not computed here (the calculator publishes periods whose credits
    change); its draw is paid when the period closes (:func:`closing_draw`). An earlier period of
    the year without credits therefore counts as fully drawn: its whole guarantee is outstanding.
    """
    if plan.draw is None or not _has_activity(period, credits, plan.fiscal_start):
        return None
    guarantee = _guarantee(plan, segments)
    total = _own_total(components)
    apart = _reversals_apart(components)
    if not plan.draw.recoverable:
        if total >= guarantee:
            return None
        return ComponentEarnings("draw", ZERO, None, None, guarantee - total, 0, None, plan.plan_id,
                                 (f"non-recoverable draw: guaranteed {guarantee}, earned {total}{apart}, "
                                  f"top-up {guarantee - total}",), kind=DRAW)
    balance = ZERO
    for earlier in periods_of_year_until(period, plan.fiscal_start)[:-1]:
        earlier_segments = book.segments(rep_id, earlier)
        if not earlier_segments or earlier_segments[-1].plan.plan_id != plan.plan_id:
            continue
        earlier_total = ZERO
        if _has_activity(earlier, credits, plan.fiscal_start):
            earlier_total = _own_total(_before_draw(book, rep_id, earlier, earlier_segments, credits, rate))
        balance = _draw_step(balance, earlier_total, _guarantee(earlier_segments[-1].plan, earlier_segments))[1]
    adjustment, after = _draw_step(balance, total, guarantee)
    if adjustment == 0:
        return None
    return ComponentEarnings("draw", ZERO, None, None, adjustment, 0, None, plan.plan_id,
                             (f"recoverable draw: guaranteed {guarantee}, earned {total}{apart}, outstanding before "
                              f"{balance}, adjustment {adjustment}, outstanding after {after}",),
                             kind=RECOVERABLE_DRAW)


def _guarantee(plan: Plan, segments: Sequence[Segment]) -> Decimal:
    """The plan's draw for the part of the period the rep is on it, rounded to the minor unit."""
    amount = plan.draw.amount if plan.draw is not None else ZERO
    return round_money(amount * sum((s.proration for s in segments if s.plan == plan), ZERO),
                       plan.currency, plan.rounding)


def closing_draw(book: PlanBook, rep_id: str, period: str) -> PeriodEarnings | None:
    """The draw a period without credits pays when it closes: the whole (prorated) guarantee.

    None when ``rep_id`` is on no plan with a draw at the end of ``period``. The caller (the
    ledger's period close) asks only for periods without earnings; with no earnings the top-up of
    a draw, recoverable or not, is its guarantee.

    >>> from attain.core.plan_parser import parse_plan_book
    >>> book = parse_plan_book({"plans": [{"id": "ae", "currency": "INR", "draw": {"amount": 1000, "recoverable": True},
    ...     "components": [{"id": "commission", "measure": "closed_won_amount", "rate": "0.05"}]}],
    ...     "participants": [{"id": "r1", "plan": "ae"}]})
    >>> draw = closing_draw(book, "r1", "2026-Q1")
    >>> draw.total_earned, draw.components[0].kind
    (Decimal('1000.00'), 'recoverable_draw')
    """
    segments = book.segments(rep_id, period)
    if not segments:
        return None
    plan = segments[-1].plan
    guarantee = _guarantee(plan, segments)
    if plan.draw is None or guarantee <= 0:
        return None
    kind = RECOVERABLE_DRAW if plan.draw.recoverable else DRAW
    component = ComponentEarnings("draw", ZERO, None, None, guarantee, 0, None, plan.plan_id,
                                  (f"{'recoverable' if plan.draw.recoverable else 'non-recoverable'} draw paid at "
                                   f"period close without credits: guaranteed {guarantee}, earned 0",), kind=kind)
    return PeriodEarnings(rep_id, period, plan.plan_id, plan.version, plan.currency, (component,))


def _has_activity(period: str, credits: Sequence[Credit], fiscal_start: int = 1) -> bool:
    """Draws are settled on periods with at least one credit: the streaming calculator publishes a
    period only when a credit in it changes, and the batch recompute must publish the same periods."""
    first, last = period_bounds(period, fiscal_start)
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
        period = period_of(day, plan.period_type, plan.fiscal_start)
        period_start, period_end = period_bounds(period, plan.fiscal_start)
        span = (max(start, period_start), min(end, period_end))  # same plan, same period (so same year): same outcome
        result.add(period)
        if not carries_forward(plan):
            continue
        year = period_of(day, "year", plan.fiscal_start)
        same_year = [period_of(d, plan.period_type, plan.fiscal_start) for d in [*credited, day]
                     if period_of(d, "year", plan.fiscal_start) == year]
        first, last = min(same_year), max(same_year)
        result.update(p for p in periods_of_year_until(last, plan.fiscal_start) if p >= first)
    return sorted(result)


def carries_forward(plan: Plan) -> bool:
    """Whether a period's earnings depend on earlier periods of the year (YTD components, recoverable draws)."""
    return (any(accumulates_over(c) is not None for c in plan.components)
            or (plan.draw is not None and plan.draw.recoverable))
