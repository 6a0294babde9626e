"""Small conversions every contract needs."""

from __future__ import annotations

from datetime import datetime


def to_millis(value: datetime | int) -> int:
    """Epoch milliseconds of an Avro ``timestamp-millis`` as written (``int``) or as read (``datetime``).

    >>> from datetime import UTC
    >>> to_millis(datetime(2026, 1, 1, tzinfo=UTC)), to_millis(5)
    (1767225600000, 5)
    """
    return value if isinstance(value, int) else int(value.timestamp() * 1000)
