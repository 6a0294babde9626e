"""CRM record state as a merge of changes: last writer wins per field.

Changes can arrive twice, late, or shuffled. Each field keeps the value of the
newest change that set it (ordered by :class:`ChangeVersion`), and deletion is
one more last-writer-wins register. The merge is commutative, associative and
idempotent, so any order or duplication of the same changes yields the same
state: the calculator's "maps, not counters" rule at the record level.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

ChangeType = Literal["CREATE", "UPDATE", "DELETE", "UNDELETE", "GAP"]
# One decoder for every field value: json.loads with parse_* options builds a new one per call.
_DECODER = json.JSONDecoder(parse_float=Decimal, parse_int=Decimal)


@dataclass(frozen=True, order=True)
class ChangeVersion:
    """Total order of changes to one record: commit time, then commit number,
    then position in the transaction; the event id breaks exact ties."""

    commit_timestamp_ms: int
    commit_number: int = 0
    sequence: int = 0
    event_id: str = ""

    def to_list(self) -> list[Any]:
        return [self.commit_timestamp_ms, self.commit_number, self.sequence, self.event_id]

    @classmethod
    def from_list(cls, items: list[Any]) -> ChangeVersion:
        return cls(int(items[0]), int(items[1]), int(items[2]), str(items[3]))


@dataclass(frozen=True)
class CrmChange:
    """One change to one CRM record, as ingest publishes it on ``crm.changes``.

    ``fields`` holds each changed field's new value as JSON text, so numbers stay
    exact decimal text and ``null`` means "cleared". ``change_origin`` and
    ``commit_user`` say what and who made the change at the source (empty when
    the source does not say).
    """

    event_id: str
    record_id: str
    object_type: str
    change_type: ChangeType
    version: ChangeVersion
    fields: Mapping[str, str] = field(default_factory=dict)
    change_origin: str = ""
    commit_user: str = ""


@dataclass(frozen=True)
class RecordState:
    """The merged state of one CRM record; ``changed_by`` is (origin, user) of its newest change."""

    record_id: str
    object_type: str
    fields: Mapping[str, tuple[str, ChangeVersion]]
    deleted: tuple[bool, ChangeVersion] | None = None
    latest_version: ChangeVersion = ChangeVersion(0)
    changed_by: tuple[str, str] = ("", "")
    # Every value a tracked field has had, as (field, value JSON, version), sorted: a grow-only set, so
    # the merge stays order independent. Crediting reads it to date when a record stopped qualifying.
    history: tuple[tuple[str, str, ChangeVersion], ...] = ()

    @property
    def is_deleted(self) -> bool:
        return self.deleted is not None and self.deleted[0]

    def value(self, name: str) -> Any:
        """The field's current value decoded from JSON (numbers as Decimal), or None."""
        entry = self.fields.get(name)
        if entry is None:
            return None
        return _DECODER.decode(entry[0])


def decode_value(value_json: str) -> Any:
    """A field value's JSON text decoded (numbers as Decimal)."""
    return _DECODER.decode(value_json)


def apply_change(state: RecordState | None, change: CrmChange, track: frozenset[str] = frozenset()) -> RecordState:
    """Merge ``change`` into ``state`` (None for a record not seen yet).

    The values ``change`` sets on fields named in ``track`` are also added to the state's history.

    >>> v1, v2 = ChangeVersion(1), ChangeVersion(2)
    >>> late = CrmChange("e2", "006A", "Opportunity", "UPDATE", v2, {"amount": "900"})
    >>> early = CrmChange("e1", "006A", "Opportunity", "CREATE", v1, {"amount": "500"})
    >>> apply_change(apply_change(None, late), early).value("amount")
    Decimal('900')
    """
    if state is None:
        state = RecordState(change.record_id, change.object_type, {})
    merged_fields = dict(state.fields)
    for name, value_json in change.fields.items():
        current = merged_fields.get(name)
        if current is None or current[1] < change.version:
            merged_fields[name] = (value_json, change.version)
    deleted = state.deleted
    if change.change_type in ("DELETE", "UNDELETE"):
        flag = change.change_type == "DELETE"
        if deleted is None or deleted[1] < change.version:
            deleted = (flag, change.version)
    history = state.history
    if track:
        seen = {(name, value_json, change.version) for name, value_json in change.fields.items() if name in track}
        if not seen.issubset(history):
            history = tuple(sorted(seen.union(history)))
    # the constructor, not dataclasses.replace: this runs per change and replace costs several times more
    changed_by = state.changed_by
    if change.version >= state.latest_version:
        changed_by = (change.change_origin, change.commit_user)
    return RecordState(state.record_id, state.object_type, merged_fields, deleted,
                       max(state.latest_version, change.version), changed_by, history)


