"""A decoded Salesforce change event -> canonical change items, one per record id (pure).

The items are the documented canonical input (``docs/events.md``), so they then go
through the same validation and normalisation as HTTP and file events.

Change types: CREATE and UNDELETE carry every field with a value; UPDATE carries the
fields named by ``changedFields`` (values) and ``nulledFields`` (null); DELETE carries
none; ``GAP_CREATE``/``GAP_UPDATE``/``GAP_DELETE``/``GAP_UNDELETE``/``GAP_OVERFLOW`` mean
Salesforce lost the detail, so they become ``GAP`` ("re-read this record") with no fields.
``diffFields`` hold a text diff rather than a value; they are not forwarded.
``changeOrigin`` and ``commitUser`` travel as ``change_origin`` and ``commit_user``.

A split object (``OpportunitySplit``, mapped with ``splits_of``) becomes an UPDATE of its
parent opportunity setting ``<field>.<split id>.rep_id`` and ``.percent`` (both null for a
deleted split), so the calculator's per-field merge keeps the members in any order.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

from fastavro import parse_schema, schemaless_reader

from services.ingest.salesforce.bitmaps import FieldLayout, decode
from services.ingest.salesforce.mapping import FieldMapping, FieldRule, ObjectMapping, SplitMapping, convert

HEADER = "ChangeEventHeader"
DIRECT_TYPES = ("CREATE", "UPDATE", "DELETE", "UNDELETE")
GAP_TYPES = ("GAP_CREATE", "GAP_UPDATE", "GAP_DELETE", "GAP_UNDELETE", "GAP_OVERFLOW")
ALL_RECORDS = "*"  # GAP_OVERFLOW without record ids: re-read every record of the object


class ChangeEventError(ValueError):
    """An event that decodes but is not a usable change event; the message says why."""


class UnknownSplitParent(LookupError):
    """A split change that does not name its opportunity (an UPDATE or DELETE) for split ids not seen before:
    the caller looks the parents up (``Reconciler.split_parents``) and tries again."""

    def __init__(self, split_ids: list[str]) -> None:
        super().__init__(f"the opportunity of split(s) {split_ids} is not known; look them up in the CRM")
        self.split_ids = split_ids


@dataclass(frozen=True)
class EventSchema:
    """One Salesforce event schema (by schema id), parsed once with its bitmap layout."""

    schema_id: str
    parsed: Any
    layout: FieldLayout
    bitmap_names: dict[tuple[str, ...], frozenset[str]] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, schema_id: str, schema_json: str | dict[str, Any]) -> EventSchema:
        document = json.loads(schema_json) if isinstance(schema_json, str) else schema_json
        parsed = parse_schema(document)  # marked as parsed: fastavro then skips re-parsing it per event
        return cls(schema_id, parsed, FieldLayout.from_schema(document))

    def decode_payload(self, payload: bytes) -> dict[str, Any]:
        """The Avro body as a dict. Raises ChangeEventError on bytes that are not this schema."""
        buffer = io.BytesIO(payload)
        try:
            record = schemaless_reader(buffer, self.parsed, None)
        except Exception as error:  # fastavro raises many types on corrupt bodies
            raise ChangeEventError(f"payload is not Avro of schema {self.schema_id}: {error!r}") from None
        if not isinstance(record, dict):
            raise ChangeEventError(f"payload of schema {self.schema_id} is not a record")
        if buffer.tell() != len(payload):
            raise ChangeEventError(
                f"payload is not Avro of schema {self.schema_id}: {len(payload) - buffer.tell()} bytes left over"
            )
        return record

    def names(self, bitmap: list[str] | None) -> frozenset[str]:
        """Decoded bitmap, cached: the same few bitmaps recur for every event of an object."""
        key = tuple(bitmap or ())
        names = self.bitmap_names.get(key)
        if names is None:
            names = frozenset(decode(key, self.layout))
            self.bitmap_names[key] = names
        return names


def canonical_items(
    event: dict[str, Any], schema: EventSchema, mapping: FieldMapping, channel: str, replay_id: bytes,
    parents: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The canonical items of one decoded change event.

    ``parents`` (split id -> opportunity id) is read and filled for split objects.
    Raises ChangeEventError (not a change event, unknown change type, bad bitmap),
    UnmappedObject (object not in the mapping), FieldValueError (a value of the wrong type)
    or UnknownSplitParent (a split change whose opportunity is not in ``parents``).
    """
    header = event.get(HEADER)
    if not isinstance(header, dict):
        raise ChangeEventError(f"event has no {HEADER}; is {channel} a change data capture channel?")
    entity = header.get("entityName")
    object_mapping = mapping.for_entity(str(entity))
    change_type = header.get("changeType")
    if object_mapping.splits is not None and change_type in DIRECT_TYPES:
        return _split_items(event, header, schema, object_mapping, channel, replay_id,
                            {} if parents is None else parents)
    if change_type in GAP_TYPES:
        attain_change, fields = "GAP", {}
    elif change_type in DIRECT_TYPES:
        attain_change = str(change_type)
        try:
            fields = _fields(event, header, attain_change, schema, object_mapping)
        except ValueError as error:
            if isinstance(error, ChangeEventError):
                raise
            raise ChangeEventError(f"{entity} {change_type}: {error}") from None
    else:
        raise ChangeEventError(f"{entity}: unknown changeType {change_type!r}")
    record_ids = list(header.get("recordIds") or ())
    if not record_ids:
        if change_type != "GAP_OVERFLOW":
            raise ChangeEventError(f"{entity} {change_type}: the header names no recordIds")
        record_ids = [ALL_RECORDS]
    transaction_key = header.get("transactionKey") or None
    sequence = _integer(header, "sequenceNumber", entity)
    commit_timestamp = _integer(header, "commitTimestamp", entity)
    commit_number = _integer(header, "commitNumber", entity)
    return [
        {
            "event_id": _event_id(record_id, transaction_key, sequence, channel, replay_id),
            "record_id": record_id,
            "object_type": object_mapping.object_type,
            "change_type": attain_change,
            "commit_timestamp": commit_timestamp,
            "commit_number": commit_number,
            "sequence": sequence,
            "transaction_key": transaction_key,
            "fields": fields,
            **_changed_by(header),
        }
        for record_id in record_ids
    ]


