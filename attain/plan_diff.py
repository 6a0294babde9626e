"""``attain plans diff``: whose pay a plan change moves, and by how much, before it is published.

Both books earn from the same events through the same recompute as ``attain simulate``; a row is a rep's
period whose earned total differs. Amounts stay exact decimals here; :func:`table_rows` formats them with
:mod:`attain.format` like the simulate table.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from attain.core.earnings import PeriodEarnings
from attain.core.plans import PlanBook
from attain.core.recompute import recompute
from attain.core.records import CrmChange
from attain.format import DEFAULT_LOCALE, amount
from attain.simulate import simulate

FORMAT = "attain.plans-diff/v1"
COLUMNS = ("rep_id", "name", "period", "currency", "old_earned", "new_earned", "delta")


@dataclass(frozen=True)
class PayChange:
    """One rep period whose earned total moves: ``old`` and ``new`` in ``currency``, and ``delta = new - old``."""

    rep_id: str
    name: str
    period: str
    currency: str
    old: Decimal
    new: Decimal
    delta: Decimal


def earned(book: PlanBook, changes: Sequence[CrmChange], period: str | None) -> dict[tuple[str, str, str], Decimal]:
    """(rep, period, currency) -> earned total: every period with credits, or the rep periods of ``period``."""
    results: list[PeriodEarnings] = (simulate(book, changes, period) if period is not None
                                     else list(recompute(book, changes).values()))
    return {(r.rep_id, r.period, r.currency): r.total_earned for r in results}


def diff(old: PlanBook, new: PlanBook, changes: Sequence[CrmChange], period: str | None = None) -> list[PayChange]:
    """The rep periods whose earned total differs between ``old`` and ``new`` (a rep or period only one book
    has counts as 0 in the other), in rep, period order."""
    before, after = earned(old, changes, period), earned(new, changes, period)
    rows = []
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key, Decimal(0)), after.get(key, Decimal(0))
        if was != now:
            rep_id, rep_period, currency = key
            person = new.participants.get(rep_id) or old.participants.get(rep_id)
            rows.append(PayChange(rep_id, person.name if person else rep_id, rep_period, currency, was, now,
                                  now - was))
    return rows


def totals(rows: Sequence[PayChange]) -> dict[str, tuple[Decimal, Decimal]]:
    """Per currency: the old and new totals of the changed rows (currencies are never added together)."""
    sums: dict[str, tuple[Decimal, Decimal]] = {}
    for row in rows:
        old, new = sums.get(row.currency, (Decimal(0), Decimal(0)))
        sums[row.currency] = (old + row.old, new + row.new)
    return dict(sorted(sums.items()))


def table_rows(rows: Sequence[PayChange], locale: str = DEFAULT_LOCALE) -> list[list[str]]:
    """The rows and one TOTAL row per currency, amounts at the currency's minor unit for ``locale``."""
    def signed(value: Decimal, currency: str) -> str:
        return ("+" if value > 0 else "") + amount(value, currency, locale)

    shown = [[r.rep_id, r.name, r.period, r.currency, amount(r.old, r.currency, locale),
              amount(r.new, r.currency, locale), signed(r.delta, r.currency)] for r in rows]
    for currency, (old, new) in totals(rows).items():
        shown.append(["TOTAL", "", "", currency, amount(old, currency, locale), amount(new, currency, locale),
                      signed(new - old, currency)])
    return shown


def to_json(old_name: str, new_name: str, period: str | None, rows: Sequence[PayChange]) -> dict[str, Any]:
    """The documented JSON form; every amount is decimal text."""
    return {"format": FORMAT, "old": old_name, "new": new_name, "period": period,
            "changes": [{"rep_id": r.rep_id, "name": r.name, "period": r.period, "currency": r.currency,
                         "old_earned": str(r.old), "new_earned": str(r.new), "delta": str(r.delta)} for r in rows],
            "totals": [{"currency": currency, "old_earned": str(old), "new_earned": str(new),
                        "delta": str(new - old)} for currency, (old, new) in totals(rows).items()]}


def to_csv(rows: Sequence[PayChange]) -> str:
    """Exact decimal text, no grouping; the TOTAL rows last."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([r.rep_id, r.name, r.period, r.currency, r.old, r.new, r.delta])
    for currency, (old, new) in totals(rows).items():
        writer.writerow(["TOTAL", "", "", currency, old, new, new - old])
    return buffer.getvalue()
