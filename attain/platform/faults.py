"""Fault hooks: named points in production code where a test may inject a fault.

Production code calls ``reached("ledger.after_db_commit")`` at a point worth testing a crash
in; nothing happens unless a test installed a hook for that point in the same process
(the fault tests launch services through a test-only entrypoint that does, e.g.
``tests/integration/faulty_service.py``). No setting or environment variable turns a hook on.

>>> calls = []
>>> install("ledger.after_db_commit", lambda: calls.append("hit"))
>>> reached("ledger.after_db_commit"); reached("ledger.after_outbox_publish")
>>> calls
['hit']
>>> clear(); reached("ledger.after_db_commit"); calls
['hit']
>>> install("ledger.after_commit", print)  # doctest: +ELLIPSIS
Traceback (most recent call last):
ValueError: no fault point 'ledger.after_commit'; the points are ['calculator.after_recompute_flush', ...]
"""

from __future__ import annotations

from collections.abc import Callable

# The points production code offers (a test installing a hook elsewhere is refused, so a renamed point
# cannot leave a fault test silently testing nothing).
POINTS = frozenset({
    "ledger.after_db_commit",  # the ledger worker committed a batch to PostgreSQL, not yet its offsets
    "ledger.after_outbox_publish",  # the outbox relay published payouts, not yet marked them sent
    "calculator.after_recompute_flush",  # a partition recomputed under a new book and flushed, applied id not yet
})

_hooks: dict[str, Callable[[], None]] = {}


def install(point: str, hook: Callable[[], None]) -> None:
    """Run ``hook`` every time production code reaches ``point`` (tests only)."""
    if point not in POINTS:
        raise ValueError(f"no fault point {point!r}; the points are {sorted(POINTS)}")
    _hooks[point] = hook


def clear() -> None:
    _hooks.clear()


def reached(point: str) -> None:
    hook = _hooks.get(point)
    if hook is not None:
        hook()
