"""The ``crm.changes`` contract: validate a canonical JSON change event, normalise it into the topic's
record (:class:`ChangeRecord`, schemas/crm.changes), and read that record back as the core's
:class:`~attain.core.records.CrmChange`.

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
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NotRequired, TypedDict, cast

from attain.contracts.wire import to_millis
from attain.core.records import ChangeType, ChangeVersion, CrmChange

OBJECT_TYPES = ("Opportunity", "Event", "Task", "Lead", "Account", "User")
CHANGE_TYPES = ("CREATE", "UPDATE", "DELETE", "UNDELETE", "GAP")
_json_text = json.encoder.encode_basestring_ascii
MAX_ID_LENGTH = 255
UNPARSEABLE = "__unparseable__"
# What the crm.changes Avro contract can carry: commit_number is a long, sequence an int, and a
# timestamp-millis must be a date a reader can decode (years 1970..9999).
MAX_LONG = 2**63 - 1
MAX_INT = 2**31 - 1
MAX_TIMESTAMP_MS = 253402300799999  # 9999-12-31T23:59:59.999Z
_LONG_INTEGER_DIGITS = 40  # longer integer literals are read as Decimal, so they are refused, not a parse error


class ChangeRecord(TypedDict):
    """One ``crm.changes`` record as Avro writes and reads it (schemas/crm.changes/v2.avsc).

    A typed mapping rather than a class: ingest writes one per event and the calculator reads one per event,
    so the record stays the plain mapping the Avro codec takes. Timestamps are epoch milliseconds when
    written; a reader gets ``datetime`` (the codec's timestamp-millis), hence the union.
    """

    event_id: str
    record_id: str
    object_type: str
    change_type: str
    commit_timestamp: int | datetime
    commit_number: int
    sequence: int
    transaction_key: str | None
    fields: dict[str, str]
    source: str
    ingested_at: int | datetime
    change_origin: NotRequired[str | None]  # v2: what made the change at the source (Salesforce changeOrigin)
    commit_user: NotRequired[str | None]  # v2: who committed it at the source (Salesforce commitUser)


class InvalidEvent(ValueError):
    """A change event that cannot be accepted; the message names the field."""


@dataclass(frozen=True)
class Limits:
    """Bounds on one record (``ATTAIN_INGEST_*``, see docs/ingest.md): anything beyond is refused per record."""

    max_field_chars: int = 131_072  # one text field value, in characters (Salesforce's longest text field)
    max_fields: int = 1000
    max_number: Decimal = Decimal(10) ** 15  # any numeric field value, and amount fields written as text
    amount_fields: tuple[str, ...] = ("amount",)  # must be null, a number or decimal text, within max_number


DEFAULT_LIMITS = Limits()


def parse_json(data: bytes | str) -> Any:
    """JSON with exact decimals (``1.1`` -> ``Decimal('1.1')``).

    Raises ValueError (with the reason) for anything that is not JSON a record can be read from,
    including nesting deeper than the parser goes; integers too long for ``int`` are read as Decimal.
    """
    try:
        return json.loads(data, parse_float=_parse_float, parse_int=_parse_int)
    except RecursionError:
        raise ValueError("JSON nested too deeply to read") from None


class UnreadableNumber(str):
    """A JSON number no Decimal holds (an exponent beyond 10^18 digits): kept as its text, refused per record."""

    __slots__ = ()


def _parse_float(text: str) -> Decimal | UnreadableNumber:
    try:
        return Decimal(text)
    except ArithmeticError:
        return UnreadableNumber(text)


def _parse_int(text: str) -> int | Decimal:
    return int(text) if len(text) <= _LONG_INTEGER_DIGITS else Decimal(text)


def to_json_bytes(item: Any) -> bytes:
    """Re-encode a parsed item (for dead letters of one item of a batch); never raises."""
    try:
        return json.dumps(item, default=str, separators=(",", ":")).encode()
    except (RecursionError, ValueError, TypeError):
        return repr(item).encode("utf-8", "backslashreplace")


def normalise(item: Any, source: str, now_ms: int, limits: Limits = DEFAULT_LIMITS) -> ChangeRecord:
    """Validate one event and return the ``crm.changes`` record. Raises InvalidEvent.

    >>> normalise({"event_id": "e", "record_id": "r", "object_type": "Opportunity", "commit_timestamp": 0,
    ...            "fields": {"amount": "1e26"}}, "http", 0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    attain.contracts.crm_changes.InvalidEvent: fields.amount: '1e26' is beyond 1,000,000,000,000,000 (ATTAIN_...)
    """
    if not isinstance(item, dict):
        raise InvalidEvent(f"expected a JSON object, got {type(item).__name__}")
    if UNPARSEABLE in item:  # a reader could not make an item of the input; it says why
        raise InvalidEvent(str(item[UNPARSEABLE]))
    unknown = set(item) - {
        "event_id", "record_id", "object_type", "change_type", "commit_timestamp",
        "commit_number", "sequence", "transaction_key", "fields", "change_origin", "commit_user",
    }
    if unknown:
        raise InvalidEvent(f"unknown top-level field(s) {sorted(unknown)}; put CRM values in 'fields'")
    object_type = _text(item, "object_type")
    if object_type not in OBJECT_TYPES:
        raise InvalidEvent(f"object_type: {object_type!r} is not one of {list(OBJECT_TYPES)}")
    change_type = item.get("change_type", "UPDATE")
    if change_type not in CHANGE_TYPES:
        raise InvalidEvent(f"change_type: {change_type!r} is not one of {list(CHANGE_TYPES)}")
    for name in ("transaction_key", "change_origin", "commit_user"):
        _optional_text(item, name)
    return {
        "event_id": _text(item, "event_id"),
        "record_id": _text(item, "record_id"),
        "object_type": object_type,
        "change_type": change_type,
        "commit_timestamp": _timestamp_ms(item.get("commit_timestamp")),
        "commit_number": _integer(item, "commit_number", 0, MAX_LONG),
        "sequence": _integer(item, "sequence", 0, MAX_INT),
        "transaction_key": item.get("transaction_key"),
        "fields": _fields(item.get("fields", {}), limits),
        "source": source,
        "ingested_at": now_ms,
        "change_origin": item.get("change_origin") or None,
        "commit_user": item.get("commit_user") or None,
    }


def _optional_text(item: dict[str, Any], name: str) -> None:
    """An optional top-level text (``transaction_key``, ``change_origin``, ``commit_user``): text or null."""
    value = item.get(name)
    if value is None:
        return
    if not isinstance(value, str) or isinstance(value, UnreadableNumber):
        raise InvalidEvent(f"{name}: must be text or null")
    _unicode(value, name)
    if len(value) > MAX_ID_LENGTH:
        raise InvalidEvent(f"{name}: longer than {MAX_ID_LENGTH} characters")


def _text(item: dict[str, Any], name: str) -> str:
    value = item.get(name)
    if not isinstance(value, str) or isinstance(value, UnreadableNumber) or not value.strip():
        raise InvalidEvent(f"{name}: required, non-empty text")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidEvent(f"{name}: longer than {MAX_ID_LENGTH} characters")
    _unicode(value, name)
    return value


def _unicode(value: str, name: str) -> None:
    """Refuse text UTF-8 cannot carry (a lone surrogate such as ``"\\ud800"``)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidEvent(f"{name}: not valid Unicode text ({error.reason} at position {error.start})") from None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}... ({len(text)} characters)"


def _integer(item: dict[str, Any], name: str, default: int, maximum: int) -> int:
    value = item.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise InvalidEvent(f"{name}: expected an integer from 0 to {maximum}, got {_short(value)}")
    return value


def _timestamp_ms(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= MAX_TIMESTAMP_MS:
            raise InvalidEvent(f"commit_timestamp: {_short(value)} epoch milliseconds is outside 1970..9999")
        return value
    if isinstance(value, str):
        _unicode(value, "commit_timestamp")
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidEvent(f"commit_timestamp: {_short(value)} is not ISO 8601") from None
        if parsed.tzinfo is None:
            raise InvalidEvent(f"commit_timestamp: {_short(value)} has no time zone (add Z or +05:30)")
        try:
            millis = int(parsed.astimezone(UTC).timestamp() * 1000)
        except (OverflowError, ValueError):
            millis = -1
        if not 0 <= millis <= MAX_TIMESTAMP_MS:
            raise InvalidEvent(f"commit_timestamp: {_short(value)} is outside 1970..9999 in UTC")
        return millis
    raise InvalidEvent("commit_timestamp: required, ISO 8601 text or epoch milliseconds")


def _fields(fields: Any, limits: Limits) -> dict[str, str]:
    if not isinstance(fields, dict):
        raise InvalidEvent("fields: expected an object of field name -> value")
    if len(fields) > limits.max_fields:
        raise InvalidEvent(f"fields: {len(fields)} fields, more than {limits.max_fields} (ATTAIN_INGEST_MAX_FIELDS)")
    encoded: dict[str, str] = {}
    for name, value in fields.items():
        _unicode(name, "fields: a field name")
        if not name or len(name) > MAX_ID_LENGTH:
            raise InvalidEvent(f"fields: field name {_short(name)} is empty or longer than {MAX_ID_LENGTH}")
        where = f"fields.{name}"
        if isinstance(value, dict | list):
            raise InvalidEvent(f"{where}: nested objects and arrays are not CRM field values")
        if isinstance(value, float):
            raise InvalidEvent(f"{where}: inexact number; send decimal text")
        if isinstance(value, UnreadableNumber):
            raise InvalidEvent(f"{where}: the number {_short(str(value))} is out of any range")
        if isinstance(value, str):
            _unicode(value, where)
        if isinstance(value, Decimal | int) and not isinstance(value, bool):
            _bounded(value, value, where, limits)
        elif name in limits.amount_fields and value is not None:
            _amount_text(value, where, limits)
        if isinstance(value, str) and len(value) > limits.max_field_chars:
            raise InvalidEvent(f"{where}: {len(value)} characters, more than {limits.max_field_chars} "
                               "(ATTAIN_INGEST_MAX_FIELD_CHARS)")
        encoded[name] = _field_json(value)
    return encoded


def _bounded(number: Decimal | int, value: Any, where: str, limits: Limits) -> None:
    if isinstance(number, Decimal) and not number.is_finite():
        raise InvalidEvent(f"{where}: {_short(value)} is not a finite number")
    magnitude = number.copy_abs() if isinstance(number, Decimal) else abs(number)  # abs() would overflow 1e999999
    if magnitude > limits.max_number:
        raise InvalidEvent(f"{where}: {_short(value)} is beyond {limits.max_number:,} (ATTAIN_INGEST_MAX_NUMBER)")


def _amount_text(value: Any, where: str, limits: Limits) -> None:
    """An amount field written as text (or a boolean): decimal text within bounds, else refused."""
    if not isinstance(value, str):
        raise InvalidEvent(f"{where}: {_short(value)} is not an amount (a number or decimal text)")
    try:
        number = Decimal(value.strip())
    except (InvalidOperation, ValueError):
        raise InvalidEvent(f"{where}: {_short(value)} is not an amount (a number or decimal text)") from None
    _bounded(number, value, where, limits)


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


def crm_change_record(record: Mapping[str, Any]) -> ChangeRecord:
    """A decoded ``crm.changes`` message as its typed record (the codec's mapping itself: no copy per event)."""
    return cast(ChangeRecord, record)


def change_from_avro(record: ChangeRecord) -> CrmChange:
    """The core's change of a decoded ``crm.changes`` record."""
    return CrmChange(
        event_id=record["event_id"],
        record_id=record["record_id"],
        object_type=record["object_type"],
        change_type=cast(ChangeType, record["change_type"]),
        version=ChangeVersion(
            to_millis(record["commit_timestamp"]),
            record["commit_number"],
            record["sequence"],
            record["event_id"],
        ),
        fields=record["fields"],
        change_origin=record.get("change_origin") or "",
        commit_user=record.get("commit_user") or "",
    )


def change_to_canonical_json(change: CrmChange) -> bytes:
    """``change`` as the canonical JSON ingest takes (docs/events.md), field values as they were sent, so a
    dead letter of the calculator can be replayed (``attain dlq replay``) once its cause is fixed."""
    head = json.dumps({
        "event_id": change.event_id, "record_id": change.record_id, "object_type": change.object_type,
        "change_type": change.change_type, "commit_timestamp": change.version.commit_timestamp_ms,
        "commit_number": change.version.commit_number, "sequence": change.version.sequence,
        **({"change_origin": change.change_origin} if change.change_origin else {}),
        **({"commit_user": change.commit_user} if change.commit_user else {}),
    }, separators=(",", ":"))
    fields = ",".join(f"{json.dumps(name)}:{text}" for name, text in change.fields.items())
    return f'{head[:-1]},"fields":{{{fields}}}}}'.encode("utf-8", "backslashreplace")
