"""Periods: open -> locked -> approved -> paid, per scope (a region or plan family).

A locked period no longer takes entries; a change that arrives for it becomes a
prior-period adjustment in the scope's current open period.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum


class PeriodState(StrEnum):
    OPEN = "open"
    LOCKED = "locked"
    APPROVED = "approved"
    PAID = "paid"


class PeriodError(ValueError):
    """A period transition or name that is not allowed, with what to do instead."""


# action -> (from state, to state). Reopen is the way back after a rejection.
TRANSITIONS: dict[str, tuple[PeriodState, PeriodState]] = {
    "lock": (PeriodState.OPEN, PeriodState.LOCKED),
    "reopen": (PeriodState.LOCKED, PeriodState.OPEN),
    "approve": (PeriodState.LOCKED, PeriodState.APPROVED),
    "pay": (PeriodState.APPROVED, PeriodState.PAID),
}

_QUARTER = re.compile(r"^(FY)?(\d{4})-Q([1-4])$")  # FY2027-Q1: a fiscal quarter (attain.core.periods)
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def transition(current: PeriodState, action: str) -> PeriodState:
    """The state after ``action``, or :class:`PeriodError`.

    >>> transition(PeriodState.OPEN, "lock")
    <PeriodState.LOCKED: 'locked'>
    >>> transition(PeriodState.PAID, "lock")
    Traceback (most recent call last):
    ...
    attain.ledger.periods.PeriodError: cannot lock a period that is paid: lock needs it open
    """
    if action not in TRANSITIONS:
        raise PeriodError(f"unknown period action {action!r}: use one of {sorted(TRANSITIONS)}")
    source, target = TRANSITIONS[action]
    if current != source:
        raise PeriodError(f"cannot {action} a period that is {current.value}: {action} needs it {source.value}")
    return target


def accepts_entries(state: PeriodState) -> bool:
    """Only an open period takes new entries; the others are closed books."""
    return state == PeriodState.OPEN


def next_period(period: str) -> str:
    """The period after ``period`` (quarters ``2026-Q1``, fiscal quarters ``FY2027-Q1`` or months ``2026-01``).

    >>> next_period("2026-Q4"), next_period("2026-03"), next_period("2026-12"), next_period("FY2027-Q4")
    ('2027-Q1', '2026-04', '2027-01', 'FY2028-Q1')
    """
    if match := _QUARTER.match(period):
        fiscal, year, quarter = match[1] or "", int(match[2]), int(match[3])
        return f"{fiscal}{year + 1}-Q1" if quarter == 4 else f"{fiscal}{year}-Q{quarter + 1}"
    if match := _MONTH.match(period):
        year, month = int(match[1]), int(match[2])
        return f"{year + 1}-01" if month == 12 else f"{year}-{month + 1:02d}"
    raise PeriodError(f"period {period!r} is neither YYYY-Qn (or FY2027-Q1) nor YYYY-MM")


def period_sort_key(period: str) -> tuple[int, int, int]:
    """Chronological order of mixed names: a quarter sorts at its first month.

    Fiscal quarters (``FY2027-Q1``) sort in order among themselves: a scope keeps
    one calendar (its plans share a fiscal year).

    >>> sorted(["2026-Q2", "2026-02", "2025-Q4"], key=period_sort_key)
    ['2025-Q4', '2026-02', '2026-Q2']
    >>> sorted(["FY2028-Q1", "FY2027-Q4", "FY2027-Q1"], key=period_sort_key)
    ['FY2027-Q1', 'FY2027-Q4', 'FY2028-Q1']
    """
    if match := _QUARTER.match(period):
        return int(match[2]), (int(match[3]) - 1) * 3 + 1, 0
    if match := _MONTH.match(period):
        return int(match[1]), int(match[2]), 1
    raise PeriodError(f"period {period!r} is neither YYYY-Qn (or FY2027-Q1) nor YYYY-MM")


def posting_period(target: str, known_states: Mapping[str, PeriodState]) -> str:
    """Where a change for ``target`` is posted: itself when open, else the first later open period.

    A period not in ``known_states`` has not been started, so it is open.

    >>> posting_period("2026-Q1", {})
    '2026-Q1'
    >>> posting_period("2026-Q1", {"2026-Q1": PeriodState.LOCKED, "2026-Q2": PeriodState.PAID})
    '2026-Q3'
    """
    candidate = target
    while not accepts_entries(known_states.get(candidate, PeriodState.OPEN)):
        candidate = next_period(candidate)
    return candidate
