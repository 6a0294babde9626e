"""Parse and validate a plan book written as data (YAML/JSON at the edge), reporting every problem.

Each problem carries the path of the field it is about (``plans[0].components[1].tiers``)
so the edge can point at the file and line; see :mod:`attain.planfiles`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from attain.core.builtins import BUILTIN_MEASURES, BUILTIN_ROLES
from attain.core.filters import compile_filter
from attain.core.fx import FxRate, FxTable
from attain.core.money import MoneyError, minor_unit, parse_decimal
from attain.core.periods import (
    PERIOD_TYPES,
    PeriodError,
    PeriodType,
    check_fiscal_start,
    period_bounds,
    period_of,
    period_type_of,
)
from attain.core.plans import (
    END_OF_TIME,
    Bonus,
    Cap,
    Clawback,
    Component,
    CreditRole,
    Draw,
    Kicker,
    Measure,
    Participant,
    Plan,
    PlanBook,
    Rate,
    TeamOverride,
    day_before,
)
from attain.core.tiers import Tier, tier_problems
from attain.core.timelines import build_timelines

T = TypeVar("T")

BOOK_FIELDS = ("roles", "measures", "deal_currencies", "fx_rates", "plans", "participants")
PLAN_FIELDS = ("id", "version", "effective_from", "effective_to", "currency", "deal_currencies", "period",
               "target_incentive", "assign", "quotas", "cap", "draw", "rounding", "components",
               "fiscal_year_start", "timezone")
COMPONENT_FIELDS = ("id", "measure", "roles", "rate", "per_unit", "tiers", "of_team_earnings", "where", "window",
                    "gate", "kickers", "bonuses", "cap", "quota", "ytd", "quota_period")


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""  # no path: the message says where (file:line)
        return where + self.message + (f" (hint: {self.hint})" if self.hint else "")


class PlanError(ValueError):
    """A plan book that cannot be used, with every problem found in it."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("invalid plan book:\n  " + "\n  ".join(str(p) for p in self.problems))


class _Collector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem(path, message, hint))

    def sink(self) -> list[tuple[str, str]]:
        return _FilterSink(self)


class _FilterSink(list[tuple[str, str]]):
    def __init__(self, collector: _Collector) -> None:
        super().__init__()
        self._collector = collector

    def append(self, item: tuple[str, str]) -> None:
        self._collector.add(item[0], item[1], "see the filter operators in docs/plans.md")


def parse_plan_book(data: Mapping[str, Any]) -> PlanBook:
    """Build a :class:`PlanBook` from ``{"plans": [...], "participants": [...], ...}``.

    >>> book = parse_plan_book({"plans": [{"id": "ae", "currency": "INR", "components": [
    ...     {"id": "commission", "measure": "closed_won_amount", "rate": "0.05"}]}],
    ...     "participants": [{"id": "r1", "plan": "ae", "quota": "1000"}]})
    >>> book.plan_for("r1").components[0].rate.flat
    Decimal('0.05')

    Raises :class:`PlanError` listing every problem, each with its path and a hint.
    """
    problems = _Collector()
    _check_fields(data, BOOK_FIELDS, "", problems)
    roles = dict(BUILTIN_ROLES)
    for name, raw in _mapping(data.get("roles"), "roles", problems).items():
        role = _parse_role(str(name), raw, f"roles.{name}", problems)
        if role is not None:
            roles[role.name] = role
    measures = dict(BUILTIN_MEASURES)
    for name, raw in _mapping(data.get("measures"), "measures", problems).items():
        measure = _parse_measure(str(name), raw, f"measures.{name}", roles, problems)
        if measure is not None:
            measures[measure.name] = measure
    fx = FxTable(_items(data.get("fx_rates"), "fx_rates", problems, _parse_fx))
    book_currencies = _currencies(data.get("deal_currencies"), "deal_currencies", problems)
    plans: dict[str, list[Plan]] = {}
    plan_paths: dict[tuple[str, int], str] = {}
    plan_currencies: dict[tuple[str, int], tuple[str, list[str]]] = {}
    invalid_plans: set[str] = set()  # plans defined with errors: already reported, not "unknown" to participants
    for index, raw in enumerate(_list(data.get("plans"), "plans", problems)):
        where = f"plans[{index}]"
        plan = _parse_plan(raw, where, measures, roles, problems)
        own = raw.get("deal_currencies") if isinstance(raw, Mapping) else None
        currencies = book_currencies if own is None else _currencies(own, f"{where}.deal_currencies", problems)
        if plan is None:
            if isinstance(raw, Mapping) and isinstance(raw.get("id"), str):
                invalid_plans.add(raw["id"])
            continue
        plan_currencies[(plan.plan_id, plan.version)] = (
            "deal_currencies" if own is None else f"{where}.deal_currencies", currencies)
        if (plan.plan_id, plan.version) in plan_paths:
            problems.add(f"{where}.version", f"plan {plan.plan_id!r} version {plan.version} is defined twice",
                         "give each change a new version number")
        plan_paths[(plan.plan_id, plan.version)] = where
        plans.setdefault(plan.plan_id, []).append(plan)
    versions = {plan_id: _chain_versions(items, plan_paths, problems) for plan_id, items in plans.items()}
    participants: dict[str, Participant] = {}
    participant_paths: dict[str, str] = {}
    for index, raw in enumerate(_list(data.get("participants"), "participants", problems)):
        where = f"participants[{index}]"
        participant = _parse_participant(raw, where, versions, invalid_plans, problems)
        if participant is None:
            continue
        if participant.rep_id in participants:
            problems.add(f"{where}.id", f"participant {participant.rep_id!r} appears twice",
                         f"first defined at {participant_paths[participant.rep_id]}")
        participants[participant.rep_id] = participant
        participant_paths[participant.rep_id] = where
    if not data.get("plans"):
        problems.add("plans", "at least one plan is required")
    _check_managers(participants, participant_paths, problems)
    timelines, conflicts = build_timelines(versions, participants)
    for rep_id, day, plan_ids in conflicts:
        when = "from the start" if day == date.min else f"on {day}"
        problems.add(participant_paths[rep_id], f"two plans for {rep_id!r} {when}: {', '.join(plan_ids)}",
                     "narrow the plans' assign rules or effective dates, or assign one plan explicitly")
    for rep_id, timeline in timelines.items():
        starts = sorted({plan.fiscal_start for _, _, plan in timeline})
        if len(starts) > 1:
            problems.add(participant_paths[rep_id], f"{rep_id!r} is on plans whose fiscal years start in different "
                         f"months ({', '.join(map(str, starts))}): its periods and year to date would not line up",
                         "give the plans (and their versions) one fiscal_year_start")
    _check_quotas(timelines, participants, participant_paths, problems)
    _check_fx(versions, plan_currencies, fx, plan_paths, problems)
    if problems.problems:
        raise PlanError(problems.problems)
    return PlanBook({k: tuple(v) for k, v in versions.items()}, participants, measures, roles, fx, timelines)