def tracked_values_at(state: RecordState, version: ChangeVersion) -> dict[str, str]:
    """The tracked fields' values (JSON text) as of ``version``, from the state's history.

    >>> v1, v2 = ChangeVersion(1), ChangeVersion(2)
    >>> state = RecordState("006A", "Opportunity", {}, history=(("is_won", "false", v2), ("is_won", "true", v1)))
    >>> tracked_values_at(state, v1), tracked_values_at(state, v2)
    ({'is_won': 'true'}, {'is_won': 'false'})
    """
    values: dict[str, tuple[str, ChangeVersion]] = {}
    for name, value_json, at in state.history:
        if at <= version and (name not in values or values[name][1] < at):
            values[name] = (value_json, at)
    return {name: value_json for name, (value_json, _) in values.items()}


def state_to_json(state: RecordState) -> dict[str, Any]:
    """A compact JSON-able form of ``state`` (for state stores and changelogs).

    Each distinct :class:`ChangeVersion` is written once, in ``versions``; fields,
    the deleted register and the latest version refer to it by index (most fields
    of a record share a handful of versions).

    >>> v = ChangeVersion(5, 0, 0, "e1")
    >>> state_to_json(RecordState("006A", "Opportunity", {"amount": ("900", v)}, None, v))
    {'record_id': '006A', 'object_type': 'Opportunity', 'fields': {'amount': ['900', 0]}, \
'deleted': None, 'latest_version': 0, 'versions': [[5, 0, 0, 'e1']]}
    """
    versions: list[list[Any]] = []
    index: dict[ChangeVersion, int] = {}

    def ref(version: ChangeVersion) -> int:
        position = index.get(version)
        if position is None:
            position = index[version] = len(versions)
            versions.append(version.to_list())
        return position

    data: dict[str, Any] = {
        "record_id": state.record_id,
        "object_type": state.object_type,
        "fields": {name: [text, ref(version)] for name, (text, version) in state.fields.items()},
        "deleted": None if state.deleted is None else [state.deleted[0], ref(state.deleted[1])],
        "latest_version": ref(state.latest_version),
    }
    if state.history:
        data["history"] = [[name, text, ref(version)] for name, text, version in state.history]
    data["versions"] = versions
    if any(state.changed_by):
        data["changed_by"] = list(state.changed_by)
    return data


def state_from_json(data: Mapping[str, Any]) -> RecordState:
    """Inverse of :func:`state_to_json`."""
    versions = [ChangeVersion.from_list(items) for items in data["versions"]]
    deleted = data.get("deleted")
    return RecordState(
        record_id=data["record_id"],
        object_type=data["object_type"],
        fields={name: (text, versions[position]) for name, (text, position) in data["fields"].items()},
        deleted=None if deleted is None else (bool(deleted[0]), versions[deleted[1]]),
        latest_version=versions[data["latest_version"]],
        changed_by=_changed_by(data.get("changed_by")),
        history=tuple((name, text, versions[position]) for name, text, position in data.get("history", ())),
    )


def _changed_by(value: Any) -> tuple[str, str]:
    return ("", "") if not value else (str(value[0]), str(value[1]))
