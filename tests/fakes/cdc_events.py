"""Salesforce CDC events with the real shape: schemas like ``OpportunityChangeEvent`` and Avro payloads.

A CDC schema is a record whose first field is ``ChangeEventHeader`` followed by the object's
fields, every field nullable; compound fields (``Name`` on Lead) are nested records.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

from fastavro import parse_schema, schemaless_writer

CHANGE_TYPES = ["CREATE", "UPDATE", "DELETE", "UNDELETE", "GAP_CREATE", "GAP_UPDATE", "GAP_DELETE",
                "GAP_UNDELETE", "GAP_OVERFLOW"]

HEADER = {
    "type": "record", "name": "ChangeEventHeader", "fields": [
        {"name": "entityName", "type": "string"},
        {"name": "recordIds", "type": {"type": "array", "items": "string"}},
        {"name": "changeType", "type": {"type": "enum", "name": "ChangeType", "symbols": CHANGE_TYPES}},
        {"name": "changeOrigin", "type": "string"},
        {"name": "transactionKey", "type": "string"},
        {"name": "sequenceNumber", "type": "int"},
        {"name": "commitTimestamp", "type": "long"},
        {"name": "commitNumber", "type": "long"},
        {"name": "commitUser", "type": "string"},
        {"name": "nulledFields", "type": {"type": "array", "items": "string"}},
        {"name": "diffFields", "type": {"type": "array", "items": "string"}},
        {"name": "changedFields", "type": {"type": "array", "items": "string"}},
    ],
}

OPPORTUNITY_FIELDS: list[tuple[str, Any]] = [
    ("AccountId", "string"), ("Name", "string"), ("Amount", "double"), ("StageName", "string"),
    ("CloseDate", "long"), ("IsWon", "boolean"), ("OwnerId", "string"), ("CurrencyIsoCode", "string"),
    ("Description", "string"), ("SDR__c", "string"),
]
LEAD_FIELDS: list[tuple[str, Any]] = [
    ("Name", {"type": "record", "name": "Name", "fields": [
        {"name": "Salutation", "type": ["null", "string"], "default": None},
        {"name": "FirstName", "type": ["null", "string"], "default": None},
        {"name": "LastName", "type": ["null", "string"], "default": None},
    ]}),
    ("Company", "string"), ("Status", "string"), ("OwnerId", "string"),
]


SPLIT_FIELDS: list[tuple[str, Any]] = [
    ("OpportunityId", "string"), ("SplitOwnerId", "string"), ("SplitPercentage", "double"),
    ("SplitTypeId", "string"), ("SplitAmount", "double"),
]


def cdc_schema(entity: str, fields: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    header = HEADER if entity == "Opportunity" else {**HEADER, "name": f"{entity}ChangeEventHeader"}
    return {
        "type": "record", "name": f"{entity}ChangeEvent", "namespace": "com.sforce.eventbus",
        "fields": [{"name": "ChangeEventHeader", "type": header}]
        + [{"name": name, "type": ["null", avro_type], "default": None} for name, avro_type in fields],
    }


OPPORTUNITY_SCHEMA = cdc_schema("Opportunity", OPPORTUNITY_FIELDS)
LEAD_SCHEMA = cdc_schema("Lead", LEAD_FIELDS)
OPPORTUNITY_SCHEMA_ID = "OppSchema_0001aBcD"
LEAD_SCHEMA_ID = "LeadSchema_0001xYz"
SPLIT_SCHEMA = cdc_schema("OpportunitySplit", SPLIT_FIELDS)
SPLIT_SCHEMA_ID = "SplitSchema_0001qRs"
SCHEMAS = {OPPORTUNITY_SCHEMA_ID: OPPORTUNITY_SCHEMA, LEAD_SCHEMA_ID: LEAD_SCHEMA, SPLIT_SCHEMA_ID: SPLIT_SCHEMA}


def field_position(schema: dict[str, Any], name: str) -> int:
    return [f["name"] for f in schema["fields"]].index(name)


def bitmap(schema: dict[str, Any], names: Sequence[str]) -> list[str]:
    """The Salesforce bitmap list for top-level field names (the inverse of the decoder)."""
    if not names:
        return []
    value = 0
    for name in names:
        value |= 1 << field_position(schema, name)
    return [f"0x{value:X}"]


def header(entity: str, record_ids: Sequence[str], change_type: str = "UPDATE", *, transaction_key: str = "tx-1",
           sequence: int = 1, commit_timestamp: int = 1_768_471_200_000, commit_number: int = 10,
           changed: Sequence[str] = (), nulled: Sequence[str] = (), diff: Sequence[str] = (),
           change_origin: str = "", commit_user: str = "005000000000001AAA") -> dict[str, Any]:
    return {
        "entityName": entity, "recordIds": list(record_ids), "changeType": change_type, "changeOrigin": change_origin,
        "transactionKey": transaction_key, "sequenceNumber": sequence, "commitTimestamp": commit_timestamp,
        "commitNumber": commit_number, "commitUser": commit_user,
        "changedFields": list(changed), "nulledFields": list(nulled), "diffFields": list(diff),
    }


def opportunity_event(record_ids: Sequence[str], change_type: str = "UPDATE", values: dict[str, Any] | None = None,
                      nulled: Sequence[str] = (), **header_args: Any) -> dict[str, Any]:
    """An OpportunityChangeEvent; for UPDATE the changed bitmap names exactly ``values``' fields."""
    values = values or {}
    changed = bitmap(OPPORTUNITY_SCHEMA, list(values) + list(nulled)) if change_type == "UPDATE" else []
    return {
        "ChangeEventHeader": header("Opportunity", record_ids, change_type, changed=changed,
                                    nulled=bitmap(OPPORTUNITY_SCHEMA, nulled), **header_args),
        **values,
    }


def split_event(split_ids: Sequence[str], change_type: str = "UPDATE", values: dict[str, Any] | None = None,
                **header_args: Any) -> dict[str, Any]:
    """An OpportunitySplitChangeEvent; for UPDATE the changed bitmap names exactly ``values``' fields."""
    values = values or {}
    changed = bitmap(SPLIT_SCHEMA, list(values)) if change_type == "UPDATE" else []
    return {"ChangeEventHeader": header("OpportunitySplit", split_ids, change_type, changed=changed, **header_args),
            **values}


_PARSED: dict[str, Any] = {}


def encode(schema: dict[str, Any], event: dict[str, Any]) -> bytes:
    parsed = _PARSED.get(schema["name"])
    if parsed is None:
        parsed = _PARSED[schema["name"]] = parse_schema(schema)
    buffer = io.BytesIO()
    schemaless_writer(buffer, parsed, event)
    return buffer.getvalue()


def schema_json(schema_id: str) -> str:
    return json.dumps(SCHEMAS[schema_id])
