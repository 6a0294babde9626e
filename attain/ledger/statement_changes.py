"""Never-silent statements: what changed in a rep's period since the rep last looked, line by line, with
each change's cause (docs/portal.md, "Never-silent statements").

Pure: no I/O, Decimal money, the same answer for the same input. The caller keeps what the rep last saw of a
period (:class:`Seen`: the entry ids shown and each component's figure) and passes the rep's ledger entries
now (the rows of ``GET /v1/reps/{rep}/entries``, with the deals behind each line resolved); this module says,
per (currency, component), the figure before and after and the lines that moved it, each with its cause and
the entry id a dispute names.

Entry ids come from a sequence, and concurrent postings (the ledger worker's booking, a manual entry, a
dispute resolution) commit in any order: a line with a lower id than one the rep saw can appear after the
view. So what was seen is the set of ids shown, never "every id up to the newest", and ``after`` is the figure
from the rows now, not ``before`` plus the new lines.

Causes, from the entry itself:

- ``crm``: a snapshot booked the line and CRM changes are behind it (``deals``: the records).
- ``plan``: a snapshot booked it under a plan version newer than any the rep had seen for the component.
- ``recompute``: a snapshot booked it with no CRM change behind it and no new plan version (an FX rate, a
  reference-data change, a recompute).
- ``adjustment`` (a person's manual entry), ``clawback``, ``dispute_resolution``, ``draw``, ``draw_recovery``:
  the kind, with who posted it and why.

Payments are not changes to a figure (they settle it; the ``paid`` milestone tells them) and are left out.

>>> seen = Seen(10, {("EUR", "commission"): Decimal("100")}, {"commission": 1}, frozenset({10}))
>>> rows = [{"entry_id": 11, "period": "2026-Q2", "corrects_period": "2026-Q1", "component_id": "commission",
...          "kind": "adjustment", "amount": "30", "currency": "EUR", "plan_version": 1, "created_by": None,
...          "explanation": "prior-period adjustment", "deals": ["006B"]},
...         {"entry_id": 10, "period": "2026-Q1", "corrects_period": None, "component_id": "commission",
...          "kind": "earned", "amount": "100", "currency": "EUR", "plan_version": 1, "deals": ["006A"]}]
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
    the newest plan version per component among the lines shown, and the ids of the period's lines shown.

    ``entry_ids`` is None for a mark kept before the ids were (only the newest was): then every id up to
    ``entry_id`` counts as shown, and a line committed late under a lower id shows as a difference that no new
    line explains (:attr:`ComponentChange.unexplained`) rather than not at all.
    """

    entry_id: int
    figures: Mapping[tuple[str, str], Decimal] = field(default_factory=dict)
    plan_versions: Mapping[str, int] = field(default_factory=dict)
    entry_ids: frozenset[int] | None = None

    def shown(self, entry_id: int) -> bool:
        """The rep was shown the line ``entry_id`` (see the class for a mark without ids)."""
        return entry_id in self.entry_ids if self.entry_ids is not None else entry_id <= self.entry_id


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

    @property
    def unexplained(self) -> Decimal:
        """The part of ``delta`` no new line accounts for (zero unless the mark has no ids, see :class:`Seen`, or
        a line the rep saw is gone): shown rather than hidden, since a statement is never silent."""
        return self.delta - sum((line.amount for line in self.lines), ZERO)

    currency: str
    component_id: str
    before: Decimal
    after: Decimal
    lines: tuple[LineChange, ...]


def in_period(row: Mapping[str, Any], period: str) -> bool:
    """The line counts in ``period``: posted there, or a prior-period adjustment correcting it."""
    return bool((row.get("corrects_period") or row["period"]) == period)


def counted(period: str, rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The lines behind ``period``'s figures (payments left out), by entry id."""
    return sorted((row for row in rows if in_period(row, period) and row["kind"] not in SETTLING_KINDS),
                  key=lambda row: int(row["entry_id"]))


def figures_of(lines: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Decimal]:
    """Each (currency, component)'s figure: the sum of its ``lines``."""
    figures: dict[tuple[str, str], Decimal] = {}
    for row in lines:
        key = (str(row["currency"]), str(row["component_id"]))
        figures[key] = figures.get(key, ZERO) + Decimal(str(row["amount"]))
    return figures


def seen_of(period: str, rows: Sequence[Mapping[str, Any]]) -> Seen:
    """What a rep sees of ``period`` when shown ``rows`` (their entries now): to keep as the next visit's base."""
    lines = counted(period, rows)
    versions: dict[str, int] = {}
    for row in lines:
        component = str(row["component_id"])
        versions[component] = max(versions.get(component, 0), int(row.get("plan_version") or 0))
    shown = frozenset(int(row["entry_id"]) for row in rows if in_period(row, period))
    return Seen(max(shown, default=0), figures_of(lines), versions, shown)


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

    A line is new when the rep was not shown it (:meth:`Seen.shown`; not "its id is above the newest seen":
    ids do not follow commit order). ``after`` is the figure from ``rows`` now. A component is shown when it has
    new lines (even netting to zero: a reversal and a rebooking the rep should see) or its figure moved.
    """
    lines = counted(period, rows)
    new: dict[tuple[str, str], list[LineChange]] = {}
    for row in lines:
        if seen.shown(int(row["entry_id"])):
            continue
        component = str(row["component_id"])
        new.setdefault((str(row["currency"]), component), []).append(LineChange(
            int(row["entry_id"]), Decimal(str(row["amount"])), cause_of(row, seen.plan_versions.get(component)),
            str(row["kind"]), tuple(str(d) for d in row.get("deals") or ()), int(row.get("plan_version") or 0),
            str(row.get("created_by") or ""), str(row.get("explanation") or "")))
    now = figures_of(lines)
    moved = {key for key in {*now, *seen.figures} if now.get(key, ZERO) != seen.figures.get(key, ZERO)}
    return [ComponentChange(currency, component, seen.figures.get((currency, component), ZERO),
                            now.get((currency, component), ZERO), tuple(new.get((currency, component), ())))
            for currency, component in sorted({*new, *moved})]
