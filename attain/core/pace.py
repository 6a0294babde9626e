"""Pace: where a rep's attainment is heading, from how much of the period's working time has gone.

Projected attainment = attainment to date ÷ the elapsed share of the period's working days (Monday to
Friday; public holidays are not known here). A working day counts as elapsed from its start, so on the
period's first working day one day of N has gone: a manager sees a projection from day one, and on the
last working day (and every day after the period) the projection is the attainment itself. Before the
period's first working day nothing has elapsed and there is no projection (None), rather than a division
by zero or an infinite pace. Pure: the caller passes the day, so the same inputs give the same answer.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

DEFAULT_OFF_PACE = Decimal("0.9")  # projected attainment below 90% is off pace
SATURDAY = 5


def working_days(first: date, last: date) -> int:
    """Monday-to-Friday days from ``first`` to ``last``, both included (0 when ``last`` is before ``first``).

    >>> working_days(date(2026, 1, 1), date(2026, 3, 31))  # 2026-Q1: 13 weeks and Thursday 1 January
    64
    >>> working_days(date(2026, 1, 3), date(2026, 1, 4)), working_days(date(2026, 1, 5), date(2026, 1, 4))
    (0, 0)
    """
    if last < first:
        return 0
    days = (last - first).days + 1
    weeks, rest = divmod(days, 7)
    start = first.weekday()
    return weeks * 5 + sum(1 for offset in range(rest) if (start + offset) % 7 < SATURDAY)


def elapsed_share(first: date, last: date, today: date) -> Decimal:
    """The share of the period's working days that have started by ``today`` (0 before, 1 after the period).

    >>> elapsed_share(date(2026, 1, 1), date(2026, 3, 31), date(2026, 1, 1))  # the first day: 1 of 64
    Decimal('0.015625')
    >>> elapsed_share(date(2026, 1, 1), date(2026, 3, 31), date(2025, 12, 31))
    Decimal('0')
    """
    total = working_days(first, last)
    if total == 0 or today >= last:
        return Decimal(1) if today >= first else Decimal(0)
    return Decimal(working_days(first, min(today, last))) / Decimal(total)


def projected_attainment(attainment: Decimal, share: Decimal) -> Decimal | None:
    """Attainment to date ÷ elapsed share: where the period ends at this pace; None when nothing has elapsed.

    >>> projected_attainment(Decimal("0.45"), Decimal("0.5")), projected_attainment(Decimal("0.2"), Decimal(0))
    (Decimal('0.9'), None)
    """
    if share <= 0:
        return None
    return attainment / share


def off_pace(projected: Decimal | None, threshold: Decimal = DEFAULT_OFF_PACE) -> bool:
    """True when the projection is below ``threshold`` (a period not yet under way is not off pace).

    >>> off_pace(Decimal("0.89")), off_pace(Decimal("0.9")), off_pace(None)
    (True, False, False)
    """
    return projected is not None and projected < threshold

