"""The plan book as data: measures, crediting roles, plans, participants and FX rates.

Parsing and validation live in :mod:`attain.core.plan_parser`; this module
holds the model and answers "which plan applies to this participant, on which
days of this period, with what proration".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Literal

from attain.core.filters import MATCH_ALL, Filter
from attain.core.fx import FxTable
from attain.core.periods import PeriodType, overlap_days, period_bounds, period_type_of
from attain.core.tiers import Tier

RoundingMode = Literal["half_up", "half_even", "down"]
END_OF_TIME = date(9999, 12, 31)


@dataclass(frozen=True)
class Clawback:
    """A credited record that stops qualifying within ``window_days`` of its credit date is reversed, as a
    negative credit dated on the change (closed periods are never rewritten).

    It stops qualifying when its measure's ``when`` filter stops matching (the won flag turns false, the
    stage moves to a lost or cancelled stage), dated on that change's commit day, or, where the customer
    has one, when its ``cancel_field`` date is set. ``method`` ``reverse_paid`` (the default) reverses what
    the deal earned in its original period (see :mod:`attain.core.clawbacks`); ``rerate`` rates the
    negative credit with the rules of the period it lands in.
    """

    window_days: int
    cancel_field: str | None = None
    method: Literal["reverse_paid", "rerate"] = "reverse_paid"


@dataclass(frozen=True)
class Measure:
    """What a CRM record contributes: a count (1 per record) or a sum of ``value_field``."""

    name: str
    object_type: str
    kind: Literal["count", "sum"]
    date_field: str
    when: Filter = MATCH_ALL
    value_field: str | None = None
    currency_field: str | None = None
    credit_to: tuple[str, ...] = ("owner",)
    clawback: Clawback | None = None
    # A negative value (a refund booked as a negative deal) is refused, and the change held, unless
    # the plan says this measure takes them.
    allow_negative: bool = False


@dataclass(frozen=True)
class CreditRole:
    """Who a record credits: the rep in ``field`` (kind "field"), each rep of a split list in
    ``field`` (kind "splits", ``[{"rep_id": .., "percent": ..}]``), or the managers, up the
    effective-dated hierarchy, of the reps credited under role ``of`` (kind "managers")."""

    name: str
    kind: Literal["field", "splits", "managers"]
    field: str = ""
    of: str = ""
    levels: int = 1


@dataclass(frozen=True)
class Kicker:
    """Multiplies the credited value of the records matching ``when`` (e.g. multi-year deals x1.2)."""

    label: str
    when: Filter
    multiplier: Decimal


@dataclass(frozen=True)
class Bonus:
    """A fixed amount, or a share of the target incentive, paid once attainment reaches ``attainment``."""

    attainment: Decimal
    amount: Decimal = Decimal(0)
    of_target: Decimal = Decimal(0)


@dataclass(frozen=True)
class Cap:
    """Upper limits: per deal, on the component (or plan) as an amount and/or a multiple of target."""

    per_deal: Decimal | None = None
    amount: Decimal | None = None
    of_target: Decimal | None = None


@dataclass(frozen=True)
class Rate:
    """Flat (``tiers`` empty, ``flat``) or tiered on attainment or deal size, marginal or retroactive."""

    flat: Decimal = Decimal(0)
    tiers: tuple[Tier, ...] = ()
    basis: Literal["attainment", "deal_size"] = "attainment"
    method: Literal["marginal", "retroactive"] = "marginal"


@dataclass(frozen=True)
class TeamOverride:
    """A manager's override: ``rate`` x what the team members earned, on this component's measure,
    in their plans' ``components`` (all of them when empty)."""

    rate: Decimal
    components: tuple[str, ...] = ()


