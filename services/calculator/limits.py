"""The calculator's bounds: what any value it stores or message it writes may hold."""

from __future__ import annotations

Trigger = tuple[str, int]  # (event id, ingested at ms)

MAX_VALUE_BYTES = 256 * 1024
"""The most bytes of any value the calculator stores or message it writes (issue 11)."""
MAX_TRIGGERS = 50
"""Triggers a credit message carries (the newest), and a snapshot names."""


class ValueTooLarge(ValueError):
    """A value the calculator would write is over :data:`MAX_VALUE_BYTES`."""

