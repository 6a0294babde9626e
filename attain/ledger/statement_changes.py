"""Never-silent statements: what changed in a rep's period since the rep last looked, line by line, with
each change's cause (docs/portal.md, "Never-silent statements").

Pure: no I/O, Decimal money, the same answer for the same input. The caller keeps what the rep last saw of a
period (:class:`Seen`: the newest entry id shown and each component's figure) and passes the rep's ledger
entries now (the rows of ``GET /v1/reps/{rep}/entries``, with the deals behind each line resolved); this
module says, per (currency, component), the figure before and after and the lines that moved it, each with
its cause and the entry id a dispute names.

Causes, from the entry itself:

- ``crm``: a snapshot booked the line and CRM changes are behind it (``deals``: the records).
- ``plan``: a snapshot booked it under a plan version newer than any the rep had seen for the component.
- ``recompute``: a snapshot booked it with no CRM change behind it and no new plan version (an FX rate, a
  reference-data change, a recompute).
- ``adjustment`` (a person's manual entry), ``clawback``, ``dispute_resolution``, ``draw``, ``draw_recovery``:
  the kind, with who posted it and why.

Payments are not changes to a figure (they settle it; the ``paid`` milestone tells them) and are left out.

>>> seen = Seen(10, {("EUR", "commission"): Decimal("100")}, {"commission": 1})
>>> rows = [{"entry_id": 11, "period": "2026-Q2", "corrects_period": "2026-Q1", "component_id": "commission",
...          "kind": "adjustment", "amount": "30", "currency": "EUR", "plan_version": 1, "created_by": None,
...          "explanation": "prior-period adjustment", "deals": ["006B"]}]
>>> (change,) = changes_since(seen, "2026-Q1", rows)
>>> change.before, change.after, [(line.entry_id, line.cause, line.deals) for line in change.lines]
(Decimal('100'), Decimal('130'), [(11, 'crm', ('006B',))])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

ZERO = Decimal(0)
SETTLING_KINDS = frozenset({"payment"})  # not a change to what was earned: the period was paid
BOOKED_KINDS = frozenset({"earned", "adjustment"})  # what snapshots book (created_by empty)


@dataclass(frozen=True, slots=True)
class Seen:
    """What the rep last saw of one period: the newest entry id shown, each (currency, component)'s figure,
    and the newest plan version per component among the lines shown."""

    entry_id: int
    figures: Mapping[tuple[str, str], Decimal] = field(default_factory=dict)
    plan_versions: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LineChange:
    """One ledger line the rep has not seen, and why it is there; ``entry_id`` is what a dispute names."""

    entry_id: int
    amount: Decimal
    cause: str
    kind: str
    deals: tuple[str, ...] = ()
    plan_version: int = 0
    by: str = ""
    explanation: str = ""


@dataclass(frozen=True, slots=True)
class ComponentChange:
    """One component of the period whose figure moved since the rep looked: ``before`` → ``after``, and the
    lines that moved it."""

    @property
    def delta(self) -> Decimal:
        """after - before: what the rep gained (negative: lost) since they looked."""
        return self.after - self.before

    currency: str
    component_id: str
    before: Decimal
    after: Decimal
    lines: tuple[LineChange, ...]


def in_period(row: Mapping[str, Any], period: str) -> bool:
    """The line counts in ``period``: posted there, or a prior-period adjustment correcting it."""
    return bool((row.get("corrects_period") or row["period"]) == period)


def seen_of(period: str, rows: Iterable[Mapping[str, Any]]) -> Seen:
    """What a rep sees of ``period`` when shown ``rows`` (their entries now): to keep as the next visit's base."""
    figures: dict[tuple[str, str], Decimal] = {}
    versions: dict[str, int] = {}
    newest = 0
    for row in rows:
        newest = max(newest, int(row["entry_id"]))
        if not in_period(row, period) or row["kind"] in SETTLING_KINDS:
            continue
        key = (str(row["currency"]), str(row["component_id"]))
        figures[key] = figures.get(key, ZERO) + Decimal(str(row["amount"]))
        versions[key[1]] = max(versions.get(key[1], 0), int(row.get("plan_version") or 0))
    return Seen(newest, figures, versions)


def cause_of(row: Mapping[str, Any], seen_plan_version: int | None) -> str:
    """Why a line is there (see the module's list)."""
    kind = str(row["kind"])
    if kind in BOOKED_KINDS and not row.get("created_by"):
        if row.get("deals"):
            return "crm"
        if seen_plan_version is not None and int(row.get("plan_version") or 0) > seen_plan_version:
            return "plan"
        return "recompute"
    if kind == "manual" or (kind == "adjustment" and row.get("created_by")):
        return "dispute_resolution" if str(row.get("idempotency_key", "")).startswith("dispute:") else "adjustment"
    return kind


def changes_since(seen: Seen, period: str, rows: Sequence[Mapping[str, Any]]) -> list[ComponentChange]:
    """Per (currency, component) of ``period`` that moved since ``seen``: before → after and the new lines.

    A line is new when its entry id is above ``seen.entry_id`` (ids only grow). A figure whose new lines sum
    to zero is still shown (a reversal and a rebooking the rep should see), a component without new lines is not.
    """
    new: dict[tuple[str, str], list[LineChange]] = {}
    for row in sorted(rows, key=lambda r: int(r["entry_id"])):
        if int(row["entry_id"]) <= seen.entry_id or not in_period(row, period) or row["kind"] in SETTLING_KINDS:
            continue
        component = str(row["component_id"])
        new.setdefault((str(row["currency"]), component), []).append(LineChange(
            int(row["entry_id"]), Decimal(str(row["amount"])), cause_of(row, seen.plan_versions.get(component)),
            str(row["kind"]), tuple(str(d) for d in row.get("deals") or ()), int(row.get("plan_version") or 0),
            str(row.get("created_by") or ""), str(row.get("explanation") or "")))
    return [ComponentChange(currency, component, seen.figures.get((currency, component), ZERO),
                            seen.figures.get((currency, component), ZERO) + sum((line.amount for line in lines), ZERO),
                            tuple(lines))
            for (currency, component), lines in sorted(new.items())]
