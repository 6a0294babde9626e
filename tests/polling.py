"""Waiting for a condition in tests that drive real processes.

Every wall-clock budget in the tests goes through :func:`budget`, so one factor scales them
all: ``ATTAIN_TEST_TIME_SCALE`` (default 1; CI sets 3). A budget says how long a quiet
machine may take; a busy one (a fresh-clone CI run sharing its cores) gets the factor more.
Raising it makes a slow run pass, never a wrong one: every wait still ends on its condition.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable


def time_scale() -> float:
    """The factor from ``ATTAIN_TEST_TIME_SCALE`` (a positive number; 1 when unset)."""
    raw = os.environ.get("ATTAIN_TEST_TIME_SCALE", "").strip() or "1"
    try:
        scale = float(raw)
    except ValueError:
        raise ValueError(f"ATTAIN_TEST_TIME_SCALE must be a number, not {raw!r}") from None
    if not scale > 0:
        raise ValueError(f"ATTAIN_TEST_TIME_SCALE must be above 0, not {raw!r}")
    return scale


def budget(seconds: float) -> float:
    """``seconds`` (a quiet machine's budget) times the machine's time scale."""
    return seconds * time_scale()


def deadline_in(seconds: float) -> float:
    """A ``time.monotonic()`` deadline ``budget(seconds)`` from now."""
    return time.monotonic() + budget(seconds)


def wait_until(check: Callable[[], object], timeout: float = 90, what: str = "condition",
               interval: float = 0.5) -> None:
    """Return as soon as ``check()`` is truthy; fail after ``budget(timeout)`` seconds, naming ``what``."""
    allowed = budget(timeout)
    deadline = time.monotonic() + allowed
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    if check():  # one last look: a check that is slow itself may have used up the budget
        return
    raise AssertionError(f"timed out after {allowed:g}s waiting for {what}")