@dataclass(frozen=True)
class Component:
    component_id: str
    measure: str
    rate: Rate
    roles: tuple[str, ...] = ()  # empty: every role the measure credits
    where: Filter = MATCH_ALL
    window: tuple[date, date] | None = None  # a SPIFF's dates
    gate: Decimal | None = None  # minimum attainment, below which nothing is paid
    kickers: tuple[Kicker, ...] = ()
    bonuses: tuple[Bonus, ...] = ()
    cap: Cap | None = None
    quota: str = "default"
    ytd: bool = False
    # The period the quota is set for when it is longer than the plan's (an annual quota on a quarterly
    # plan): attainment is then measured to date within it, and each period pays the true-up (implies ytd).
    quota_period: PeriodType | None = None
    team: TeamOverride | None = None


@dataclass(frozen=True)
class Draw:
    """A guaranteed minimum per period; a recoverable draw is won back from later earnings of the year."""

    amount: Decimal
    recoverable: bool = False


@dataclass(frozen=True)
class Plan:
    plan_id: str
    version: int
    currency: str
    period_type: PeriodType
    components: tuple[Component, ...]
    effective_from: date = date.min
    effective_to: date = END_OF_TIME
    target_incentive: Decimal = Decimal(0)
    assign: Filter | None = None  # matched on participant attributes (role, region, team, ...)
    quotas: Mapping[str, Decimal] = field(default_factory=dict)  # defaults per quota name
    cap: Cap | None = None
    draw: Draw | None = None
    rounding: RoundingMode = "half_up"
    fiscal_start: int = 1  # the month its fiscal year starts in; names its quarters, halves and years
    timezone: str = ""  # IANA zone a timestamp credit date is taken in ("" keeps the date as written)


@dataclass(frozen=True)
class Participant:
    rep_id: str
    name: str
    attributes: Mapping[str, str]  # role, region, team, ...
    start: date = date.min
    end: date = END_OF_TIME
    assignments: tuple[tuple[str, date, date], ...] = ()  # (plan id, from, to), explicit
    quotas: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)  # name -> period|"*" -> value
    managers: tuple[tuple[str, date, date], ...] = ()  # (manager id, from, to)
    timezone: str = ""  # overrides the plan's for a timestamp credit date

    def quota(self, name: str, period: str) -> Decimal | None:
        values = self.quotas.get(name)
        if values is None:
            return None
        return values.get(period, values.get("*"))

    def manager_on(self, day: date) -> str | None:
        for manager_id, start, end in self.managers:
            if start <= day <= end:
                return manager_id
        return None


@dataclass(frozen=True)
class Segment:
    """The days of a period one plan version applies to a participant, and the proration they give."""

    plan: Plan
    start: date
    end: date
    proration: Decimal