# --- roles, measures, fx -------------------------------------------------------------------------

def _parse_role(name: str, raw: Any, where: str, problems: _Collector) -> CreditRole | None:
    if not isinstance(raw, Mapping):
        problems.add(where, "a role is a mapping", "e.g. {field: SDR__c}, {splits: splits} or {managers_of: owner}")
        return None
    _check_fields(raw, ("field", "splits", "fallback", "managers_of", "levels"), where, problems)
    if "field" in raw:
        return CreditRole(name, "field", field=str(raw["field"]))
    if "splits" in raw:
        return CreditRole(name, "splits", field=str(raw["splits"]), of=str(raw.get("fallback", "")))
    if "managers_of" in raw:
        levels = raw.get("levels", 1)
        if not isinstance(levels, int) or levels < 1:
            problems.add(f"{where}.levels", f"{levels!r} is not a positive whole number")
            levels = 1
        return CreditRole(name, "managers", of=str(raw["managers_of"]), levels=levels)
    problems.add(where, "a role needs one of field, splits or managers_of",
                 "e.g. sdr: {field: SDR__c} credits the rep named in the SDR__c field")
    return None


def _parse_measure(
    name: str, raw: Any, where: str, roles: Mapping[str, CreditRole], problems: _Collector
) -> Measure | None:
    if not isinstance(raw, Mapping):
        problems.add(where, "a measure is a mapping")
        return None
    _check_fields(raw, ("object", "count", "sum", "currency_field", "date_field", "when", "credit_to", "clawback",
                        "allow_negative"), where, problems)
    object_type = raw.get("object")
    if not isinstance(object_type, str):
        problems.add(f"{where}.object", "required: the CRM object type it counts", "e.g. Opportunity or Event")
        return None
    value_field = raw.get("sum")
    if value_field is None and raw.get("count") is not True:
        problems.add(where, "say what the measure adds up", "write `count: true` or `sum: <field>`")
        return None
    credit_to = tuple(str(r) for r in (raw.get("credit_to") or ["owner"]))
    for role in credit_to:
        if role not in roles:
            problems.add(f"{where}.credit_to", f"unknown role {role!r}", f"known roles: {sorted(roles)}")
    clawback = None
    if "clawback" in raw:
        spec = _mapping(raw["clawback"], f"{where}.clawback", problems)
        _check_fields(spec, ("cancel_field", "window_days", "method"), f"{where}.clawback", problems)
        window = spec.get("window_days")
        method = spec.get("method", "reverse_paid")
        if not isinstance(window, int) or isinstance(window, bool) or window < 0:
            problems.add(f"{where}.clawback.window_days", "needs a whole number of days",
                         "e.g. {window_days: 90} (add cancel_field: cancelled_on where the CRM has such a date)")
        elif method not in ("reverse_paid", "rerate"):
            problems.add(f"{where}.clawback.method", f"unknown method {method!r}",
                         "reverse_paid (the default: pay back what the deal earned) or rerate")
        else:
            cancel_field = spec.get("cancel_field")
            clawback = Clawback(window, None if cancel_field is None else str(cancel_field), method)
    allow_negative = raw.get("allow_negative", False)
    if not isinstance(allow_negative, bool):
        problems.add(f"{where}.allow_negative", "must be true or false",
                     "true books a negative value (a refund) as negative credit; the default refuses it")
        allow_negative = False
    return Measure(
        name=name,
        object_type=object_type,
        kind="count" if value_field is None else "sum",
        date_field=str(raw.get("date_field", "close_date")),
        when=compile_filter(raw.get("when"), f"{where}.when", problems.sink()),
        value_field=None if value_field is None else str(value_field),
        currency_field=None if raw.get("currency_field") is None else str(raw["currency_field"]),
        credit_to=credit_to,
        clawback=clawback,
        allow_negative=allow_negative,
    )


