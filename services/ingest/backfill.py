"""History files for ``attain ingest backfill FILE.csv|jsonl``: rows -> canonical items (pure).

JSONL: one canonical event per line (``docs/events.md``). CSV: a header row; the columns
``event_id, record_id, object_type, change_type, commit_timestamp, commit_number, sequence,
transaction_key`` fill those fields and every other column is a CRM field. Cells: empty =
not part of this change, ``null`` = set to null, ``true``/``false`` = booleans, decimal
numbers stay exact decimals, anything else is text. Without an ``event_id`` column the id is
derived from the row's content (``bf:`` + SHA-256), so loading the same file twice adds nothing.

With a Salesforce mapping and object (a report or Bulk API export): ``Id`` is the record id,
``SystemModstamp`` (or ``LastModifiedDate``) the commit timestamp, and the mapped columns
the fields.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from attain.contracts.crm_changes import parse_json
from services.ingest.salesforce.mapping import FieldMapping, FieldValueError, convert

EVENT_COLUMNS = ("event_id", "record_id", "object_type", "change_type", "commit_timestamp", "commit_number",
                 "sequence", "transaction_key")
INTEGER_COLUMNS = ("commit_number", "sequence")
NUMBER = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?")  # "007" is an id, not seven
SALESFORCE_TIMESTAMPS = ("SystemModstamp", "LastModifiedDate", "CreatedDate")


@dataclass(frozen=True)
class Row:
    """One input row: its line number, the canonical item (or why there is none), the original bytes."""

    line: int
    item: Any
    original: bytes


def jsonl_rows(data: bytes) -> Iterator[Row]:
    for line_number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = parse_json(line)
        except ValueError as error:
            item = {"__unparseable__": f"line is not JSON: {error}"}
        yield Row(line_number, item, line)


def csv_rows(text: str, mapping: FieldMapping | None = None, salesforce_object: str | None = None) -> Iterator[Row]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return
    header_line = _csv_line(header)
    line_number = 1
    for cells in reader:
        line_number = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        original = header_line + _csv_line(cells)
        if len(cells) != len(header):
            yield Row(line_number, {"__unparseable__": f"has {len(cells)} cells, the header has {len(header)}"},
                      original)
            continue
        row = dict(zip(header, cells, strict=True))
        if mapping is not None and salesforce_object:
            yield Row(line_number, _salesforce_item(row, mapping, salesforce_object), original)
        else:
            yield Row(line_number, _canonical_item(row), original)


def _canonical_item(row: dict[str, str]) -> dict[str, Any]:
    item: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    for column, cell in row.items():
        if column in EVENT_COLUMNS:
            if cell != "":
                item[column] = int(cell) if column in INTEGER_COLUMNS and cell.isdigit() else cell
        elif cell != "":
            fields[column] = cell_value(cell)
    item["fields"] = fields
    if commit := item.get("commit_timestamp"):
        item["commit_timestamp"] = int(commit) if commit.isdigit() else commit
    item.setdefault("event_id", content_event_id(row))
    return item


def _salesforce_item(row: dict[str, str], mapping: FieldMapping, salesforce_object: str) -> dict[str, Any]:
    object_mapping = mapping.for_entity(salesforce_object)
    fields: dict[str, Any] = {}
    for source_name, rule in object_mapping.fields.items():
        cell = row.get(source_name, "")
        if cell == "":
            continue
        try:
            fields[rule.target] = convert(_typed_cell(cell, rule.type), rule, source_name)
        except FieldValueError as error:
            return {"__unparseable__": str(error)}
    commit = next((row[c] for c in SALESFORCE_TIMESTAMPS if row.get(c)), None)
    return {"event_id": content_event_id(row), "record_id": row.get("Id", ""),
            "object_type": object_mapping.object_type, "change_type": "UPDATE",
            "commit_timestamp": _salesforce_time(commit), "fields": fields}


def _typed_cell(cell: str, field_type: str) -> Any:
    if field_type == "boolean":
        return {"true": True, "false": False}.get(cell.lower(), cell)
    if field_type == "datetime" and cell.isdigit():
        return int(cell)
    return cell


def _salesforce_time(value: str | None) -> Any:
    if value is None:
        return None
    # Salesforce exports 2026-01-15T10:00:00.000+0000; ISO 8601 wants +00:00
    return re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", value)


def cell_value(cell: str) -> Any:
    """
    >>> [cell_value(c) for c in ["125000.50", "true", "null", "rep-001", "007"]]
    [Decimal('125000.50'), True, None, 'rep-001', '007']
    """
    if cell in ("true", "false"):
        return cell == "true"
    if cell == "null":
        return None
    if NUMBER.fullmatch(cell):
        return Decimal(cell)
    return cell


def content_event_id(row: dict[str, str]) -> str:
    digest = hashlib.sha256(json.dumps(row, sort_keys=True).encode()).hexdigest()
    return f"bf:{digest[:32]}"


def _csv_line(cells: list[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue().encode()
