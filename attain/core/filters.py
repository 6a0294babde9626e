"""Declarative record filters: conditions written as data, never evaluated as code.

A filter is a mapping of field name to condition; all must hold. A condition is
a literal (equality), a list (membership) or a mapping of operators::

    {stage: "Closed Won", product_family: [Core, Analytics], amount: {gte: "100000"}}
    {any: [{deal_type: New}, {deal_type: Upsell}]}
    {not: {region: IN-North}}

Operators: eq, ne, in, not_in, gt, gte, lt, lte, exists, contains. Numbers
compare as Decimal, everything else as text, so ``"100000"`` and ``100000`` agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

OPERATORS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists", "contains")
COMBINATORS = ("all", "any", "not")


@dataclass(frozen=True)
class Condition:
    field: str
    operator: str
    operand: Any


@dataclass(frozen=True)
class Filter:
    """A compiled filter: ``kind`` is all/any/not over ``parts`` (conditions or filters)."""

    kind: str
    parts: tuple[Condition | Filter, ...]

    @property
    def fields(self) -> frozenset[str]:
        names: set[str] = set()
        for part in self.parts:
            names |= {part.field} if isinstance(part, Condition) else part.fields
        return frozenset(names)

    def matches(self, values: Mapping[str, Any]) -> bool:
        """Whether a record's ``values`` satisfy the filter.

        >>> f = compile_filter({"stage": "Closed Won", "amount": {"gte": "100"}}, "when", [])
        >>> f.matches({"stage": "Closed Won", "amount": Decimal("250")}), f.matches({"stage": "Open"})
        (True, False)
        """
        results = (_holds(part, values) for part in self.parts)
        if self.kind == "any":
            return any(results)
        if self.kind == "not":
            return not all(results)
        return all(results)


MATCH_ALL = Filter("all", ())


def _holds(part: Condition | Filter, values: Mapping[str, Any]) -> bool:
    if isinstance(part, Filter):
        return part.matches(values)
    value = values.get(part.field)
    op, operand = part.operator, part.operand
    if op == "exists":
        return (value is not None) == bool(operand)
    if value is None:
        return op in ("ne", "not_in")
    if op == "eq":
        return _equal(value, operand)
    if op == "ne":
        return not _equal(value, operand)
    if op == "in":
        return any(_equal(value, item) for item in operand)
    if op == "not_in":
        return not any(_equal(value, item) for item in operand)
    if op == "contains":
        return str(operand) in str(value)
    left, right = _number(value), _number(operand)
    if left is None or right is None:
        return False
    return {"gt": left > right, "gte": left >= right, "lt": left < right, "lte": left <= right}[op]


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _equal(value: Any, operand: Any) -> bool:
    if isinstance(value, bool) or isinstance(operand, bool):
        return str(value).lower() == str(operand).lower()
    left, right = _number(value), _number(operand)
    if left is not None and right is not None:
        return left == right
    return str(value) == str(operand)


def compile_filter(raw: Any, where: str, problems: list[tuple[str, str]]) -> Filter:
    """Compile a filter written as data; each problem is appended as (path, message).

    >>> problems = []
    >>> _ = compile_filter({"amount": {"greater": 5}}, "when", problems)
    >>> problems[0][0], problems[0][1].split(";")[0]
    ('when.amount.greater', "unknown operator 'greater'")
    """
    if raw is None:
        return MATCH_ALL
    if not isinstance(raw, Mapping):
        problems.append((where, "a filter is a mapping of field: condition"))
        return MATCH_ALL
    parts: list[Condition | Filter] = []
    for key, value in raw.items():
        name = str(key)
        if name in ("all", "any"):
            if not isinstance(value, Sequence) or isinstance(value, str):
                problems.append((f"{where}.{name}", f"{name} takes a list of filters"))
                continue
            subs = tuple(compile_filter(item, f"{where}.{name}[{i}]", problems) for i, item in enumerate(value))
            parts.append(Filter(name, subs))
        elif name == "not":
            parts.append(Filter("not", (compile_filter(value, f"{where}.not", problems),)))
        else:
            parts.extend(_conditions(name, value, f"{where}.{name}", problems))
    return Filter("all", tuple(parts))


def _conditions(name: str, value: Any, where: str, problems: list[tuple[str, str]]) -> list[Condition]:
    if isinstance(value, Mapping):
        conditions = []
        for operator, operand in value.items():
            if operator not in OPERATORS:
                problems.append(
                    (f"{where}.{operator}", f"unknown operator {operator!r}; use one of {', '.join(OPERATORS)}")
                )
                continue
            if operator in ("in", "not_in") and (isinstance(operand, str) or not isinstance(operand, Sequence)):
                problems.append((f"{where}.{operator}", f"{operator} takes a list of values"))
                continue
            if operator in ("gt", "gte", "lt", "lte") and _number(operand) is None:
                problems.append((f"{where}.{operator}", f"{operator} compares numbers; {operand!r} is not one"))
                continue
            conditions.append(Condition(name, str(operator), operand))
        return conditions
    if isinstance(value, list):
        return [Condition(name, "in", tuple(value))]
    return [Condition(name, "eq", value)]
