"""Measurement periods: month, quarter, half and year, named and bounded by calendar dates."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Literal

PeriodType = Literal["month", "quarter", "half", "year"]
PERIOD_TYPES: tuple[PeriodType, ...] = ("month", "quarter", "half", "year")
_NAME = re.compile(r"^(\d{4})(?:-(Q[1-4]|H[12]|\d{2}))?$")


class PeriodError(ValueError):
    """A period name that does not name a month, quarter, half or year."""


def period_of(day: date, period_type: PeriodType) -> str:
    """Name the period of ``period_type`` that contains ``day``.

    >>> [period_of(date(2026, 8, 14), t) for t in ("month", "quarter", "half", "year")]
    ['2026-08', '2026-Q3', '2026-H2', '2026']
    """
    if period_type == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    if period_type == "half":
        return f"{day.year}-H{(day.month - 1) // 6 + 1}"
    if period_type == "year":
        return str(day.year)
    return f"{day.year}-{day.month:02d}"


def period_type_of(name: str) -> PeriodType:
    """The type of a period name.

    >>> period_type_of("2026-Q1"), period_type_of("2026-02"), period_type_of("2026")
    ('quarter', 'month', 'year')
    """
    match = _NAME.match(name)
    if match is None:
        raise PeriodError(f"{name!r} is not a period: write 2026, 2026-H1, 2026-Q1 or 2026-01")
    part = match.group(2)
    if part is None:
        return "year"
    return "quarter" if part[0] == "Q" else "half" if part[0] == "H" else "month"


def period_bounds(name: str) -> tuple[date, date]:
    """First and last day (inclusive) of a named period.

    >>> period_bounds("2026-Q1")
    (datetime.date(2026, 1, 1), datetime.date(2026, 3, 31))
    >>> period_bounds("2028-02")[1]
    datetime.date(2028, 2, 29)
    """
    kind = period_type_of(name)
    year = int(name[:4])
    if kind == "year":
        first_month, months = 1, 12
    elif kind == "half":
        first_month, months = (int(name[6]) - 1) * 6 + 1, 6
    elif kind == "quarter":
        first_month, months = (int(name[6]) - 1) * 3 + 1, 3
    else:
        first_month, months = int(name[5:7]), 1
        if not 1 <= first_month <= 12:
            raise PeriodError(f"{name!r}: month must be 01..12")
    start = date(year, first_month, 1)
    end_month = first_month + months
    end = date(year + (end_month > 12), (end_month - 1) % 12 + 1, 1) - timedelta(days=1)
    return start, end


def periods_of_year_until(name: str) -> list[str]:
    """The periods of the same type from the start of ``name``'s year up to and including it.

    >>> periods_of_year_until("2026-Q3")
    ['2026-Q1', '2026-Q2', '2026-Q3']
    """
    kind = period_type_of(name)
    start, end = period_bounds(name)
    names: list[str] = []
    day = date(start.year, 1, 1)
    while day <= end:
        current = period_of(day, kind)
        names.append(current)
        day = period_bounds(current)[1] + timedelta(days=1)
    return names


def overlap_days(a_start: date, a_end: date, b_start: date, b_end: date) -> int:
    """Calendar days (inclusive) two date ranges share.

    >>> overlap_days(date(2026, 1, 1), date(2026, 3, 31), date(2026, 2, 15), date(2026, 12, 31))
    45
    """
    first, last = max(a_start, b_start), min(a_end, b_end)
    return max(0, (last - first).days + 1)


def months_of(name: str, from_january: bool = False) -> list[str]:
    """The calendar months (``YYYY-MM``) that make the period ``name``, in date order.

    Months are the finest period, so every period is a union of months. With
    ``from_january`` the months run from January of the period's year instead of
    from its first month: what a plan that carries amounts forward (year-to-date
    attainment, recoverable draws) needs to compute the period.

    >>> months_of("2026-Q2")
    ['2026-04', '2026-05', '2026-06']
    >>> months_of("2026-Q2", from_january=True)
    ['2026-01', '2026-02', '2026-03', '2026-04', '2026-05', '2026-06']
    >>> months_of("2026-11"), len(months_of("2026")), months_of("2026-H2", from_january=True)[0]
    (['2026-11'], 12, '2026-01')
    """
    first, last = period_bounds(name)
    start = 1 if from_january else first.month
    return [f"{first.year}-{month:02d}" for month in range(start, last.month + 1)]


def days_of(name: str) -> list[date]:
    """Every calendar day of the period ``name``, in order.

    >>> days = days_of("2028-02")
    >>> len(days), days[0], days[-1]
    (29, datetime.date(2028, 2, 1), datetime.date(2028, 2, 29))
    """
    first, last = period_bounds(name)
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]
