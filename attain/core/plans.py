"""Plans and participants as data, parsed from plain mappings (YAML/JSON at the edge).

This is the walking-skeleton plan model: one flat commission rate per component
on a credited measure, a quota per participant and period. The full plan
language (tiers, caps, SPIFFs, ...) grows here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from attain.core.money import MoneyError, minor_unit, parse_decimal

PeriodType = Literal["month", "quarter"]
MEASURES = ("closed_won_amount",)


class PlanError(ValueError):
    """A plan book that cannot be used, with every problem found in it."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid plan book:\n  " + "\n  ".join(self.problems))


@dataclass(frozen=True)
class Component:
    component_id: str
    measure: str
    rate: Decimal


@dataclass(frozen=True)
class Plan:
    plan_id: str
    version: int
    currency: str
    period_type: PeriodType
    components: tuple[Component, ...]


@dataclass(frozen=True)
class Participant:
    rep_id: str
    name: str
    region: str
    plan_id: str
    quota: Decimal


@dataclass(frozen=True)
class PlanBook:
    plans: Mapping[str, Plan]
    participants: Mapping[str, Participant]

    def plan_for(self, rep_id: str) -> Plan | None:
        participant = self.participants.get(rep_id)
        return None if participant is None else self.plans[participant.plan_id]


def period_of(day: date, period_type: PeriodType) -> str:
    """Name the period that contains ``day``.

    >>> period_of(date(2026, 2, 14), "quarter"), period_of(date(2026, 2, 14), "month")
    ('2026-Q1', '2026-02')
    """
    if period_type == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    return f"{day.year}-{day.month:02d}"


def parse_plan_book(data: Mapping[str, Any]) -> PlanBook:
    """Build a :class:`PlanBook` from ``{"plans": [...], "participants": [...]}``.

    Raises :class:`PlanError` listing every problem, each with its path.
    """
    problems: list[str] = []
    plans: dict[str, Plan] = {}
    for index, raw in enumerate(data.get("plans") or []):
        plan = _parse_plan(raw, f"plans[{index}]", problems)
        if plan is not None:
            if plan.plan_id in plans:
                problems.append(f"plans[{index}].id: plan {plan.plan_id!r} is defined twice")
            plans[plan.plan_id] = plan
    participants: dict[str, Participant] = {}
    for index, raw in enumerate(data.get("participants") or []):
        participant = _parse_participant(raw, f"participants[{index}]", plans, problems)
        if participant is not None:
            if participant.rep_id in participants:
                problems.append(f"participants[{index}].id: {participant.rep_id!r} appears twice")
            participants[participant.rep_id] = participant
    if not plans:
        problems.append("plans: at least one plan is required")
    if problems:
        raise PlanError(problems)
    return PlanBook(plans=plans, participants=participants)


def _parse_plan(raw: Any, where: str, problems: list[str]) -> Plan | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: expected a mapping")
        return None
    plan_id = _required_text(raw, "id", where, problems)
    currency = _required_text(raw, "currency", where, problems)
    if currency is not None:
        try:
            minor_unit(currency)
        except MoneyError as error:
            problems.append(f"{where}.currency: {error}")
    period_type = raw.get("period", "quarter")
    if period_type not in ("month", "quarter"):
        problems.append(f"{where}.period: {period_type!r} is not one of month, quarter")
    components = tuple(
        component
        for index, item in enumerate(raw.get("components") or [])
        if (component := _parse_component(item, f"{where}.components[{index}]", problems))
    )
    if not components:
        problems.append(f"{where}.components: at least one component is required")
    version = raw.get("version", 1)
    if not isinstance(version, int) or version < 1:
        problems.append(f"{where}.version: {version!r} is not a positive integer")
    if plan_id is None or currency is None or not components:
        return None
    return Plan(plan_id, int(version), currency, period_type, components)


def _parse_component(raw: Any, where: str, problems: list[str]) -> Component | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: expected a mapping")
        return None
    component_id = _required_text(raw, "id", where, problems)
    measure = raw.get("measure")
    if measure not in MEASURES:
        problems.append(f"{where}.measure: {measure!r} is not a known measure {list(MEASURES)}")
        return None
    try:
        rate = parse_decimal(raw.get("rate"), f"{where}.rate")
    except MoneyError as error:
        problems.append(f"{error} (write rates as quoted decimal text, e.g. '0.05')")
        return None
    if component_id is None:
        return None
    return Component(component_id, measure, rate)


def _parse_participant(
    raw: Any, where: str, plans: Mapping[str, Plan], problems: list[str]
) -> Participant | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: expected a mapping")
        return None
    rep_id = _required_text(raw, "id", where, problems)
    plan_id = _required_text(raw, "plan", where, problems)
    if plan_id is not None and plan_id not in plans:
        problems.append(f"{where}.plan: no plan {plan_id!r}; known plans: {sorted(plans)}")
        return None
    try:
        quota = parse_decimal(raw.get("quota"), f"{where}.quota")
    except MoneyError as error:
        problems.append(str(error))
        return None
    if quota <= 0:
        problems.append(f"{where}.quota: must be positive, got {quota}")
        return None
    if rep_id is None or plan_id is None:
        return None
    return Participant(rep_id, str(raw.get("name", rep_id)), str(raw.get("region", "")), plan_id, quota)


def _required_text(raw: Mapping[str, Any], key: str, where: str, problems: list[str]) -> str | None:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{where}.{key}: required text is missing")
        return None
    return value