def _parse_fx(raw: Any, where: str, problems: _Collector) -> FxRate | None:
    if not isinstance(raw, Mapping):
        problems.add(where, "an FX rate is a mapping", "e.g. {base: USD, quote: INR, date: 2026-01-01, rate: '83.1'}")
        return None
    _check_fields(raw, ("base", "quote", "date", "rate"), where, problems)
    rate = _decimal(raw.get("rate"), f"{where}.rate", problems)
    day = _date(raw.get("date"), f"{where}.date", problems)
    base, quote = _currency(raw.get("base"), f"{where}.base", problems), _currency(
        raw.get("quote"), f"{where}.quote", problems)
    if rate is None or day is None or base is None or quote is None:
        return None
    if rate <= 0:
        problems.add(f"{where}.rate", "must be positive")
        return None
    return FxRate(base, quote, day, rate)


# --- plans ---------------------------------------------------------------------------------------

def _parse_plan(
    raw: Any, where: str, measures: Mapping[str, Measure], roles: Mapping[str, CreditRole], problems: _Collector
) -> Plan | None:
    if not _is_record(raw, "a plan", PLAN_FIELDS, where, problems):
        return None
    plan_id = _text(raw.get("id"), f"{where}.id", problems)
    currency = _currency(raw.get("currency"), f"{where}.currency", problems)
    period = raw.get("period", "quarter")
    if period not in PERIOD_TYPES:
        problems.add(f"{where}.period", f"{period!r} is not a period type", f"use one of {', '.join(PERIOD_TYPES)}")
    version = raw.get("version", 1)
    if not isinstance(version, int) or version < 1:
        problems.add(f"{where}.version", f"{version!r} is not a positive whole number")
        version = 1
    components = []
    seen: set[str] = set()
    for index, item in enumerate(_list(raw.get("components"), f"{where}.components", problems)):
        component = _parse_component(item, f"{where}.components[{index}]", measures, roles, problems)
        if component is None:
            continue
        if component.component_id in seen:
            problems.add(f"{where}.components[{index}].id", f"component {component.component_id!r} appears twice")
        seen.add(component.component_id)
        components.append(component)
    if not _list(raw.get("components"), f"{where}.components", _Collector()):  # those with errors are reported
        problems.add(f"{where}.components", "at least one component is required")
    rounding = raw.get("rounding", "half_up")
    if rounding not in ("half_up", "half_even", "down"):
        problems.add(f"{where}.rounding", f"{rounding!r} is not a rounding mode", "use half_up, half_even or down")
        rounding = "half_up"
    effective_from = _date(raw.get("effective_from"), f"{where}.effective_from", problems, date.min)
    effective_to = _date(raw.get("effective_to"), f"{where}.effective_to", problems, END_OF_TIME)
    fiscal_start = _fiscal_start(raw.get("fiscal_year_start", 1), f"{where}.fiscal_year_start", problems)
    timezone = _timezone(raw.get("timezone"), f"{where}.timezone", problems)
    for index, component in enumerate(components):
        longer = component.quota_period and period in PERIOD_TYPES and \
            PERIOD_TYPES.index(component.quota_period) > PERIOD_TYPES.index(period)  # month < quarter < half < year
        if component.quota_period and not longer:
            problems.add(f"{where}.components[{index}].quota_period",
                         f"a {component.quota_period} quota on a plan paid by {period} is an ordinary period quota",
                         f"use quota_period for a period longer than the plan's ({period}), or leave it out")
    if plan_id is None or currency is None or not components or period not in PERIOD_TYPES:
        return None
    quotas = {str(k): v for k, raw_value in _mapping(raw.get("quotas"), f"{where}.quotas", problems).items()
              if (v := _decimal(raw_value, f"{where}.quotas.{k}", problems)) is not None}
    return Plan(
        plan_id=plan_id,
        version=version,
        currency=currency,
        period_type=period,
        components=tuple(components),
        effective_from=effective_from or date.min,
        effective_to=effective_to or END_OF_TIME,
        target_incentive=_decimal(raw.get("target_incentive", "0"), f"{where}.target_incentive", problems)
        or Decimal(0),
        assign=None if raw.get("assign") is None
        else compile_filter(raw.get("assign"), f"{where}.assign", problems.sink()),
        quotas=quotas,
        cap=_parse_cap(raw.get("cap"), f"{where}.cap", problems),
        draw=_parse_draw(raw.get("draw"), f"{where}.draw", problems),
        rounding=rounding,
        fiscal_start=fiscal_start,
        timezone=timezone,
    )


