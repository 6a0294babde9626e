"""Crediting: which reps a CRM record credits, under which measure and role, with what value and date.

A record credits every measure whose object type and ``when`` filter it
matches, to every rep its measure's roles name (owner, sourcing SDR, split
members, managers up the hierarchy on the credit date). A record that no
longer matches (a deal moved back out of closed-won, a deleted record) credits
nothing, so its credit disappears: the calculator stores the latest credits per
record, never a running sum. Under a measure with a clawback, a record that
matched and then stopped matching within the window keeps its credit as it was
when it last matched and adds a negative credit dated on the change that made
it stop (see :class:`~attain.core.plans.Clawback`).
"""

from __future__ import annotations

import json
from collections import ChainMap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from attain.core.money import MoneyError, parse_decimal
from attain.core.periods import period_of
from attain.core.plans import CreditRole, Measure, Plan, PlanBook
from attain.core.records import ChangeVersion, RecordState, decode_value

ONE = Decimal(1)
# Bounds of a value the rest of the core can always rate and round (28-digit decimal context):
# a credit of at most 10^15 in any currency, dated in years 1900..2999.
MAX_CREDIT_AMOUNT = Decimal(10) ** 15
FIRST_CREDIT_DAY = date(1900, 1, 1)
LAST_CREDIT_DAY = date(2999, 12, 31)


class CreditingError(ValueError):
    """A record whose values cannot be credited as they are; the reason says which field.

    ``code`` names the kind: ``uncreditable`` (not a number or date, no FX path, bad splits),
    ``out_of_bounds`` (a number or date outside what Attain credits), ``negative_amount`` (refused
    by the measure's policy).
    """

    def __init__(self, message: str, code: str = "uncreditable") -> None:
        super().__init__(message if len(message) <= 500 else f"{message[:480]}... (cut)")
        self.code = code


@dataclass(frozen=True)
class Credit:
    """The value one record contributes to one rep's measure, under one role.

    ``amount`` is the rep's share of the record's value in the record's
    ``currency`` (empty for counts); ``share`` is that share (a split percentage
    as a fraction). A clawback is a negative credit dated on the cancellation.
    """

    record_id: str
    rep_id: str
    measure: str
    credit_date: date
    amount: Decimal
    currency: str
    version: ChangeVersion
    role: str = "owner"
    share: Decimal = ONE
    kind: Literal["credit", "clawback"] = "credit"
    attributes: tuple[tuple[str, str], ...] = ()
    via: str = ""  # for a manager's credit: the team member it comes from
    changed_by: tuple[str, str] = ("", "")  # (origin, user) of the record's newest change at the CRM
    # For a clawback that reverses what was paid: the credit date of the credit it reverses (FX and the
    # effective rate come from there). None for a credit, and for a clawback rated where it lands.
    reverses: date | None = None

    @property
    def key(self) -> tuple[str, str, str, str, str, str]:
        return (self.record_id, self.measure, self.role, self.rep_id, self.kind, self.via)

    def attribute_values(self) -> dict[str, Any]:
        return dict(self.attributes)


def credits_for(state: RecordState, book: PlanBook) -> list[Credit]:
    """Every credit ``state`` earns now (empty when it earns none).

    >>> import json
    >>> from attain.core.plan_parser import parse_plan_book
    >>> from attain.core.records import CrmChange, apply_change
    >>> book = parse_plan_book({"plans": [{"id": "ae", "currency": "INR", "components": [
    ...     {"id": "c", "measure": "closed_won_amount", "rate": "0.05"}]}],
    ...     "participants": [{"id": "r1", "plan": "ae", "quota": "1000"}]})
    >>> fields = {"owner_id": '"r1"', "amount": "500", "is_won": "true", "close_date": '"2026-02-01"'}
    >>> state = apply_change(None, CrmChange("e", "006A", "Opportunity", "CREATE", ChangeVersion(1), fields))
    >>> [(c.rep_id, c.amount, c.credit_date.isoformat()) for c in credits_for(state, book)]
    [('r1', Decimal('500'), '2026-02-01')]

    Raises :class:`CreditingError` when a matching record has an unusable value
    (bad amount or date, a currency with no FX path to the rep's plan currency).
    """
    try:
        return _credits_for(state, book)
    except CreditingError:
        raise
    except (ArithmeticError, ValueError, TypeError, RecursionError) as error:  # a value nothing above foresaw
        raise CreditingError(f"record {state.record_id}: {type(error).__name__}: {error}") from None


