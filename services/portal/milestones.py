"""Milestones on the portal's live feed: the notifier's ``notifications`` records, projected once per key.

The notifier detects milestones and records each under its key on the compacted topic ``notifications``
(first ``pending``, then rewritten ``delivered``; its last standing per rep and period sits in the same topic).
The portal does not detect them again: its consumer reads that topic with the portal's own group, keeps each
milestone in ``portal.notifications`` keyed by the milestone key, and pushes only a key it had not held, so a
redelivery, the ``delivered`` rewrite, a restart or a full replay pushes nothing twice. Any kind is handled:
the sentence is rebuilt in the reader's language from the record's fields by ``attain/notify/messages.py``,
and a kind the catalogues do not know yet shows the sentence the notifier recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from babel import UnknownLocaleError
from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

from attain.contracts.notifications import STANDING, NotificationRecord
from attain.notify.messages import sentence
from services.portal.readmodel import json_rows, run_ddl

SCHEMA = """
CREATE TABLE IF NOT EXISTS portal.notifications (
  key text PRIMARY KEY, rep_id text NOT NULL, period text NOT NULL, kind text NOT NULL, fields jsonb NOT NULL,
  sentence text NOT NULL, recorded_at bigint NOT NULL);
CREATE INDEX IF NOT EXISTS notifications_rep ON portal.notifications (rep_id, recorded_at DESC)
"""


def ensure_schema(engine: Engine) -> None:
    """The table beside the read model's (schema ``portal``, created first by readmodel.ensure_schema)."""
    run_ddl(engine, SCHEMA)


def is_milestone(record: NotificationRecord) -> bool:
    """A milestone to show, not the notifier's bookkeeping of the last standing it saw."""
    return record.status != STANDING


def apply_notifications(connection: Connection, records: Iterable[NotificationRecord]) -> list[NotificationRecord]:
    """Keep each milestone once per key (one statement per batch); returns those not held before (the ones to
    push), in order. A key twice in a batch (recorded ``pending``, then rewritten ``delivered``) is one."""
    first: dict[str, NotificationRecord] = {}
    for record in records:
        if is_milestone(record):
            first.setdefault(record.key, record)
    if not first:
        return []
    inserted = set(connection.execute(text(
        "INSERT INTO portal.notifications (key, rep_id, period, kind, fields, sentence, recorded_at) "
        "SELECT * FROM json_to_recordset(CAST(:rows AS json)) AS t(key text, rep_id text, period text, kind text, "
        "fields jsonb, sentence text, recorded_at bigint) ON CONFLICT (key) DO NOTHING RETURNING key"), json_rows(
            {"key": r.key, "rep_id": r.rep_id, "period": r.period, "kind": r.kind, "fields": dict(r.fields),
             "sentence": r.sentence, "recorded_at": r.recorded_at} for r in first.values())).scalars())
    return [record for record in first.values() if record.key in inserted]


def notifications_of(engine: Engine, rep_id: str, limit: int = 10) -> list[NotificationRecord]:
    """The rep's latest milestones, newest first."""
    with engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT * FROM portal.notifications WHERE rep_id = :r ORDER BY recorded_at DESC, key LIMIT :n"),
            {"r": rep_id, "n": limit})
        return [NotificationRecord(row.key, row.kind, row.rep_id, row.period, "", dict(row.fields), row.sentence,
                                   recorded_at=row.recorded_at) for row in rows]


def milestone_text(record: NotificationRecord, locale: str) -> str:
    """The human sentence in the reader's language; the recorded one for a kind the catalogues lack."""
    try:
        return sentence(record.milestone(), locale)
    except (KeyError, ValueError, ArithmeticError, UnknownLocaleError):
        return record.sentence or record.kind


def milestone_view(record: NotificationRecord, locale: str) -> dict[str, Any]:
    return {"key": record.key, "kind": record.kind, "text": milestone_text(record, locale),
            "recorded_at": record.recorded_at}