def _fiscal_start(raw: Any, where: str, problems: _Collector) -> int:
    """A month number (``4`` or ``"04"`` for April), the first month of the plan's fiscal year."""
    try:
        return check_fiscal_start(int(raw) if isinstance(raw, str) and raw.isdigit() else raw)
    except PeriodError as error:
        problems.add(where, str(error), "write the month the fiscal year starts in: 4 for April, 7 for July")
        return 1


def _timezone(raw: Any, where: str, problems: _Collector) -> str:
    """An IANA time zone name (``Asia/Kolkata``), or "" when none is given."""
    if raw is None:
        return ""
    if isinstance(raw, str) and raw:
        try:
            ZoneInfo(raw)
            return raw
        except (ZoneInfoNotFoundError, ValueError):
            pass
    problems.add(where, f"{raw!r} is not a time zone", "use an IANA name such as Asia/Kolkata or Australia/Sydney")
    return ""


def _parse_component(
    raw: Any, where: str, measures: Mapping[str, Measure], roles: Mapping[str, CreditRole], problems: _Collector
) -> Component | None:
    if not _is_record(raw, "a component", COMPONENT_FIELDS, where, problems):
        return None
    component_id = _text(raw.get("id"), f"{where}.id", problems)
    measure = str(raw.get("measure"))
    if measure not in measures:
        problems.add(f"{where}.measure", f"{measure!r} is not a known measure",
                     f"define it under measures:, or use one of {sorted(measures)}")
    component_roles = tuple(str(r) for r in _list(raw.get("roles"), f"{where}.roles", problems))
    for role in component_roles:
        if measure in measures and role not in measures[measure].credit_to:
            problems.add(f"{where}.roles", f"measure {measure!r} never credits role {role!r}",
                         f"it credits {list(measures[measure].credit_to)}; add the role to its credit_to")
    rate = _parse_rate(raw, where, problems)
    window = None
    if raw.get("window") is not None:
        spec = _mapping(raw["window"], f"{where}.window", problems)
        _check_fields(spec, ("from", "to"), f"{where}.window", problems)
        start = _date(spec.get("from"), f"{where}.window.from", problems)
        end = _date(spec.get("to"), f"{where}.window.to", problems)
        if start and end and end < start:
            problems.add(f"{where}.window", f"ends ({end}) before it starts ({start})")
        window = (start, end) if start and end else None
    gate = None
    if raw.get("gate") is not None:
        _check_fields(raw["gate"], ("min_attainment",), f"{where}.gate", problems)
        gate = _decimal(_mapping(raw["gate"], f"{where}.gate", problems).get("min_attainment"),
                        f"{where}.gate.min_attainment", problems)
    kickers = tuple(_items(raw.get("kickers"), f"{where}.kickers", problems, _parse_kicker))
    bonuses = tuple(_items(raw.get("bonuses"), f"{where}.bonuses", problems, _parse_bonus))
    cap = _parse_cap(raw.get("cap"), f"{where}.cap", problems)
    if cap and cap.per_deal is not None and rate and rate.tiers and rate.basis == "attainment":
        problems.add(f"{where}.cap.per_deal", "a per-deal cap needs a per-deal rate",
                     "use a flat rate or deal_size tiers, or cap the component instead")
    team = None
    if raw.get("of_team_earnings") is not None:
        spec = _mapping(raw["of_team_earnings"], f"{where}.of_team_earnings", problems)
        _check_fields(spec, ("rate", "components"), f"{where}.of_team_earnings", problems)
        team_rate = _decimal(spec.get("rate"), f"{where}.of_team_earnings.rate", problems)
        names = tuple(str(n) for n in (spec.get("components") or []))
        if not component_roles or any(roles[r].kind != "managers" for r in component_roles if r in roles):
            problems.add(f"{where}.roles", "an override of team earnings pays on manager credits",
                         "list the measure's managers_of roles, e.g. roles: [manager]")
        team = None if team_rate is None else TeamOverride(team_rate, names)
    ytd = raw.get("ytd", False)
    if not isinstance(ytd, bool):
        problems.add(f"{where}.ytd", "must be true or false")
        ytd = False
    quota_period = raw.get("quota_period")
    if quota_period is not None and quota_period not in ("half", "year"):
        problems.add(f"{where}.quota_period", f"{quota_period!r} is not a quota period",
                     "use year (an annual quota) or half (a half-year quota)")
        quota_period = None
    if quota_period is not None and raw.get("ytd") is False:
        problems.add(f"{where}.ytd", "a component with a quota_period is measured to date",
                     "leave ytd out (quota_period implies it)")
    if component_id is None or rate is None or measure not in measures:
        return None
    return Component(
        component_id=component_id,
        measure=measure,
        rate=rate,
        roles=component_roles,
        where=compile_filter(raw.get("where"), f"{where}.where", problems.sink()),
        window=window,
        gate=gate,
        kickers=kickers,
        bonuses=bonuses,
        cap=cap,
        quota=str(raw.get("quota", "default")),
        ytd=ytd or quota_period is not None,
        team=team,
        quota_period=quota_period,
    )