def _credits_for(state: RecordState, book: PlanBook) -> list[Credit]:
    if state.is_deleted:
        return []
    measures = [book.measures[name] for name in sorted(book.used_measures)
                if book.measures[name].object_type == state.object_type]
    if not measures:
        return []
    values = _Values(state)
    attributes = tuple(sorted((name, _text(values[name])) for name in book.referenced_fields
                              if values.get(name) is not None))
    credits: list[Credit] = []
    for measure in measures:
        if measure.when.matches(values):
            credits.extend(_measure_credits(state, values, measure, book, attributes))
        elif measure.clawback is not None and state.history:
            stopped = _stopped_qualifying(state, values, measure)
            if stopped is not None:
                credits.extend(_measure_credits(state, stopped[0], measure, book, attributes, stopped[1]))
    return credits


def _stopped_qualifying(
    state: RecordState, values: Mapping[str, Any], measure: Measure
) -> tuple[Mapping[str, Any], date] | None:
    """(the record's values when it last matched ``measure``, the day of the change that made it stop), or
    None if it never matched. Read from the record's history, so the answer does not depend on the order
    its changes arrived in: one pass over it in version order (the tracked values as of each version of a
    filter field are those of :func:`~attain.core.records.tracked_values_at`)."""
    fields = measure.when.fields
    versions = sorted({version for name, _, version in state.history if name in fields})
    history = sorted(state.history, key=_version_of)  # stable: of one field's equal versions, the first stands
    current: dict[str, tuple[Any, ChangeVersion]] = {}
    position = 0
    last_match: Mapping[str, Any] | None = None
    stop: ChangeVersion | None = None
    for version in versions:
        while position < len(history) and history[position][2] <= version:
            name, text, at = history[position]
            if name not in current or current[name][1] < at:
                current[name] = (decode_value(text), at)
            position += 1
        as_of = ChainMap({name: value for name, (value, _) in current.items()}, values)  # type: ignore[arg-type]
        if measure.when.matches(as_of):
            last_match, stop = as_of, None
        elif last_match is not None and stop is None:
            stop = version
    if last_match is None or stop is None:
        return None
    return last_match, datetime.fromtimestamp(stop.commit_timestamp_ms / 1000, UTC).date()


def _version_of(entry: tuple[str, str, ChangeVersion]) -> ChangeVersion:
    return entry[2]


class _Values(Mapping[str, Any]):
    """The record's field values, each decoded on first read: a measure reads a few of many fields."""

    __slots__ = ("_state", "_decoded")

    def __init__(self, state: RecordState) -> None:
        self._state = state
        self._decoded: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        try:
            return self._decoded[name]
        except KeyError:
            if name not in self._state.fields:
                raise
        value = self._decoded[name] = self._state.value(name)
        return value

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self._state.fields else default

    def __contains__(self, name: object) -> bool:
        return name in self._state.fields

    def __iter__(self) -> Iterator[str]:
        return iter(self._state.fields)

    def __len__(self) -> int:
        return len(self._state.fields)


