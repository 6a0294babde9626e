"""``attain simulate`` and ``attain explain``: a period's earnings from files, no broker, no database.

The JSON output is a stable, documented format (docs/plans.md, "Simulation output").
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import fields
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from attain.contracts.crm_changes import change_from_avro, normalise, parse_json
from attain.core.earnings import ComponentEarnings, PeriodEarnings, compute_period_earnings
from attain.core.periods import period_bounds, period_of
from attain.core.plans import PlanBook
from attain.core.recompute import admit_changes, admitted_credits_by_rep
from attain.core.records import CrmChange
from attain.core.trace import CreditLine, held_lines
from attain.format import DEFAULT_LOCALE, amount, count, grouped, money, percent

FORMAT = "attain.simulate/v1"


def read_changes(path: Path) -> list[CrmChange]:
    """Canonical change events, one JSON object per line, normalised exactly as ingest does."""
    changes = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            changes.append(change_from_avro(normalise(parse_json(line), f"file:{path.name}", 0)))
        except ValueError as error:
            raise ValueError(f"{path}:{number}: {error}") from None
    return changes


def simulate(book: PlanBook, changes: Sequence[CrmChange], period: str) -> list[PeriodEarnings]:
    """Every participant with a plan in ``period``, with or without credits, by rep id.

    A participant whose plan measures another period type is shown for each of its
    own periods that overlap ``period`` (the months of a quarter, the half holding it).
    """
    credits = admitted_credits_by_rep(admit_changes(book, changes).values())
    results = []
    for rep_id in sorted(book.participants):
        for own_period in plan_periods(book, rep_id, period):
            earnings = compute_period_earnings(book, rep_id, own_period, credits.get(rep_id, []))
            if earnings is not None:
                results.append(earnings)
    return results


def plan_periods(book: PlanBook, rep_id: str, period: str) -> list[str]:
    """The participant's plan periods overlapping ``period``, in order.

    A fiscal name (``FY2027-Q1``) is read on the participant's fiscal calendar; it names
    nothing on a calendar-year plan."""
    fiscal_start = book.fiscal_start(rep_id)
    if period.startswith("FY") and fiscal_start == 1:
        return []
    first, last = period_bounds(period, fiscal_start)
    names: list[str] = []
    for start, end, plan in book.timelines.get(rep_id, ()):
        day = max(first, start)
        while day <= min(last, end):
            name = period_of(day, plan.period_type, plan.fiscal_start)
            if name not in names:
                names.append(name)
            day = period_bounds(name, plan.fiscal_start)[1] + timedelta(days=1)
    return names


def to_json(book: PlanBook, period: str, results: Sequence[PeriodEarnings]) -> dict[str, Any]:
    """The documented JSON form; every amount is decimal text, never a float."""
    return {
        "format": FORMAT,
        "period": period,
        "participants": [
            {
                "rep_id": r.rep_id,
                "name": book.participants[r.rep_id].name,
                "period": r.period,
                "plan_id": r.plan_id,
                "plan_version": r.plan_version,
                "currency": r.currency,
                "total_earned": str(r.total_earned),
                "components": [_component_json(c) for c in r.components],
            }
            for r in results
        ],
    }


def _component_json(c: ComponentEarnings) -> dict[str, Any]:
    return {
        "component_id": c.component_id,
        "credited_value": str(c.credited_value),
        "quota": _text(c.quota),
        "attainment_ratio": _text(c.attainment_ratio),
        "tier": c.tier,
        "earned_amount": str(c.earned_amount),
        "source_record_count": c.source_record_count,
    }


CSV_COLUMNS = ("rep_id", "name", "period", "plan_id", "component_id", "credited_value", "quota",
               "attainment_ratio", "tier", "earned_amount", "currency")
AMOUNT_COLUMNS = ("credited_value", "quota", "attainment_ratio", "earned_amount")


def rows(book: PlanBook, period: str, results: Sequence[PeriodEarnings],
         locale: str = DEFAULT_LOCALE) -> list[list[str]]:
    """One row per participant and component, then one TOTAL row per participant; amounts as a reader
    reads them (:mod:`attain.format`: the currency's minor unit, grouped for ``locale``)."""
    table = []
    for result in results:
        name = book.participants[result.rep_id].name
        for c in result.components:
            table.append([result.rep_id, name, result.period, result.plan_id, c.component_id,
                          credited(c, result.currency, locale),
                          "" if c.quota is None else amount(c.quota, result.currency, locale),
                          "" if c.attainment_ratio is None else percent(c.attainment_ratio, locale),
                          c.tier or "", amount(c.earned_amount, result.currency, locale), result.currency])
        table.append([result.rep_id, name, result.period, result.plan_id, "TOTAL", "", "", "", "",
                      amount(result.total_earned, result.currency, locale), result.currency])
    return table


def credited(c: ComponentEarnings, currency: str, locale: str = DEFAULT_LOCALE) -> str:
    """What a component credited: a count (demos, logos) as a count, money at the minor unit."""
    if c.quota is None and not any(line.original_currency for line in c.lines) \
            and c.credited_value == c.credited_value.to_integral_value():
        return count(c.credited_value, locale)
    return amount(c.credited_value, currency, locale)


def to_csv(book: PlanBook, period: str, results: Sequence[PeriodEarnings]) -> str:
    """Machine-readable: exact decimal text, no grouping (one row per :func:`rows` row)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for result in results:
        name = book.participants[result.rep_id].name
        for c in result.components:
            writer.writerow([result.rep_id, name, result.period, result.plan_id, c.component_id, c.credited_value,
                             _text(c.quota) or "", "" if c.attainment_ratio is None else f"{c.attainment_ratio:.2%}",
                             c.tier or "", c.earned_amount, result.currency])
        writer.writerow([result.rep_id, name, result.period, result.plan_id, "TOTAL", "", "", "", "",
                         result.total_earned, result.currency])
    return buffer.getvalue()


def headline(result: PeriodEarnings) -> tuple[Decimal, Decimal | None]:
    """A participant's period at a glance: credited and quota of each plan version's first component
    with a quota (a version change mid-period adds its segment), or the first component's credit and
    None when no component has a quota."""
    credited, quota, versions = Decimal(0), Decimal(0), set()
    for c in result.components:
        version = c.component_id.rpartition(":")[0]
        if c.quota and version not in versions:
            versions.add(version)
            credited, quota = credited + c.credited_value, quota + c.quota
    if not versions:
        return (result.components[0].credited_value if result.components else Decimal(0)), None
    return credited, quota


def holds(book: PlanBook, changes: Sequence[CrmChange], rep_id: str) -> list[str]:
    """The trace lines of the records held for ``rep_id`` (refused changes, see attain.core.admission)."""
    return held_lines(admit_changes(book, changes).values(), rep_id)


def explain(result: PeriodEarnings, component_id: str | None = None, held: Sequence[str] = (),
            locale: str = DEFAULT_LOCALE) -> str:
    """The trace of one participant's period as text a rep can read (``held``: see :func:`holds`).

    Totals and earnings are at the currency's minor unit with the reader's grouping; the credit
    lines and steps keep the calculation's own digits, grouped (:func:`attain.format.grouped`).
    """
    currency = result.currency
    lines = [f"{result.rep_id} {result.period}: plan {result.plan_id} v{result.plan_version}, "
             f"total {money(result.total_earned, currency, locale)}"]
    lines.extend(f"  held: {line}" for line in held)
    for c in result.components:
        if component_id is not None and c.component_id != component_id:
            continue
        lines.append(f"  {c.component_id}: earned {money(c.earned_amount, currency, locale)}"
                     + (f" (tier {c.tier})" if c.tier else ""))
        lines.extend(f"    - {grouped(line.describe(), locale)}" for line in c.lines)
        lines.extend(f"    {grouped(step, locale)}" for step in c.steps)
    return "\n".join(lines)


def explain_json(result: PeriodEarnings, component_id: str | None = None, held: Sequence[str] = ()) -> dict[str, Any]:
    """:func:`explain` as data: every amount is decimal text, each credit line also as its readable sentence."""
    return {
        "format": "attain.explain/v1",
        "rep_id": result.rep_id,
        "period": result.period,
        "plan_id": result.plan_id,
        "plan_version": result.plan_version,
        "currency": result.currency,
        "total_earned": str(result.total_earned),
        "held": list(held),
        "components": [
            {**_component_json(c), "lines": [_line_json(line) for line in c.lines], "steps": list(c.steps)}
            for c in result.components
            if component_id is None or c.component_id == component_id
        ],
    }


def _line_json(line: CreditLine) -> dict[str, Any]:
    """Every field of the line as JSON text (decimals as decimal text, dates ISO), and its sentence."""
    data = {field.name: _json_value(getattr(line, field.name)) for field in fields(line)}
    data["text"] = line.describe()
    return data


def _json_value(value: object) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, tuple):
        return list(value)
    return value.isoformat() if isinstance(value, date) else str(value)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2)
