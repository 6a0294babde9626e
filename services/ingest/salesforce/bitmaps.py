"""Salesforce CDC bitmap fields (``changedFields``, ``nulledFields``, ``diffFields``) -> field names.

The Pub/Sub API sends these header fields as lists of hexadecimal bitmaps instead of names.
Bit *i* (counting from the least significant bit of the number) set means "the field at
position *i* of the event's Avro schema". An element ``"4-0x10"`` is a compound field: the
field at top-level position 4 is a record (e.g. ``Name`` or ``BillingAddress``) and ``0x10``
is a bitmap over *its* fields. The first element is usually the top-level bitmap, but an
event whose only changes are nested may carry just ``"n-0x..."`` elements.

>>> layout = FieldLayout.of(["ChangeEventHeader", "Name", "Amount", "StageName"])
>>> decode(["0x0C"], layout)
['Amount', 'StageName']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any


class BitmapError(ValueError):
    """A bitmap that does not fit the event's schema."""


@dataclass(frozen=True)
class FieldLayout:
    """Field names by schema position, and the nested names of compound (record) fields."""

    names: tuple[str, ...]
    nested: dict[int, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, names: Iterable[str], nested: dict[int, Sequence[str]] | None = None) -> FieldLayout:
        return cls(tuple(names), {position: tuple(sub) for position, sub in (nested or {}).items()})

    @classmethod
    def from_schema(cls, schema: dict[str, Any]) -> FieldLayout:
        """The layout of a parsed Avro record schema (compound fields are records, maybe nullable)."""
        names, nested = [], {}
        for position, avro_field in enumerate(schema["fields"]):
            names.append(avro_field["name"])
            record = _record_of(avro_field["type"])
            if record is not None:
                nested[position] = tuple(sub["name"] for sub in record["fields"])
        return cls(tuple(names), nested)


def _record_of(avro_type: Any) -> dict[str, Any] | None:
    if isinstance(avro_type, dict) and avro_type.get("type") == "record":
        return avro_type
    if isinstance(avro_type, list):
        for branch in avro_type:
            if isinstance(branch, dict) and branch.get("type") == "record":
                return branch
    return None


def set_bits(hex_bitmap: str) -> list[int]:
    """Positions of the set bits of ``0x...``, lowest first.

    >>> set_bits("0x650004E0")
    [5, 6, 7, 10, 24, 26, 29, 30]
    """
    if not hex_bitmap.lower().startswith("0x"):
        raise BitmapError(f"bitmap {hex_bitmap!r} does not start with 0x")
    try:
        value = int(hex_bitmap[2:], 16)
    except ValueError:
        raise BitmapError(f"bitmap {hex_bitmap!r} is not hexadecimal") from None
    positions, position = [], 0
    while value:
        if value & 1:
            positions.append(position)
        value >>= 1
        position += 1
    return positions


def decode(entries: Sequence[str], layout: FieldLayout) -> list[str]:
    """Field names (``Parent.Child`` for nested ones), in schema order of the entries.

    >>> layout = FieldLayout.of(["ChangeEventHeader", "Name", "Amount"], {1: ["FirstName", "LastName"]})
    >>> decode(["0x04", "1-0x02"], layout)
    ['Amount', 'Name.LastName']
    """
    names: list[str] = []
    for entry in entries:
        parent, dash, bitmap = entry.partition("-")
        if not dash:
            names.extend(_name(layout.names, position, entry) for position in set_bits(entry))
            continue
        if not parent.isdigit():
            raise BitmapError(f"compound bitmap {entry!r}: {parent!r} is not a field position")
        parent_position = int(parent)
        parent_name = _name(layout.names, parent_position, entry)
        nested = layout.nested.get(parent_position)
        if nested is None:
            raise BitmapError(f"compound bitmap {entry!r}: field {parent_name!r} is not a compound field")
        names.extend(f"{parent_name}.{_name(nested, position, entry)}" for position in set_bits(bitmap))
    return names


def _name(names: Sequence[str], position: int, entry: str) -> str:
    if position >= len(names):
        raise BitmapError(f"bitmap {entry!r} names position {position}, but the schema has {len(names)} fields")
    return names[position]