def _measure_credits(
    state: RecordState, values: Mapping[str, Any], measure: Measure, book: PlanBook,
    attributes: tuple[tuple[str, str], ...], stopped: date | None = None,
) -> list[Credit]:
    where = f"record {state.record_id}"
    written = values.get(measure.date_field)
    credit_date = _date(written, f"{where} field {measure.date_field}")
    if credit_date is None:
        return []
    if measure.kind == "count":
        amount, currency = ONE, ""
    else:
        raw_amount = values.get(measure.value_field or "")
        if raw_amount is None:
            return []
        try:
            amount = parse_decimal(raw_amount, f"{where} field {measure.value_field}")
        except MoneyError as error:
            raise CreditingError(str(error)) from None
        _check_amount(amount, measure, f"{where} field {measure.value_field}")
        currency = _text(values.get(measure.currency_field or "")) if measure.currency_field else ""
    cancelled, reverses = None, False
    clawback = measure.clawback
    if clawback is not None:
        ends = [stopped] if stopped is not None else []
        if clawback.cancel_field is not None:
            cancel_day = _date(values.get(clawback.cancel_field), f"{where} field {clawback.cancel_field}")
            ends += [] if cancel_day is None else [cancel_day]
        if ends and min(ends) <= credit_date + timedelta(days=clawback.window_days):
            cancelled = max(min(ends), credit_date)
            reverses = clawback.method == "reverse_paid"  # the credit it reverses: dated per recipient below
    credits = []
    for role_name in measure.credit_to:
        for rep_id, share, via in _recipients(book.roles[role_name], values, measure, book, credit_date, where):
            rep_day = _local_day(written, credit_date, _zone_of(book, rep_id, credit_date),
                                 f"{where} field {measure.date_field}")
            plan = book.plan_on(rep_id, rep_day)
            if plan is None:
                continue
            rep_currency = currency or (plan.currency if measure.kind == "sum" else "")
            if rep_currency and not book.fx.has_path(rep_currency, plan.currency):
                raise CreditingError(
                    f"{where} field {measure.currency_field}: {rep_currency!r} differs from plan {plan.plan_id!r} "
                    f"currency {plan.currency!r} and no FX rate converts it (add one under fx_rates)"
                )
            if share != ONE:
                _check_amount(share, measure, f"{where} {role_name} share")
                _check_amount(amount * share, measure, f"{where} {role_name} share of {measure.value_field or 'one'}")
            if cancelled is not None and _same_period(book, rep_id, plan, rep_day, cancelled):
                continue  # lost in the period it was won in: it simply does not count there (nothing was paid)
            credit = Credit(state.record_id, rep_id, measure.name, rep_day, amount * share, rep_currency,
                            state.latest_version, role_name, share, "credit", attributes, via, state.changed_by)
            credits.append(credit)
            if cancelled is not None:
                credits.append(Credit(state.record_id, rep_id, measure.name, max(cancelled, rep_day), -amount * share,
                                      rep_currency, state.latest_version, role_name, share, "clawback", attributes,
                                      via, state.changed_by, rep_day if reverses else None))
    return credits


def _same_period(book: PlanBook, rep_id: str, plan: Plan, credit_date: date, cancelled: date) -> bool:
    """Whether ``cancelled`` falls in the rep's plan period holding ``credit_date``."""
    later = book.plan_on(rep_id, cancelled) or plan
    return (period_of(credit_date, plan.period_type, plan.fiscal_start)
            == period_of(cancelled, later.period_type, later.fiscal_start))


def _recipients(
    role: CreditRole, values: Mapping[str, Any], measure: Measure, book: PlanBook, day: date, where: str
) -> list[tuple[str, Decimal, str]]:
    """(rep, share, the team member a manager's credit comes from) for each rep ``role`` names."""
    if role.kind == "field":
        rep = values.get(role.field)
        return [] if rep is None else [(str(rep), ONE, "")]
    if role.kind == "splits":
        splits = values.get(role.field)
        if isinstance(splits, str) and splits.strip():
            try:  # CRM fields are scalars, so a split list usually arrives as JSON text
                splits = json.loads(splits, parse_float=Decimal)
            except ValueError:
                raise CreditingError(
                    f"{where} field {role.field}: {_short(splits)} is not a JSON list of splits") from None
        if not splits:
            splits = split_members(values, role.field)
        if not splits:
            fallback = values.get(role.of) if role.of else None
            return [] if fallback is None else [(str(fallback), ONE, "")]
        if not isinstance(splits, list):
            raise CreditingError(f"{where} field {role.field}: expected a list of {{rep_id, percent}}")
        result = []
        for item in splits:
            try:
                result.append((str(item["rep_id"]), parse_decimal(item["percent"], "percent") / 100, ""))
            except (KeyError, TypeError, MoneyError):
                raise CreditingError(f"{where} field {role.field}: each split needs rep_id and percent") from None
        return result
    base = book.roles.get(role.of)
    if base is None or base.kind == "managers":
        return []
    result = []
    for rep_id, share, _ in _recipients(base, values, measure, book, day, where):
        result.extend((manager, share, rep_id) for manager in book.managers_of(rep_id, day, role.levels))
    return result


