"""A rep's statement for one period, built from their entries: pure grouping, no I/O.

Per currency: the opening balance (everything before the period, payments
included), the period's earnings grouped by component, adjustments (with the
period they correct), draws and recoveries, the total payable, and payments.
The draws section also sums the draw paid and recovered in the period and the
running draw balance: what is still to be recovered of the year's draws.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from attain.ledger.entries import DRAW_ENTRY_KINDS, DRAW_RECOVERY_KIND, is_recoverable
from attain.ledger.periods import period_sort_key

ADJUSTMENT_KINDS = ("adjustment", "reversal", "clawback", "manual")
DRAW_KINDS = DRAW_ENTRY_KINDS


def build_statement(rep_id: str, period: str, rep_entries: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Group ``rep_entries`` (all periods) into the statement of ``period``.

    >>> e = [{"period": "2026-Q1", "kind": "earned", "amount": Decimal("100"), "currency": "INR",
    ...       "component_id": "commission"},
    ...      {"period": "2026-Q1", "kind": "payment", "amount": Decimal("-90"), "currency": "INR",
    ...       "component_id": "payment"},
    ...      {"period": "2026-Q2", "kind": "earned", "amount": Decimal("40"), "currency": "INR",
    ...       "component_id": "commission"}]
    >>> s = build_statement("r1", "2026-Q2", e)["currencies"][0]
    >>> s["opening_balance"], s["total_payable"]
    ('10', '50')
    """
    key = period_sort_key(period)
    sections: dict[str, dict[str, Any]] = {}
    for entry in sorted(rep_entries, key=lambda e: (e.get("entry_id") or 0)):
        entry_key = period_sort_key(entry["period"])
        if entry_key > key:
            continue
        section = sections.setdefault(entry["currency"], _empty(entry["currency"]))
        amount = Decimal(entry["amount"])
        if is_recoverable(entry) and _year_of(str(entry.get("corrects_period") or entry["period"])) == _year_of(period):
            section["draw_balance"] += amount  # the year's recoverable draws (earlier years' are forgiven)
        if entry_key < key:
            section["opening"] += amount
            continue
        line = _line(entry)
        if entry["kind"] == "earned":
            component = section["earned"].setdefault(entry["component_id"], {"total": Decimal(0), "entries": []})
            component["total"] += amount
            component["entries"].append(line)
        elif entry["kind"] in DRAW_KINDS:
            section["draws"].append(line)
        elif entry["kind"] == "payment":
            section["payments"].append(line)
        else:
            section["adjustments"].append(line)
    return {"rep_id": rep_id, "period": period,
            "currencies": [_finish(section) for _, section in sorted(sections.items())]}


def _empty(currency: str) -> dict[str, Any]:
    return {"currency": currency, "opening": Decimal(0), "earned": {}, "adjustments": [], "draws": [],
            "payments": [], "draw_balance": Decimal(0)}


def _line(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "entry_id": entry.get("entry_id"), "kind": entry["kind"], "component_id": entry["component_id"],
        "amount": str(entry["amount"]), "corrects_period": entry.get("corrects_period"),
        "explanation": entry.get("explanation") or _default_explanation(entry),
        "plan_id": entry.get("plan_id"), "plan_version": entry.get("plan_version"),
        "snapshot_version": entry.get("snapshot_version"), "source_event_ids": entry.get("source_event_ids", []),
        "changes": entry.get("changes", []),  # per event: the deal, change origin and commit user (the ledger's)
    }


def _default_explanation(entry: Mapping[str, Any]) -> str:
    if entry["kind"] == "earned":
        return (f"earnings on {entry['component_id']} as of snapshot v{entry.get('snapshot_version')} "
                f"of plan {entry.get('plan_id')} v{entry.get('plan_version')}")
    return str(entry["kind"])


def _sum(lines: list[dict[str, Any]]) -> Decimal:
    return sum((Decimal(line["amount"]) for line in lines), Decimal(0))


def _finish(section: dict[str, Any]) -> dict[str, Any]:
    earned_total = sum((c["total"] for c in section["earned"].values()), Decimal(0))
    payable = section["opening"] + earned_total + _sum(section["adjustments"]) + _sum(section["draws"])
    return {
        "currency": section["currency"],
        "opening_balance": str(section["opening"]),
        "components": [{"component_id": name, "total": str(c["total"]), "entries": c["entries"]}
                       for name, c in sorted(section["earned"].items())],
        "earned_total": str(earned_total),
        "adjustments": section["adjustments"],
        "draws": section["draws"],
        "draw_paid": str(_sum([line for line in section["draws"] if line["kind"] != DRAW_RECOVERY_KIND])),
        "draw_recovered": str(-_sum([line for line in section["draws"] if line["kind"] == DRAW_RECOVERY_KIND])),
        "draw_balance": str(section["draw_balance"]),
        "total_payable": str(payable),
        "payments": section["payments"],
        "closing_balance": str(payable + _sum(section["payments"])),
    }


def _year_of(period: str) -> str:
    """The (fiscal) year a period name belongs to: ``2026`` of ``2026-Q3``, ``FY2027`` of ``FY2027-Q1``.

    >>> _year_of("2026-Q3"), _year_of("FY2027-Q1"), _year_of("2026")
    ('2026', 'FY2027', '2026')
    """
    return period.split("-", 1)[0]
