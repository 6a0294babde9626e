"""Canonical CRM change events: validate a JSON object and normalise it for ``crm.changes``.

The documented input (HTTP body item or JSONL line)::

    {"event_id": "evt-1", "record_id": "006A000001", "object_type": "Opportunity",
     "change_type": "UPDATE", "commit_timestamp": "2026-01-15T10:00:00Z",
     "commit_number": 7, "sequence": 0,
     "fields": {"amount": 125000.50, "is_won": true, "owner_id": "rep-001"}}

Numbers must stay exact: parse bodies with :func:`parse_json` (decimals, not floats).
"""

from __future__ import annotations

import json
import json.encoder
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

OBJECT_TYPES = ("Opportunity", "Event", "Task", "Lead", "Account", "User")
CHANGE_TYPES = ("CREATE", "UPDATE", "DELETE", "UNDELETE", "GAP")
_json_text = json.encoder.encode_basestring_ascii
MAX_ID_LENGTH = 255
UNPARSEABLE = "__unparseable__"


class InvalidEvent(ValueError):
    """A change event that cannot be accepted; the message names the field."""


def parse_json(data: bytes | str) -> Any:
    """JSON with exact decimals (``1.1`` -> ``Decimal('1.1')``)."""
    return json.loads(data, parse_float=Decimal)


def to_json_bytes(item: Any) -> bytes:
    """Re-encode a parsed item (for dead letters of one item of a batch)."""
    return json.dumps(item, default=str, separators=(",", ":")).encode()


def normalise(item: Any, source: str, now_ms: int) -> dict[str, Any]:
    """Validate one event and return the ``crm.changes`` record. Raises InvalidEvent."""
    if not isinstance(item, dict):
        raise InvalidEvent(f"expected a JSON object, got {type(item).__name__}")
    if UNPARSEABLE in item:  # a reader could not make an item of the input; it says why
        raise InvalidEvent(str(item[UNPARSEABLE]))
    unknown = set(item) - {
        "event_id", "record_id", "object_type", "change_type", "commit_timestamp",
        "commit_number", "sequence", "transaction_key", "fields",
    }
    if unknown:
        raise InvalidEvent(f"unknown top-level field(s) {sorted(unknown)}; put CRM values in 'fields'")
    object_type = _text(item, "object_type")
    if object_type not in OBJECT_TYPES:
        raise InvalidEvent(f"object_type: {object_type!r} is not one of {list(OBJECT_TYPES)}")
    change_type = item.get("change_type", "UPDATE")
    if change_type not in CHANGE_TYPES:
        raise InvalidEvent(f"change_type: {change_type!r} is not one of {list(CHANGE_TYPES)}")
    transaction_key = item.get("transaction_key")
    if transaction_key is not None and not isinstance(transaction_key, str):
        raise InvalidEvent("transaction_key: must be text or null")
    return {
        "event_id": _text(item, "event_id"),
        "record_id": _text(item, "record_id"),
        "object_type": object_type,
        "change_type": change_type,
        "commit_timestamp": _timestamp_ms(item.get("commit_timestamp")),
        "commit_number": _integer(item, "commit_number", 0),
        "sequence": _integer(item, "sequence", 0),
        "transaction_key": transaction_key,
        "fields": _fields(item.get("fields", {})),
        "source": source,
        "ingested_at": now_ms,
    }


def _text(item: dict[str, Any], name: str) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidEvent(f"{name}: required, non-empty text")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidEvent(f"{name}: longer than {MAX_ID_LENGTH} characters")
    return value


def _integer(item: dict[str, Any], name: str, default: int) -> int:
    value = item.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidEvent(f"{name}: expected a non-negative integer, got {value!r}")
    return value


def _timestamp_ms(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidEvent(f"commit_timestamp: {value!r} is not ISO 8601") from None
        if parsed.tzinfo is None:
            raise InvalidEvent(f"commit_timestamp: {value!r} has no time zone (add Z or +05:30)")
        return int(parsed.astimezone(UTC).timestamp() * 1000)
    raise InvalidEvent("commit_timestamp: required, ISO 8601 text or epoch milliseconds")


def _fields(fields: Any) -> dict[str, str]:
    if not isinstance(fields, dict):
        raise InvalidEvent("fields: expected an object of field name -> value")
    encoded = {}
    for name, value in fields.items():
        if isinstance(value, dict | list):
            raise InvalidEvent(f"fields.{name}: nested objects and arrays are not CRM field values")
        if isinstance(value, float):
            raise InvalidEvent(f"fields.{name}: inexact number; send decimal text")
        encoded[name] = _field_json(value)
    return encoded


def _field_json(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _json_text(value)  # what json.dumps does for a str, without its per-call setup
    if isinstance(value, Decimal | int):
        return str(value)
    return json.dumps(value)
