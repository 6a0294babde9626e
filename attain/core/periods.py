"""Measurement periods: month, quarter, half and year, named and bounded by calendar dates.

A plan's fiscal year starts in ``fiscal_start`` (a month number, 1 = January).
Calendar names (``2026``, ``2026-H1``, ``2026-Q1``, ``2026-01``) always mean
calendar periods. A plan whose fiscal year starts in another month names its
quarters, halves and years by fiscal year, after the calendar year the fiscal
year ends in: with an April start, ``FY2027`` is April 2026 to March 2027 and
``FY2027-Q1`` is April to June 2026. Months keep their calendar names
(``2026-04``) on every calendar. An ``FY`` name means nothing without the
fiscal start, so every function here takes it.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Literal

PeriodType = Literal["month", "quarter", "half", "year"]
PERIOD_TYPES: tuple[PeriodType, ...] = ("month", "quarter", "half", "year")
_NAME = re.compile(r"(FY)?([0-9]{4})(?:-(Q[1-4]|H[12]|[0-9]{2}))?")  # fullmatch: ASCII digits, no trailing newline
_MONTHS: dict[PeriodType, int] = {"month": 1, "quarter": 3, "half": 6, "year": 12}


class PeriodError(ValueError):
    """A period name that does not name a month, quarter, half or year."""


def check_fiscal_start(fiscal_start: int) -> int:
    """``fiscal_start`` when it is a month number (1..12), else :class:`PeriodError`."""
    if isinstance(fiscal_start, bool) or not isinstance(fiscal_start, int) or not 1 <= fiscal_start <= 12:
        raise PeriodError(f"{fiscal_start!r} is not a month: a fiscal year starts in month 1..12")
    return fiscal_start


def fiscal_year_start(day: date, fiscal_start: int = 1) -> date:
    """The first day of the fiscal year holding ``day``.

    >>> fiscal_year_start(date(2026, 3, 31), 4), fiscal_year_start(date(2026, 4, 1), 4)
    (datetime.date(2025, 4, 1), datetime.date(2026, 4, 1))
    """
    year = day.year if day.month >= fiscal_start else day.year - 1
    return date(year, check_fiscal_start(fiscal_start), 1)


def period_of(day: date, period_type: PeriodType, fiscal_start: int = 1) -> str:
    """Name the period of ``period_type`` that contains ``day``.

    >>> [period_of(date(2026, 8, 14), t) for t in ("month", "quarter", "half", "year")]
    ['2026-08', '2026-Q3', '2026-H2', '2026']
    >>> [period_of(date(2026, 8, 14), t, fiscal_start=4) for t in ("month", "quarter", "half", "year")]
    ['2026-08', 'FY2027-Q2', 'FY2027-H1', 'FY2027']
    """
    if period_type == "month":
        return f"{day.year}-{day.month:02d}"
    start = fiscal_year_start(day, fiscal_start)
    offset = (day.year - start.year) * 12 + day.month - start.month
    year = f"{start.year}" if fiscal_start == 1 else f"FY{start.year + 1}"
    if period_type == "quarter":
        return f"{year}-Q{offset // 3 + 1}"
    if period_type == "half":
        return f"{year}-H{offset // 6 + 1}"
    return year


def period_type_of(name: str) -> PeriodType:
    """The type of a period name (which also checks the name is one).

    >>> period_type_of("2026-Q1"), period_type_of("2026-02"), period_type_of("2026"), period_type_of("FY2027-H2")
    ('quarter', 'month', 'year', 'half')
    """
    match = _NAME.fullmatch(name)
    if match is None or (match.group(1) and match.group(3) and match.group(3)[0] not in "QH") \
            or int(match.group(2)) == 0:
        raise PeriodError(f"{name!r} is not a period: write 2026, 2026-H1, 2026-Q1 or 2026-01 "
                          "(FY2027, FY2027-H1, FY2027-Q1 on a fiscal calendar)")
    part = match.group(3)
    if part is None:
        return "year"
    if part.isdigit() and not 1 <= int(part) <= 12:
        raise PeriodError(f"{name!r}: month must be 01..12")
    return "quarter" if part[0] == "Q" else "half" if part[0] == "H" else "month"


def period_bounds(name: str, fiscal_start: int = 1) -> tuple[date, date]:
    """First and last day (inclusive) of a named period.

    >>> period_bounds("2026-Q1")
    (datetime.date(2026, 1, 1), datetime.date(2026, 3, 31))
    >>> period_bounds("2028-02")[1]
    datetime.date(2028, 2, 29)
    >>> period_bounds("FY2027-Q4", fiscal_start=4), period_bounds("FY2027-H1", fiscal_start=7)
    ((datetime.date(2027, 1, 1), datetime.date(2027, 3, 31)), (datetime.date(2026, 7, 1), datetime.date(2026, 12, 31)))
    """
    kind = period_type_of(name)
    fiscal = name.startswith("FY")
    check_fiscal_start(fiscal_start)
    if fiscal and fiscal_start == 1:
        raise PeriodError(f"{name!r} is a fiscal period, and this calendar's year starts in January: "
                          f"write {name[2:]}")
    year = int(name[2:6] if fiscal else name[:4])
    if kind == "month":
        first_month, year_start = int(name[5:7]), 1
        if not 1 <= first_month <= 12:
            raise PeriodError(f"{name!r}: month must be 01..12")
        offset = first_month - 1
    else:
        year_start = fiscal_start if fiscal else 1
        year -= fiscal
        offset = 0 if kind == "year" else (int(name[-1]) - 1) * _MONTHS[kind]
    try:
        start = _add_months(date(year, year_start, 1), offset)
        return start, _add_months(start, _MONTHS[kind]) - timedelta(days=1)
    except ValueError:  # before year 1 or after 9999 (FY0001, 9999-Q4): no date
        raise PeriodError(f"{name!r} is not a period this calendar has") from None


def _add_months(first_of_month: date, months: int) -> date:
    index = first_of_month.year * 12 + first_of_month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def periods_to_date(name: str, span: PeriodType = "year", fiscal_start: int = 1) -> list[str]:
    """The periods of ``name``'s type from the start of the ``span`` holding it up to and including it.

    >>> periods_to_date("2026-Q3"), periods_to_date("2026-Q3", "half")
    (['2026-Q1', '2026-Q2', '2026-Q3'], ['2026-Q3'])
    >>> periods_to_date("FY2027-Q2", fiscal_start=4)
    ['FY2027-Q1', 'FY2027-Q2']
    """
    kind = period_type_of(name)
    start, end = period_bounds(name, fiscal_start)
    day = period_bounds(period_of(start, span, fiscal_start), fiscal_start)[0]
    names: list[str] = []
    while day <= end:
        current = period_of(day, kind, fiscal_start)
        names.append(current)
        day = period_bounds(current, fiscal_start)[1] + timedelta(days=1)
    return names


def periods_of_year_until(name: str, fiscal_start: int = 1) -> list[str]:
    """The periods of the same type from the start of ``name``'s (fiscal) year up to and including it.

    >>> periods_of_year_until("2026-Q3")
    ['2026-Q1', '2026-Q2', '2026-Q3']
    """
    return periods_to_date(name, "year", fiscal_start)


def overlap_days(a_start: date, a_end: date, b_start: date, b_end: date) -> int:
    """Calendar days (inclusive) two date ranges share.

    >>> overlap_days(date(2026, 1, 1), date(2026, 3, 31), date(2026, 2, 15), date(2026, 12, 31))
    45
    """
    first, last = max(a_start, b_start), min(a_end, b_end)
    return max(0, (last - first).days + 1)


def months_of(name: str, from_january: bool = False, fiscal_start: int = 1, from_year_start: bool = False) -> list[str]:
    """The calendar months (``YYYY-MM``) that make the period ``name``, in date order.

    Months are the finest period, so every period is a union of months. With
    ``from_year_start`` (or its older name ``from_january``) the months run from
    the first month of the period's fiscal year (January on a calendar year)
    instead of from its first month: what a plan that carries amounts forward
    (year-to-date attainment, recoverable draws) needs to compute the period.

    >>> months_of("2026-Q2")
    ['2026-04', '2026-05', '2026-06']
    >>> months_of("2026-Q2", from_january=True)
    ['2026-01', '2026-02', '2026-03', '2026-04', '2026-05', '2026-06']
    >>> months_of("2026-11"), len(months_of("2026")), months_of("2026-H2", from_january=True)[0]
    (['2026-11'], 12, '2026-01')
    >>> months_of("FY2027-Q2", fiscal_start=4, from_year_start=True)[0], months_of("2027-02", fiscal_start=4)
    ('2026-04', ['2027-02'])
    """
    first, last = period_bounds(name, fiscal_start)
    month = fiscal_year_start(first, fiscal_start) if from_january or from_year_start else first
    names = []
    while month <= last:
        names.append(f"{month.year}-{month.month:02d}")
        month = _add_months(month, 1)
    return names


def days_of(name: str, fiscal_start: int = 1) -> list[date]:
    """Every calendar day of the period ``name``, in order.

    >>> days = days_of("2028-02")
    >>> len(days), days[0], days[-1]
    (29, datetime.date(2028, 2, 1), datetime.date(2028, 2, 29))
    """
    first, last = period_bounds(name, fiscal_start)
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]
