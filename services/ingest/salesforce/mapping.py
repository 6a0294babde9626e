"""Which Salesforce objects and fields become which Attain fields: configuration, not code.

A mapping file (YAML or JSON, ``ATTAIN_SALESFORCE_MAPPING_FILE``)::

    objects:
      Opportunity:                 # Salesforce entity name (ChangeEventHeader.entityName)
        object_type: Opportunity   # Attain object_type (crm.changes)
        fields:                    # Salesforce field -> Attain field; others are not forwarded
          OwnerId: owner_id
          Amount: {to: amount, type: decimal}
          CloseDate: {to: close_date, type: date}
          SDR__c: sdr_id           # custom fields too
          Name.FirstName: first_name   # a field of a compound field
      OpportunitySplit:            # split records become split members of their opportunity
        splits_of: Opportunity     # the Attain object_type whose record they update
        field: splits              # the field a measure's splits role names
        parent: OpportunityId      # defaults: OpportunityId, SplitOwnerId, SplitPercentage
        rep: SplitOwnerId
        percent: SplitPercentage
        split_types: []            # SplitTypeId values to keep; empty keeps every type

Types convert Salesforce's Avro values: ``decimal`` (a double becomes its shortest exact
decimal text, so money is never a float downstream), ``date`` (days since 1970-01-01 or
text -> ``YYYY-MM-DD``), ``datetime`` (epoch milliseconds -> ISO 8601 UTC), ``text``,
``boolean``; no type passes the value through (a double becomes a decimal).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

FIELD_TYPES = ("decimal", "date", "datetime", "text", "boolean", "")
EPOCH_DAY = date(1970, 1, 1)


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names the object and field."""


class UnmappedObject(LookupError):
    """A change event for a Salesforce object the mapping does not name."""


class FieldValueError(ValueError):
    """A Salesforce value that does not convert to its configured type."""


@dataclass(frozen=True)
class FieldRule:
    target: str
    type: str = ""


@dataclass(frozen=True)
class SplitMapping:
    """A split object (Salesforce ``OpportunitySplit``): each split record is carried on its parent
    record as the field pair ``<field>.<split id>.rep_id`` / ``<field>.<split id>.percent``."""

    field: str = "splits"
    parent: str = "OpportunityId"
    rep: str = "SplitOwnerId"
    percent: str = "SplitPercentage"
    split_type: str = "SplitTypeId"
    split_types: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ObjectMapping:
    object_type: str
    fields: Mapping[str, FieldRule]
    splits: SplitMapping | None = None


@dataclass(frozen=True)
class FieldMapping:
    objects: Mapping[str, ObjectMapping]

    def for_entity(self, entity_name: str) -> ObjectMapping:
        mapping = self.objects.get(entity_name)
        if mapping is None:
            raise UnmappedObject(
                f"Salesforce object {entity_name!r} is not in the field mapping "
                f"(mapped: {sorted(self.objects)}); add it to the mapping file and replay the dead letter"
            )
        return mapping


def load_mapping(path: Path) -> FieldMapping:
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise MappingError(f"{path}: not YAML/JSON: {error}") from error
    return parse_mapping(document, str(path))


def parse_mapping(document: Any, where: str = "mapping") -> FieldMapping:
    """Validate a mapping document.

    >>> parse_mapping({"objects": {"Opportunity": {"fields": {"SDR__c": "sdr_id"}}}}).objects[
    ...     "Opportunity"].fields["SDR__c"]
    FieldRule(target='sdr_id', type='')
    """
    if not isinstance(document, dict) or not isinstance(document.get("objects"), dict):
        raise MappingError(f"{where}: expected a top-level 'objects:' map of Salesforce object -> mapping")
    objects = {}
    for entity, spec in document["objects"].items():
        if not isinstance(spec, dict) or not isinstance(spec.get("fields", {}), dict):
            raise MappingError(f"{where}: objects.{entity}: expected 'object_type' and a 'fields:' map")
        if "splits_of" in spec:
            objects[str(entity)] = _split_object(spec, f"{where}: objects.{entity}")
            continue
        objects[str(entity)] = ObjectMapping(
            object_type=str(spec.get("object_type", entity)),
            fields={str(name): _rule(rule, f"{where}: objects.{entity}.fields.{name}")
                    for name, rule in spec.get("fields", {}).items()},
        )
    return FieldMapping(objects)


def _split_object(spec: dict[str, Any], where: str) -> ObjectMapping:
    """``splits_of: Opportunity`` (and optionally field, parent, rep, percent, split_types)."""
    known = {"splits_of", "field", "parent", "rep", "percent", "split_type", "split_types"}
    if set(spec) - known:
        raise MappingError(f"{where}: unknown key(s) {sorted(set(spec) - known)}; a split object takes {sorted(known)}")
    names = {key: spec.get(key, default) for key, default in (
        ("field", "splits"), ("parent", "OpportunityId"), ("rep", "SplitOwnerId"), ("percent", "SplitPercentage"),
        ("split_type", "SplitTypeId"))}
    if not all(isinstance(value, str) and value for value in [spec["splits_of"], *names.values()]):
        raise MappingError(f"{where}: splits_of, field, parent, rep, percent and split_type are non-empty names")
    split_types = spec.get("split_types") or []
    if not isinstance(split_types, list):
        raise MappingError(f"{where}: split_types is a list of SplitTypeId values")
    splits = SplitMapping(split_types=frozenset(str(t) for t in split_types), **names)
    return ObjectMapping(str(spec["splits_of"]), {}, splits)


def _rule(rule: Any, where: str) -> FieldRule:
    if isinstance(rule, str) and rule:
        return FieldRule(rule)
    if isinstance(rule, dict) and isinstance(rule.get("to"), str) and rule["to"]:
        field_type = str(rule.get("type", ""))
        if field_type not in FIELD_TYPES:
            raise MappingError(f"{where}: type {field_type!r} is not one of {list(FIELD_TYPES[:-1])}")
        return FieldRule(rule["to"], field_type)
    raise MappingError(f"{where}: expected an Attain field name or {{to: name, type: ...}}")


def convert(value: Any, rule: FieldRule, source_name: str) -> Any:
    """A Salesforce value as the canonical event carries it (JSON scalars, exact numbers).

    >>> convert(125000.5, FieldRule("amount", "decimal"), "Amount")
    Decimal('125000.5')
    >>> convert(20498, FieldRule("close_date", "date"), "CloseDate")
    '2026-02-14'
    """
    if value is None:
        return None
    try:
        return _CONVERTERS[rule.type](value)
    except (TypeError, ValueError, ArithmeticError) as error:
        raise FieldValueError(f"{source_name}: {value!r} is not a valid {rule.type or 'value'}: {error}") from None


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return _decimal(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode()
    return value


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, float):
        return Decimal(repr(value))  # the shortest text that reads back as this double
    return Decimal(str(value))


def _date(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int) and not isinstance(value, bool):
        return (EPOCH_DAY + timedelta(days=value)).isoformat()
    return date.fromisoformat(str(value)).isoformat()


def _datetime(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, str):  # the REST API's 2026-01-15T10:00:00.000+0000 (records re-read after a gap)
        return _datetime(datetime.fromisoformat(value))
    raise TypeError("expected epoch milliseconds")


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise TypeError("expected true or false")


_CONVERTERS = {
    "": _plain,
    "decimal": _decimal,
    "date": _date,
    "datetime": _datetime,
    "text": lambda value: str(value),
    "boolean": _boolean,
}