def _parse_rate(raw: Mapping[str, Any], where: str, problems: _Collector) -> Rate | None:
    given = [key for key in ("rate", "per_unit", "tiers", "of_team_earnings") if raw.get(key) is not None]
    if len(given) != 1:
        problems.add(where, "a component needs exactly one of rate, per_unit, tiers or of_team_earnings",
                     "rate: '0.05' pays 5% of credited value; per_unit: '500' pays 500 per counted record")
        return None
    if given[0] == "of_team_earnings":
        return Rate()
    if given[0] != "tiers":
        value = _decimal(raw[given[0]], f"{where}.{given[0]}", problems)
        return None if value is None else Rate(flat=value)
    spec = _mapping(raw["tiers"], f"{where}.tiers", problems)
    _check_fields(spec, ("basis", "method", "table"), f"{where}.tiers", problems)
    basis, method = spec.get("basis", "attainment"), spec.get("method", "marginal")
    if basis not in ("attainment", "deal_size"):
        problems.add(f"{where}.tiers.basis", f"{basis!r} is not a tier basis", "use attainment or deal_size")
        return None
    if method not in ("marginal", "retroactive"):
        problems.add(f"{where}.tiers.method", f"{method!r} is not a tier method", "use marginal or retroactive")
        return None
    tiers = []
    for index, row in enumerate(_list(spec.get("table"), f"{where}.tiers.table", problems)):
        at = f"{where}.tiers.table[{index}]"
        row = _mapping(row, at, problems)
        _check_fields(row, ("from", "to", "rate", "per_unit", "label"), at, problems)
        lower = _decimal(row.get("from"), f"{at}.from", problems)
        upper = None if row.get("to") is None else _decimal(row.get("to"), f"{at}.to", problems)
        rate = _decimal(row.get("rate", row.get("per_unit")), f"{at}.rate", problems)
        if lower is not None and rate is not None:
            tiers.append(Tier(lower, upper, rate, str(row.get("label", ""))))
    for message in tier_problems(tiers):
        problems.add(f"{where}.tiers.table", message, "each tier must start where the one before ends")
    if not tiers:
        problems.add(f"{where}.tiers.table", "a tier table needs at least one row")
        return None
    if tiers[0].lower != 0:
        problems.add(f"{where}.tiers.table[0].from", f"the first tier starts at {tiers[0].lower}, not 0",
                     "start at 0 and pay rate '0' below a threshold, or use a gate")
    return Rate(tiers=tuple(tiers), basis=basis, method=method)


def _parse_kicker(raw: Any, where: str, problems: _Collector) -> Kicker | None:
    spec = _mapping(raw, where, problems)
    _check_fields(spec, ("label", "when", "multiplier"), where, problems)
    multiplier = _decimal(spec.get("multiplier"), f"{where}.multiplier", problems)
    if multiplier is None:
        return None
    when = compile_filter(spec.get("when"), f"{where}.when", problems.sink())
    return Kicker(str(spec.get("label", "kicker")), when, multiplier)


def _parse_bonus(raw: Any, where: str, problems: _Collector) -> Bonus | None:
    spec = _mapping(raw, where, problems)
    _check_fields(spec, ("attainment", "amount", "of_target"), where, problems)
    attainment = _decimal(spec.get("attainment"), f"{where}.attainment", problems)
    if ("amount" in spec) == ("of_target" in spec):
        problems.add(where, "a bonus pays either amount or of_target", "e.g. {attainment: '1.0', amount: '50000'}")
        return None
    amount = _decimal(spec.get("amount", "0"), f"{where}.amount", problems)
    of_target = _decimal(spec.get("of_target", "0"), f"{where}.of_target", problems)
    if attainment is None or amount is None or of_target is None:
        return None
    return Bonus(attainment, amount, of_target)


def _parse_cap(raw: Any, where: str, problems: _Collector) -> Cap | None:
    if raw is None:
        return None
    spec = _mapping(raw, where, problems)
    _check_fields(spec, ("per_deal", "amount", "of_target"), where, problems)
    values = {key: _decimal(spec[key], f"{where}.{key}", problems) if key in spec else None
              for key in ("per_deal", "amount", "of_target")}
    return Cap(values["per_deal"], values["amount"], values["of_target"])


