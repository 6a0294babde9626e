"""A hypothetical record: the CRM fields a record needs to count for a measure (the what-if estimator).

Which fields make a record count is plan semantics (a measure's ``when`` filter, a component's ``where``,
the roles a measure credits), so it lives here; :mod:`attain.whatif` turns these fields into a change event
as ingest would accept it and recomputes with the same functions as the calculator.

Worked example (docs/plans.md, "What-if: a hypothetical deal"): a deal closed as won for the built-in
``closed_won_amount`` measure is ``is_won: true`` (its filter), ``close_date`` (its date), ``amount`` and
``currency`` (its value and currency fields) and ``owner_id`` (its first role's field).

>>> from attain.core.plan_parser import parse_plan_book
>>> book = parse_plan_book({"plans": [{"id": "ae", "currency": "INR", "components": [
...     {"id": "c", "measure": "closed_won_amount", "rate": "0.05"}]}],
...     "participants": [{"id": "r1", "plan": "ae", "quota": "1000"}]})
>>> record_fields(book, "r1", "closed_won_amount", date(2026, 2, 1), Decimal("500"), "INR")
{'is_won': True, 'close_date': '2026-02-01', 'amount': Decimal('500'), 'currency': 'INR', 'owner_id': 'r1'}
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from attain.core.filters import Condition, Filter
from attain.core.plans import Component, Measure, PlanBook


class HypotheticalError(ValueError):
    """A hypothetical record Attain cannot build; the message says why, for the person who typed it."""


def measures_paid(book: PlanBook, rep_id: str) -> list[Measure]:
    """The measures the participant's plans pay on, in the order their components come (each once)."""
    names: list[str] = []
    for plan in book.plans_of(rep_id):
        names.extend(c.measure for c in plan.components if c.team is None and c.measure not in names)
    return [book.measures[name] for name in names if name in book.measures]


def record_fields(book: PlanBook, rep_id: str, measure_name: str, day: date, amount: Decimal | None,
                  currency: str, existing: bool = False) -> dict[str, Any]:
    """The fields (decoded values) of a record that counts for ``measure_name`` on ``day``.

    The measure's ``when`` filter and the participant's component ``where`` filter are satisfied with the
    values they name (equality, the first of a list, ``exists`` as the date); the date field is ``day``; a sum
    gets ``amount`` in ``currency``. A new record (``existing`` false) also names the participant in the field
    of the first role of the measure that names a rep directly (``owner_id``, an SDR field, a split's
    fallback); an existing record keeps whom it names. Raises :class:`HypotheticalError` when the plan gives
    no way to build such a record (a filter only a comparison or an exclusion satisfies, a measure that credits
    the participant only through a team).
    """
    measure = book.measures.get(measure_name)
    if measure is None or measure not in measures_paid(book, rep_id):
        raise HypotheticalError(f"{measure_name!r} is not a measure {rep_id}'s plan pays on")
    fields: dict[str, Any] = {}
    _example(measure.when, fields, measure.date_field, day)
    component = _component(book, rep_id, measure.name, day)
    if component is not None:
        _example(component.where, fields, measure.date_field, day)
    fields[measure.date_field] = day.isoformat()
    if measure.kind == "sum":
        if amount is None:
            raise HypotheticalError(f"{measure.name} sums {measure.value_field}: an amount is required")
        fields[measure.value_field or "amount"] = amount
        if measure.currency_field:
            fields[measure.currency_field] = currency
    if not existing:
        field = _rep_field(book, measure, component)
        if field is None:
            raise HypotheticalError(f"{measure.name} credits {rep_id} only through a team member's record")
        fields[field] = rep_id
    if not measure.when.matches(fields) or (component is not None and not component.where.matches(fields)):
        raise HypotheticalError(f"no record built from the plan's filters counts for {measure.name}: "
                                "add it in the CRM, or use a measure with a simpler filter")
    return fields


def _component(book: PlanBook, rep_id: str, measure: str, day: date) -> Component | None:
    """The first component of the plan in force on ``day`` (else the participant's latest) paying on ``measure``."""
    plan = book.plan_on(rep_id, day) or book.plan_for(rep_id)
    return next((c for c in plan.components if c.measure == measure), None) if plan is not None else None


def _rep_field(book: PlanBook, measure: Measure, component: Component | None) -> str | None:
    allowed = component.roles if component is not None and component.roles else measure.credit_to
    for name in measure.credit_to:
        role = book.roles.get(name)
        if role is None or name not in allowed:
            continue
        if role.kind == "field":
            return role.field
        if role.kind == "splits" and role.of:
            return role.of  # no split list: the fallback field's rep at 100%
    return None


def _example(where: Filter, fields: dict[str, Any], date_field: str, day: date) -> None:
    """Values that make ``where`` hold where a value can be read off it (an ``any`` by its first choice)."""
    if where.kind == "not":
        return
    for part in where.parts[:1] if where.kind == "any" else where.parts:
        if isinstance(part, Filter):
            _example(part, fields, date_field, day)
        elif part.field not in fields:
            value = _value_of(part, date_field, day)
            if value is not None:
                fields[part.field] = value


def _value_of(condition: Condition, date_field: str, day: date) -> Any:
    operator, operand = condition.operator, condition.operand
    if operator in ("eq", "gte", "lte", "contains"):
        return operand
    if operator == "in":
        return operand[0] if operand else None
    if operator == "exists" and operand:
        return day.isoformat() if condition.field == date_field or "date" in condition.field else "yes"
    return None

