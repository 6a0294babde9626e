"""Which CRM changes are behind a ledger line: the deal each event changed, and who changed it at the CRM.

Entries name the ingest events behind them (``source_event_ids``); earnings v4 snapshots also say, per
event, the record it changed and its ``change_origin`` and ``commit_user`` (Salesforce ``changeOrigin``
and ``commitUser``). The reconciling transaction keeps those in ``source_changes``, one row per event
(an event's record and author never change, so a replay adds nothing); a dispute reads them back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert

from attain.contracts.earnings import EarningsSnapshot
from services.ledger.schema import source_changes


def record_changes(connection: Connection, snapshots: Iterable[EarningsSnapshot]) -> None:
    """Keep the changes the booked ``snapshots`` carry (v4); snapshots without any add nothing."""
    rows = {change.event_id: {"event_id": change.event_id, "record_id": change.record_id,
                              "change_origin": change.change_origin or None,
                              "commit_user": change.commit_user or None}
            for snapshot in snapshots for change in snapshot.changes}
    if rows:
        connection.execute(insert(source_changes).on_conflict_do_nothing(), list(rows.values()))


def changes_behind(connection: Connection, event_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Per event id, in the entry's order: the deal it changed and who changed it (``record_id`` null for an
    event booked before snapshots carried changes, or from a source that does not send them)."""
    return changes_of_each(connection, [event_ids])[0]


def changes_of_each(connection: Connection, lists: Sequence[Sequence[str]]) -> list[list[dict[str, Any]]]:
    """:func:`changes_behind` of each list of event ids (the lines of a statement), in one query."""
    wanted = sorted({event_id for event_ids in lists for event_id in event_ids})
    known = {row.event_id: row for row in connection.execute(
        select(source_changes).where(source_changes.c.event_id.in_(wanted)))} if wanted else {}
    return [[_change(event_id, known.get(event_id)) for event_id in event_ids] for event_ids in lists]


def _change(event_id: str, row: Any) -> dict[str, Any]:
    return {"event_id": event_id, "record_id": row.record_id if row else None,
            "change_origin": row.change_origin if row else None, "commit_user": row.commit_user if row else None}