def _parse_draw(raw: Any, where: str, problems: _Collector) -> Draw | None:
    if raw is None:
        return None
    spec = _mapping(raw, where, problems)
    _check_fields(spec, ("amount", "recoverable"), where, problems)
    amount = _decimal(spec.get("amount"), f"{where}.amount", problems)
    recoverable = spec.get("recoverable", False)
    if not isinstance(recoverable, bool):
        problems.add(f"{where}.recoverable", "must be true or false")
        return None
    return None if amount is None else Draw(amount, recoverable)


def _chain_versions(
    versions: list[Plan], paths: Mapping[tuple[str, int], str], problems: _Collector
) -> list[Plan]:
    """Order versions, end each where the next starts, and report gaps and overlaps."""
    ordered = sorted(versions, key=lambda p: (p.effective_from, p.version))
    chained: list[Plan] = []
    for plan, following in zip(ordered, [*ordered[1:], None], strict=True):
        where = paths.get((plan.plan_id, plan.version), "plans")
        if following is not None:
            next_start = following.effective_from
            if plan.effective_to == END_OF_TIME:
                plan = replace(plan, effective_to=day_before(next_start))
            elif plan.effective_to >= next_start:
                problems.add(f"{where}.effective_to", f"version {plan.version} runs to {plan.effective_to} but "
                             f"version {following.version} starts {next_start}: versions overlap",
                             "end the older version the day before the newer one starts")
            elif (next_start - plan.effective_to).days > 1:
                problems.add(f"{where}.effective_to", f"gap in effective dates: version {plan.version} ends "
                             f"{plan.effective_to}, version {following.version} starts {next_start}",
                             "end the older version the day before the newer one starts")
        chained.append(plan)
    return chained


# --- participants --------------------------------------------------------------------------------

def _parse_participant(
    raw: Any, where: str, plans: Mapping[str, list[Plan]], invalid_plans: set[str], problems: _Collector
) -> Participant | None:
    if not isinstance(raw, Mapping):
        problems.add(where, "a participant is a mapping")
        return None
    rep_id = _text(raw.get("id"), f"{where}.id", problems)
    assignments = []
    explicit = [{"plan": raw["plan"]}] if raw.get("plan") is not None else _list(raw.get("plans"), where, problems)
    for index, item in enumerate(explicit):
        at = f"{where}.plan" if "plan" in raw else f"{where}.plans[{index}]"
        spec = _mapping(item, at, problems)
        plan_id = spec.get("plan")
        if not isinstance(plan_id, str) or plan_id not in plans:
            if not isinstance(plan_id, str) or plan_id not in invalid_plans:
                problems.add(f"{at}" if "plan" in raw else f"{at}.plan", f"no plan {plan_id!r}",
                             f"known plans: {sorted(plans)}")
            continue
        start = _date(spec.get("from"), f"{at}.from", problems, date.min) or date.min
        end = _date(spec.get("to"), f"{at}.to", problems, END_OF_TIME) or END_OF_TIME
        assignments.append((str(plan_id), start, end))
    quotas: dict[str, dict[str, Decimal]] = {}
    if raw.get("quota") is not None:
        value = _decimal(raw["quota"], f"{where}.quota", problems)
        if value is not None:
            quotas["default"] = {"*": value}
    for name, spec in _mapping(raw.get("quotas"), f"{where}.quotas", problems).items():
        by_period = spec if isinstance(spec, Mapping) else {"*": spec}
        quotas[str(name)] = {
            str(period): value for period, text in by_period.items()
            if (value := _decimal(text, f"{where}.quotas.{name}.{period}", problems)) is not None
        }
    for name, by_period in quotas.items():
        for period, value in by_period.items():
            if value <= 0:
                problems.add(f"{where}.quotas.{name}", f"quota for {period} must be positive, got {value}")
    managers = []
    if raw.get("manager") is not None:
        managers.append((str(raw["manager"]), date.min, END_OF_TIME))
    for index, item in enumerate(_list(raw.get("managers"), f"{where}.managers", problems)):
        spec = _mapping(item, f"{where}.managers[{index}]", problems)
        start = _date(spec.get("from"), f"{where}.managers[{index}].from", problems, date.min) or date.min
        end = _date(spec.get("to"), f"{where}.managers[{index}].to", problems, END_OF_TIME) or END_OF_TIME
        managers.append((str(spec.get("id")), start, end))
    hr_id = raw.get("hr_id")
    if hr_id is not None and (not isinstance(hr_id, str | int) or isinstance(hr_id, bool) or hr_id == ""):
        problems.add(f"{where}.hr_id", f"hr_id must be the employee's id in payroll (text), got {hr_id!r}")
    if rep_id is None:
        return None
    attributes = {str(k): str(v) for k, v in raw.items()
                  if isinstance(v, str | int) and not isinstance(v, bool) and k not in ("quota", "plan", "manager")}
    timezone = _timezone(raw.get("timezone"), f"{where}.timezone", problems)
    return Participant(
        rep_id=rep_id,
        timezone=timezone,
        name=str(raw.get("name", rep_id)),
        attributes=attributes,
        start=_date(raw.get("start"), f"{where}.start", problems, date.min) or date.min,
        end=_date(raw.get("end"), f"{where}.end", problems, END_OF_TIME) or END_OF_TIME,
        assignments=tuple(assignments),
        quotas=quotas,
        managers=tuple(managers),
    )


