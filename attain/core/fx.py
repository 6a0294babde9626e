"""Currency conversion at the rate in force on a date, with the rate and its date kept."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal


class FxError(ValueError):
    """No rate converts one currency to another on the date asked."""


@dataclass(frozen=True)
class FxRate:
    """One unit of ``base`` is worth ``rate`` units of ``quote`` from ``effective`` on."""

    base: str
    quote: str
    effective: date
    rate: Decimal


@dataclass(frozen=True)
class Conversion:
    """An amount converted, with the rate used and the date that rate took effect."""

    amount: Decimal
    rate: Decimal
    rate_date: date | None


class FxTable:
    """Dated rates; a rate also converts the other way at its inverse."""

    def __init__(self, rates: Iterable[FxRate] = ()) -> None:
        table: dict[tuple[str, str], list[tuple[date, Decimal]]] = {}
        for fx in rates:
            table.setdefault((fx.base, fx.quote), []).append((fx.effective, fx.rate))
            table.setdefault((fx.quote, fx.base), []).append((fx.effective, 1 / fx.rate))
        self._table = {pair: sorted(entries) for pair, entries in table.items()}

    def has_path(self, source: str, target: str) -> bool:
        return source == target or (source, target) in self._table or self._pivot(source, target) is not None

    def _pivot(self, source: str, target: str) -> str | None:
        """A currency both have rates with (e.g. USD), for a cross rate; the first in sorted order."""
        pivots = sorted(q for (b, q) in self._table if b == source and (q, target) in self._table)
        return pivots[0] if pivots else None

    def first_date(self, source: str, target: str) -> date | None:
        entries = self._table.get((source, target))
        return entries[0][0] if entries else None

    def convert(self, amount: Decimal, source: str, target: str, on: date) -> Conversion:
        """Convert exactly at the latest rate effective on or before ``on``.

        >>> table = FxTable([FxRate("USD", "INR", date(2026, 1, 1), Decimal("83")),
        ...                  FxRate("USD", "INR", date(2026, 2, 1), Decimal("84"))])
        >>> table.convert(Decimal("10"), "USD", "INR", date(2026, 2, 14))
        Conversion(amount=Decimal('840'), rate=Decimal('84'), rate_date=datetime.date(2026, 2, 1))

        Without a direct rate, a cross rate through a currency both sides have
        rates with is used; the recorded date is the later of the two rates'.

        >>> cross = FxTable([FxRate("USD", "INR", date(2026, 1, 1), Decimal("80")),
        ...                  FxRate("USD", "SGD", date(2026, 1, 5), Decimal("1.25"))])
        >>> cross.convert(Decimal("1000"), "INR", "SGD", date(2026, 2, 1))
        Conversion(amount=Decimal('15.625000'), rate=Decimal('0.015625'), rate_date=datetime.date(2026, 1, 5))
        """
        if source == target:
            return Conversion(amount, Decimal(1), None)
        if (source, target) not in self._table and (pivot := self._pivot(source, target)) is not None:
            first = self.convert(amount, source, pivot, on)
            second = self.convert(first.amount, pivot, target, on)
            dates = [d for d in (first.rate_date, second.rate_date) if d is not None]
            return Conversion(second.amount, first.rate * second.rate, max(dates) if dates else None)
        entries = self._table.get((source, target))
        if not entries:
            raise FxError(f"no FX rate between {source} and {target}: add one under fx_rates")
        index = bisect_right(entries, (on, Decimal("Infinity"))) - 1
        if index < 0:
            raise FxError(f"no {source}->{target} rate on or before {on}: the first is dated {entries[0][0]}")
        effective, rate = entries[index]
        return Conversion(amount * rate, rate, effective)
