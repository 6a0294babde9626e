"""The calculator's bounds: what any value it stores or message it writes may hold."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# (event id, ingested at ms, record id, change origin, commit user): a CRM change behind a credit message
Trigger = tuple[str, int, str, str, str]

MAX_VALUE_BYTES = 256 * 1024
"""The most bytes of any value the calculator stores or message it writes (issue 11)."""
MAX_TRIGGERS = 50
"""Triggers a credit message carries (the newest), and a snapshot names."""


def trigger_from_wire(item: Sequence[Any]) -> Trigger:
    """A credit message's trigger; one written before triggers named their record, ``[event id, at]``, has
    empty record, origin and user."""
    event_id, at, *rest = item
    record_id, origin, user = [*(str(value) for value in rest), "", "", ""][:3]
    return str(event_id), int(at), record_id, origin, user


class ValueTooLarge(ValueError):
    """A value the calculator would write is over :data:`MAX_VALUE_BYTES`."""