def _check_managers(participants: Mapping[str, Participant], paths: Mapping[str, str], problems: _Collector) -> None:
    for rep_id, participant in participants.items():
        for index, (manager_id, _, _) in enumerate(participant.managers):
            if manager_id not in participants:
                problems.add(f"{paths[rep_id]}.managers[{index}]" if len(participant.managers) > 1 or
                             index else f"{paths[rep_id]}.manager", f"unknown manager {manager_id!r}",
                             "list the manager as a participant too")


def _check_quotas(
    timelines: Mapping[str, Sequence[tuple[date, date, Plan]]], participants: Mapping[str, Participant],
    paths: Mapping[str, str], problems: _Collector,
) -> None:
    """A component measured on attainment (tiers, gate, bonuses, YTD) finds a quota in every period of everyone on it.

    A plan-level default covers every period; a participant's quota without periods (or with ``"*"``) too. A
    quota keyed by periods must name periods the plan has (``2026-Q1`` on a quarterly plan, not ``2026``) and
    cover every period the participant is on the plan: from the first day on it (or the first period named)
    to the last (or the last period named).
    """
    for rep_id, timeline in timelines.items():
        participant = participants[rep_id]
        missing: set[tuple[str, str, str]] = set()
        uses: dict[str, dict[tuple[date, date, str, int, PeriodType], tuple[Plan, list[str]]]] = {}
        for start, end, plan in timeline:
            for component in plan.components:
                needs = (component.rate.tiers and component.rate.basis == "attainment") or component.gate is not None \
                    or component.bonuses
                if not needs or component.quota in plan.quotas:
                    continue
                if component.quota not in participant.quotas:
                    missing.add((plan.plan_id, component.component_id, component.quota))
                else:
                    segment = uses.setdefault(component.quota, {}).setdefault(
                        (start, end, plan.plan_id, plan.version, component.quota_period or plan.period_type),
                        (plan, []))
                    segment[1].append(component.component_id)
        for plan_id, component_id, name in sorted(missing):
            field = _quota_field(name)
            problems.add(paths[rep_id], f"{rep_id!r} has no {field!r}, which plan {plan_id!r} component "
                         f"{component_id!r} measures attainment against",
                         f"add `{field}:` to the participant, or a default under the plan's quotas:")
        for name, segments in sorted(uses.items()):
            _check_quota_periods(rep_id, f"{paths[rep_id]}.quotas.{name}", name, participant.quotas[name],
                                 segments, problems)


def _quota_field(name: str) -> str:
    return "quota" if name == "default" else f"quotas.{name}"


def _check_quota_periods(
    rep_id: str, where: str, name: str, by_period: Mapping[str, Decimal],
    segments: Mapping[tuple[date, date, str, int, PeriodType], tuple[Plan, list[str]]], problems: _Collector,
) -> None:
    """A quota keyed by periods names the periods its components measure (the plan's, or the year or half
    of a ``quota_period`` component, on the plan's fiscal calendar) and covers all of them."""
    field = _quota_field(name)
    kinds = sorted({key[4] for key in segments}, key=PERIOD_TYPES.index)
    fiscal_start = next(iter(segments.values()))[0].fiscal_start
    users = ", ".join(sorted({f"plan {plan.plan_id!r}" for plan, _ in segments.values()}))
    usable: dict[str, tuple[date, date]] = {}
    for key in by_period:
        if key == "*":
            continue
        try:
            kind, bounds = period_type_of(key), period_bounds(key, fiscal_start)
        except PeriodError as error:
            problems.add(f"{where}.{key}", str(error),
                         "key a quota by the plan's periods (2026-Q1, 2026-01, 2026-H1, 2026) or '*' for every period")
            continue
        if kind not in kinds or period_of(bounds[0], kind, fiscal_start) != key:
            fiscal_name = period_of(bounds[0], kind, fiscal_start) if kind in kinds else None
            problems.add(f"{where}.{key}", f"{rep_id!r} quota {name!r} for {key!r} is never used: {users} "
                         f"measures by {' and '.join(kinds)}, and no {kinds[0]} is named {key!r}"
                         + (f" (its fiscal year starts in month {fiscal_start}: {fiscal_name})" if fiscal_name else ""),
                         f"key it by the plan's periods, e.g. {period_of(bounds[0], kinds[0], fiscal_start)}, "
                         "or use '*' for every period" + ("" if "year" in kinds else " (an annual quota needs "
                                                          "quota_period: year on the component)"))
            continue
        usable[key] = bounds
    if "*" in by_period:
        return
    for (start, end, _, _, kind), (plan, component_ids) in sorted(segments.items(), key=lambda item: item[0][:3]):
        named = sorted(bounds for key, bounds in usable.items() if period_type_of(key) == kind)
        first = start if start != date.min else named[0][0] if named else None
        last = end if end != END_OF_TIME else named[-1][1] if named else None
        what = f"plan {plan.plan_id!r} component{'s' if len(component_ids) > 1 else ''} {', '.join(component_ids)}"
        if first is None or last is None or first > last:
            if not named:
                problems.add(where, f"{rep_id!r} has no {field!r} for any {kind}, which {what} "
                             "measures attainment against", f"name the plan's periods under {field}, or use '*'")
            continue
        gaps = [period for period in _periods_between(first, last, kind, plan.fiscal_start) if period not in by_period]
        if gaps:
            shown = ", ".join(gaps[:6]) + (f" and {len(gaps) - 6} more" if len(gaps) > 6 else "")
            problems.add(where, f"{rep_id!r} has no {field!r} for {shown}, which {what} measures attainment "
                         f"against (it would pay 0 there)", f"add `{gaps[0]}:` under {field}, or '*' for every period")