@dataclass(frozen=True)
class PlanBook:
    plans: Mapping[str, tuple[Plan, ...]]  # versions by plan id, oldest first
    participants: Mapping[str, Participant]
    measures: Mapping[str, Measure]
    roles: Mapping[str, CreditRole]
    fx: FxTable = field(default_factory=FxTable)
    timelines: Mapping[str, tuple[tuple[date, date, Plan], ...]] = field(default_factory=dict)

    @cached_property
    def used_measures(self) -> frozenset[str]:
        """Measures some plan component pays on; only these are credited."""
        return frozenset(c.measure for versions in self.plans.values() for p in versions for c in p.components)

    @cached_property
    def referenced_fields(self) -> frozenset[str]:
        """Record fields that component filters and kickers read, carried on each credit."""
        names: set[str] = set()
        for versions in self.plans.values():
            for plan in versions:
                for component in plan.components:
                    names |= component.where.fields
                    for kicker in component.kickers:
                        names |= kicker.when.fields
        return frozenset(names)

    @cached_property
    def clawback_fields(self) -> frozenset[str]:
        """Fields whose past values a record keeps: what measures with a clawback filter on, date and
        add up, so crediting can tell when a credited record stopped qualifying and what it credited."""
        names: set[str] = set()
        for name in self.used_measures:
            measure = self.measures.get(name)
            if measure is not None and measure.clawback is not None:
                names |= measure.when.fields | {measure.date_field}
                names |= {name for name in (measure.value_field, measure.currency_field) if name}
        return frozenset(names)

    @cached_property
    def reversal_reach(self) -> int:
        """The most days after a credit date that a clawback reversing it can land (the longest window of a
        ``reverse_paid`` clawback among the measures paid on, 0 without one); worked out once per book."""
        windows = [0]
        for name in self.used_measures:
            clawback = self.measures[name].clawback
            if clawback is not None and clawback.method == "reverse_paid":
                windows.append(clawback.window_days)
        return max(windows)

    @cached_property
    def reports(self) -> Mapping[str, tuple[str, ...]]:
        """Manager id -> everyone reporting to them at any time, by rep id; built once per book so that walking
        a network (the portal's what-if) costs its size, not a pass over every participant per person."""
        index: dict[str, set[str]] = {}
        for person in self.participants.values():
            for manager_id, _, _ in person.managers:
                index.setdefault(manager_id, set()).add(person.rep_id)
        return {manager_id: tuple(sorted(people)) for manager_id, people in index.items()}

    def plan_on(self, rep_id: str, day: date) -> Plan | None:
        """The plan version that applies to ``rep_id`` on ``day``."""
        stretch = self.stretch_on(rep_id, day)
        return None if stretch is None else stretch[2]

    def stretch_on(self, rep_id: str, day: date) -> tuple[date, date, Plan] | None:
        """The stretch of ``rep_id``'s timeline that holds ``day``: (first day, last day, plan)."""
        for stretch in self.timelines.get(rep_id, ()):
            if stretch[0] <= day <= stretch[1]:
                return stretch
        return None

    def plan_for(self, rep_id: str) -> Plan | None:
        """The latest plan the participant is ever on (for display; calculations use :meth:`segments`)."""
        timeline = self.timelines.get(rep_id, ())
        return timeline[-1][2] if timeline else None

    def plans_of(self, rep_id: str) -> tuple[Plan, ...]:
        """Every plan version the participant is ever on, in date order."""
        return tuple(plan for _, _, plan in self.timelines.get(rep_id, ()))

    def segments(self, rep_id: str, period: str) -> list[Segment]:
        """The plan versions applying to ``rep_id`` during ``period`` (of their own period type).

        Proration is the share of the period's calendar days each one covers:
        joining on 15 Feb in Q1 2026 (90 days) covers 45 days, proration 0.5.
        """
        kind = period_type_of(period)
        fiscal = period.startswith("FY")
        result = []
        for start, end, plan in self.timelines.get(rep_id, ()):
            if plan.period_type != kind or (kind != "month" and fiscal != (plan.fiscal_start != 1)):
                continue  # a fiscal plan's quarters, halves and years are named FY...; a calendar plan's are not
            first, last = period_bounds(period, plan.fiscal_start)
            days = overlap_days(first, last, start, end)
            if days:
                total = Decimal((last - first).days + 1)
                result.append(Segment(plan, max(first, start), min(last, end), Decimal(days) / total))
        return result

    def fiscal_start(self, rep_id: str) -> int:
        """The month the participant's fiscal year starts in (validation keeps it one per participant)."""
        timeline = self.timelines.get(rep_id, ())
        return timeline[-1][2].fiscal_start if timeline else 1

    def managers_of(self, rep_id: str, day: date, levels: int) -> list[str]:
        """Managers of ``rep_id`` on ``day``, nearest first, up to ``levels`` levels."""
        chain: list[str] = []
        current = rep_id
        while len(chain) < levels:
            participant = self.participants.get(current)
            manager = participant.manager_on(day) if participant else None
            if manager is None or manager in chain or manager == rep_id:
                break
            chain.append(manager)
            current = manager
        return chain


def day_before(day: date) -> date:
    return day - timedelta(days=1) if day > date.min else day