def split_members(values: Mapping[str, Any], field: str) -> list[dict[str, Any]]:
    """The split members kept as one field pair per split record: ``<field>.<split id>.rep_id`` and
    ``<field>.<split id>.percent`` (how ingest carries Salesforce ``OpportunitySplit`` records on their
    opportunity, docs/ingest.md). A split whose pair is cleared (a deleted split) is no member.

    >>> split_members({"splits.a.rep_id": "r1", "splits.a.percent": Decimal(60), "splits.b.rep_id": None,
    ...                "splits.b.percent": None, "splits.c.rep_id": "se", "splits.c.percent": Decimal(40)}, "splits")
    [{'rep_id': 'r1', 'percent': Decimal('60')}, {'rep_id': 'se', 'percent': Decimal('40')}]
    """
    prefix = f"{field}."
    members: dict[str, dict[str, Any]] = {}
    for name in values:
        if name.startswith(prefix):
            split_id, _, part = name[len(prefix):].rpartition(".")
            if split_id and part in ("rep_id", "percent"):
                members.setdefault(split_id, {})[part] = values.get(name)
    return [{"rep_id": member["rep_id"], "percent": member["percent"]} for _, member in sorted(members.items())
            if member.get("rep_id") is not None and member.get("percent") is not None]


def _check_amount(amount: Decimal, measure: Measure, what: str) -> None:
    """Refuse a value the core could not rate and round, and a negative one unless the measure takes them."""
    if not amount.is_finite() or amount.copy_abs() > MAX_CREDIT_AMOUNT:
        raise CreditingError(f"{what}: {_short(amount)} is beyond the {MAX_CREDIT_AMOUNT:,} Attain credits",
                             "out_of_bounds")
    if amount < 0 and not measure.allow_negative:
        raise CreditingError(
            f"{what}: {_short(amount)} is negative and measure {measure.name!r} refuses negative values "
            f"(set allow_negative: true on the measure to book them as negative credit)", "negative_amount")


def _date(value: Any, what: str) -> date | None:
    if value is None:
        return None
    try:
        day = date.fromisoformat(str(value)[:10])
    except ValueError:
        raise CreditingError(f"{what}: {_short(value)} is not YYYY-MM-DD") from None
    if not FIRST_CREDIT_DAY <= day <= LAST_CREDIT_DAY:
        raise CreditingError(f"{what}: {day} is outside {FIRST_CREDIT_DAY}..{LAST_CREDIT_DAY}", "out_of_bounds")
    return day


def _zone_of(book: PlanBook, rep_id: str, day: date) -> str:
    """The time zone a rep's credit dates are taken in: the participant's, else its plan's on ``day``."""
    participant = book.participants.get(rep_id)
    if participant is not None and participant.timezone:
        return participant.timezone
    plan = book.plan_on(rep_id, day)
    return "" if plan is None else plan.timezone


def _local_day(value: Any, day: date, zone: str, what: str) -> date:
    """The day a credit date field names in ``zone``.

    A date (``2026-03-31``) is that day everywhere. A timestamp is an instant: in
    ``zone`` it falls on the local day (``2026-03-31T20:00:00Z`` is 1 April in
    Asia/Kolkata); one without an offset is read as UTC. Without a zone the date
    is taken as written, the first ten characters.

    >>> _local_day("2026-03-31T20:00:00Z", date(2026, 3, 31), "Asia/Kolkata", "close_date")
    datetime.date(2026, 4, 1)
    >>> _local_day("2026-03-31T20:00:00Z", date(2026, 3, 31), "", "close_date")
    datetime.date(2026, 3, 31)
    """
    text = str(value)
    if not zone or len(text) <= 10:
        return day
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise CreditingError(f"{what}: {_short(value)} is not a date or an ISO 8601 timestamp") from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    local = instant.astimezone(ZoneInfo(zone)).date()
    if not FIRST_CREDIT_DAY <= local <= LAST_CREDIT_DAY:
        raise CreditingError(f"{what}: {local} is outside {FIRST_CREDIT_DAY}..{LAST_CREDIT_DAY}", "out_of_bounds")
    return local


def _short(value: Any) -> str:
    """``repr(value)``, cut to a readable length (a dead letter's reason, not a copy of the input)."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}... ({len(text)} characters)"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