def _periods_between(
    first: date, last: date, period_type: PeriodType, fiscal_start: int = 1, limit: int = 1000
) -> list[str]:
    """The names of the periods of ``period_type`` from the one containing ``first`` to the one containing ``last``."""
    names: list[str] = []
    day = first
    while day <= last and len(names) < limit:
        names.append(period_of(day, period_type, fiscal_start))
        end = period_bounds(names[-1], fiscal_start)[1]
        if end >= last:
            break
        day = end + timedelta(days=1)
    return names


def _check_fx(
    plans: Mapping[str, list[Plan]], deal_currencies: Mapping[tuple[str, int], tuple[str, list[str]]], fx: FxTable,
    paths: Mapping[tuple[str, int], str], problems: _Collector,
) -> None:
    """Every currency a plan's deals may arrive in (its own deal_currencies, else the book's) converts to its currency.

    Checked plan by plan: a plan listing USD deals does not make another plan, which never sees them, invalid.
    """
    for versions in plans.values():
        for plan in versions:
            key = (plan.plan_id, plan.version)
            listed_at, currencies = deal_currencies[key]
            for currency in currencies:
                if not fx.has_path(currency, plan.currency):
                    where = f"{paths[key]}.currency" if listed_at == "deal_currencies" else listed_at
                    problems.add(where, f"no FX path from deal currency {currency} to plan {plan.plan_id!r} "
                                 f"currency {plan.currency}",
                                 f"add an fx_rates entry with base {currency} and quote {plan.currency}, or drop "
                                 f"{currency} from the deal_currencies of the plans that never see it")


def _is_record(raw: Any, kind: str, allowed: Sequence[str], where: str, problems: _Collector) -> bool:
    """Whether ``raw`` is a mapping (reported as ``kind`` otherwise), its unknown fields reported."""
    if not isinstance(raw, Mapping):
        problems.add(where, f"{kind} is a mapping")
        return False
    _check_fields(raw, allowed, where, problems)
    return True


def _check_fields(raw: Any, allowed: Sequence[str], where: str, problems: _Collector) -> None:
    """Report fields the language does not have, with the nearest known one as a hint (typos)."""
    if not isinstance(raw, Mapping):
        return
    for key in raw:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known fields: {', '.join(allowed)}"
            problems.add(f"{where}.{key}" if where else str(key), f"unknown field {key!r}", hint)


# --- scalars -------------------------------------------------------------------------------------

def _mapping(raw: Any, where: str, problems: _Collector) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problems.add(where, "expected a mapping")
        return {}
    return raw


def _list(raw: Any, where: str, problems: _Collector) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.add(where, "expected a list")
        return []
    return raw


def _items(
    raw: Any, where: str, problems: _Collector, parse: Callable[[Any, str, _Collector], T | None]
) -> list[T]:
    return [item for index, entry in enumerate(_list(raw, where, problems))
            if (item := parse(entry, f"{where}[{index}]", problems)) is not None]


def _text(raw: Any, where: str, problems: _Collector) -> str | None:
    if not isinstance(raw, str) or not raw.strip():
        problems.add(where, "required text is missing")
        return None
    return raw


def _currencies(raw: Any, where: str, problems: _Collector) -> list[str]:
    return _items(raw, where, problems, _currency)


def _currency(raw: Any, where: str, problems: _Collector) -> str | None:
    text = _text(raw, where, problems)
    if text is None:
        return None
    try:
        minor_unit(text)
    except MoneyError as error:
        problems.add(where, str(error))
        return None
    return text


def _decimal(raw: Any, where: str, problems: _Collector) -> Decimal | None:
    try:
        return parse_decimal(raw, where)
    except MoneyError as error:
        problems.add(where, str(error), "write numbers as quoted decimal text, e.g. '0.05'")
        return None


def _date(raw: Any, where: str, problems: _Collector, default: date | None = None) -> date | None:
    if raw is None:
        return default
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(str(raw))
    except ValueError:
        problems.add(where, f"{raw!r} is not a date", "write dates as YYYY-MM-DD")
        return default
