"""Waiting for a condition in tests that drive real processes."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(check: Callable[[], object], timeout: float = 90, what: str = "condition",
               interval: float = 0.5) -> None:
    """Return as soon as ``check()`` is truthy; fail after ``timeout`` seconds, naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