def _changed_by(header: dict[str, Any]) -> dict[str, str]:
    """``change_origin`` and ``commit_user`` from the header, where it names them."""
    pairs = (("change_origin", header.get("changeOrigin")), ("commit_user", header.get("commitUser")))
    return {name: value for name, value in pairs if isinstance(value, str) and value}


def _split_items(event: dict[str, Any], header: dict[str, Any], schema: EventSchema, mapping: ObjectMapping,
                 channel: str, replay_id: bytes, parents: dict[str, str]) -> list[dict[str, Any]]:
    """A split object's change as changes of its parents' split member fields."""
    splits = mapping.splits
    assert splits is not None
    change_type = str(header.get("changeType"))
    split_ids = [str(split_id) for split_id in header.get("recordIds") or ()]
    if not split_ids:
        raise ChangeEventError(f"{header.get('entityName')} {change_type}: the header names no recordIds")
    changed = schema.names(header.get("changedFields")) | schema.names(header.get("nulledFields"))
    every_value = change_type in ("CREATE", "UNDELETE")
    parent = _value(event, splits.parent)
    if parent is not None and (every_value or splits.parent in changed):
        parents.update((split_id, str(parent)) for split_id in split_ids)
    unknown = [split_id for split_id in split_ids if split_id not in parents]
    if unknown:
        raise UnknownSplitParent(unknown)
    split_type = _value(event, splits.split_type)
    if splits.split_types and split_type is not None and str(split_type) not in splits.split_types:
        return []  # a split type the plans do not credit (e.g. overlay splits when only revenue counts)
    transaction_key = header.get("transactionKey") or None
    sequence = _integer(header, "sequenceNumber", "split")
    header_fields = {"transaction_key": transaction_key, "sequence": sequence,
                     "commit_timestamp": _integer(header, "commitTimestamp", "split"),
                     "commit_number": _integer(header, "commitNumber", "split"), **_changed_by(header)}
    items = []
    for split_id in split_ids:
        fields = split_fields(splits, split_id, None if change_type == "DELETE" else (
            lambda name: _value(event, name) if every_value or name in changed else ...))
        items.append({"event_id": _event_id(split_id, transaction_key, sequence, channel, replay_id),
                      "record_id": parents[split_id], "object_type": mapping.object_type, "change_type": "UPDATE",
                      **header_fields, "fields": fields})
    return items


def split_fields(splits: SplitMapping, split_id: str, value: Any) -> dict[str, Any]:
    """The member fields of one split: ``value(name)`` gives a Salesforce field's value (``...`` when the
    change does not touch it); ``None`` instead of a function clears the member (a deleted split)."""
    fields: dict[str, Any] = {}
    for source_name, target, rule in ((splits.rep, "rep_id", FieldRule("", "text")),
                                      (splits.percent, "percent", FieldRule("", "decimal"))):
        name = f"{splits.field}.{split_id}.{target}"
        if value is None:
            fields[name] = None
        elif (current := value(source_name)) is not ...:
            fields[name] = convert(current, rule, source_name)
    return fields


def _integer(header: dict[str, Any], name: str, entity: Any) -> int:
    value = header.get(name) or 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise ChangeEventError(f"{entity}: ChangeEventHeader.{name} is {value!r}, not an integer")
    return value


def _event_id(record_id: str, transaction_key: str | None, sequence: int, channel: str, replay_id: bytes) -> str:
    """Deterministic: a redelivery, or the same change seen on two channels, has the same id."""
    if transaction_key:
        return f"sf:{transaction_key}:{sequence}:{record_id}"
    return f"sf:{channel}:{replay_id.hex()}:{record_id}"


def _fields(
    event: dict[str, Any], header: dict[str, Any], change_type: str, schema: EventSchema, mapping: ObjectMapping
) -> dict[str, Any]:
    if change_type == "DELETE":
        return {}
    changed = schema.names(header.get("changedFields"))
    nulled = schema.names(header.get("nulledFields"))
    diffs = schema.names(header.get("diffFields"))
    every_value = change_type in ("CREATE", "UNDELETE") and not changed
    fields: dict[str, Any] = {}
    for source_name, rule in mapping.fields.items():
        if source_name in diffs:
            continue
        if source_name in nulled:
            fields[rule.target] = None
        elif every_value:
            value = _value(event, source_name)
            if value is not None:
                fields[rule.target] = convert(value, rule, source_name)
        elif source_name in changed:
            fields[rule.target] = convert(_value(event, source_name), rule, source_name)
    return fields


def _value(event: dict[str, Any], name: str) -> Any:
    parent, dot, child = name.partition(".")
    value = event.get(parent)
    if not dot:
        return value
    return value.get(child) if isinstance(value, dict) else None
