"""Live deltas and milestones to every portal replica, through PostgreSQL ``NOTIFY``.

Replicas share one consumer group, so each projects only the partitions it owns; but a rep's SSE stream may be
open on any replica. So the consumer does not hand a delta to its own hub: it sends it with ``pg_notify`` in
the transaction that wrote it (PostgreSQL delivers a notification only once that transaction commits, and never
for one rolled back), and every replica's :class:`Listener` ``LISTEN``s on the channel and publishes each delta
to its own hub. A listener that loses its connection reconnects; deltas sent meanwhile are not replayed to open
streams (the page shows them from ``portal.deltas`` on its next load, as after any reconnect).

A milestone travels the same way. A notification's payload is limited to 8,000 bytes, so a delta or a milestone
too large to carry (a long deal name, a long list of deals) travels as its key only and the listener reads it
from ``portal.deltas`` or ``portal.notifications``, which the same transaction wrote.
"""

from __future__ import annotations

import asyncio
import decimal
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from decimal import Decimal
from types import SimpleNamespace

import psycopg
from prometheus_client import Counter
from psycopg.rows import dict_row
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url

from attain.contracts.notifications import NotificationRecord
from services.portal.readmodel import Delta

Item = Delta | NotificationRecord

log = logging.getLogger("attain.portal")
UNREADABLE = Counter("attain_portal_notifications_unreadable_total",
                     "Live-feed notifications (PostgreSQL NOTIFY) this replica could not read and passed over")
CHANNEL = "attain_portal_deltas"
LARGEST = 7900  # bytes of a NOTIFY payload (PostgreSQL's limit is 8,000)


def payload(delta: Delta) -> str:
    whole = json.dumps({"type": "delta", "rep_id": delta.rep_id, "period": delta.period,
                        "snapshot_version": delta.snapshot_version, "currency": delta.currency,
                        "amount": str(delta.amount), "total": str(delta.total), "deal": delta.deal,
                        "tier_from": delta.tier_from, "tier_to": delta.tier_to, "computed_at": delta.computed_at,
                        "ingested_at": delta.ingested_at})
    if len(whole.encode()) <= LARGEST:
        return whole
    return json.dumps({"type": "delta", "ref": [delta.rep_id, delta.period, delta.snapshot_version],
                       "ingested_at": delta.ingested_at})


def delta_of(raw: str) -> Delta:
    fields = json.loads(raw)
    return Delta(fields["rep_id"], fields["period"], int(fields["snapshot_version"]), fields["currency"],
                 Decimal(fields["amount"]), Decimal(fields["total"]), fields["deal"], fields["tier_from"],
                 fields["tier_to"], int(fields["computed_at"]), fields.get("ingested_at"))


def milestone_payload(record: NotificationRecord) -> str:
    whole = json.dumps({"type": "milestone", "key": record.key, "kind": record.kind, "rep_id": record.rep_id,
                        "period": record.period, "fields": dict(record.fields), "sentence": record.sentence,
                        "recorded_at": record.recorded_at})
    return whole if len(whole.encode()) <= LARGEST else json.dumps({"type": "milestone", "key": record.key})


def milestone_of(fields: dict[str, object]) -> NotificationRecord:
    raw = fields["fields"]
    assert isinstance(raw, dict)
    return NotificationRecord(str(fields["key"]), str(fields["kind"]), str(fields["rep_id"]), str(fields["period"]),
                              "", {str(k): str(v) for k, v in raw.items()}, str(fields["sentence"]),
                              recorded_at=int(str(fields["recorded_at"])))


def notify_items(connection: Connection, items: Iterable[Item]) -> None:
    """Send each delta or milestone, in order, to every replica's listener once ``connection``'s transaction
    commits (one statement for the whole batch)."""
    payloads = [payload(item) if isinstance(item, Delta) else milestone_payload(item) for item in items]
    if payloads:
        connection.execute(text("SELECT pg_notify(:channel, p) FROM json_array_elements_text(CAST(:items AS json)) p"),
                           {"channel": CHANNEL, "items": json.dumps(payloads)})


class Listener:
    """A thread that ``LISTEN``s for deltas and milestones and hands each batch to ``publish`` on the event loop
    (with the time it was received)."""

    def __init__(self, database_url: str, loop: asyncio.AbstractEventLoop,
                 publish: Callable[[list[Item], float], None]) -> None:
        self._conninfo = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._loop, self._publish = loop, publish
        self._stopping = threading.Event()
        self.listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name="portal-deltas", daemon=True)

    def start(self) -> Listener:
        self._thread.start()
        return self

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    while not self._stopping.is_set():
                        for notification in connection.notifies(timeout=0.5):
                            item = self._readable(notification.payload)
                            if item is not None:
                                self._loop.call_soon_threadsafe(self._publish, [item], time.time())
            except psycopg.Error as error:
                self.listening.clear()
                self._close_reader()
                log.warning("live deltas: the database connection failed; listening again",
                            extra={"error": str(error)})
                self._stopping.wait(1)

    _reader: psycopg.Connection[dict[str, object]] | None = None

    def _readable(self, raw: str) -> Item | None:
        """The item a notification carries; None (counted, logged) for one this replica cannot read, so a
        payload of a newer replica during a rolling upgrade, or anyone's stray ``NOTIFY`` on the channel, never
        ends the thread that feeds every live stream of this replica."""
        try:
            return self._item(raw)
        except (ValueError, KeyError, TypeError, AttributeError, decimal.InvalidOperation) as error:
            UNREADABLE.inc()
            log.warning("live deltas: a notification this replica cannot read was passed over",
                        extra={"error": repr(error), "payload": raw[:200]})
            return None

    def _item(self, raw: str) -> Item | None:
        fields = json.loads(raw)
        if fields.get("type", "delta") == "delta":
            return self._stored_delta(fields["ref"], fields.get("ingested_at")) if "ref" in fields else delta_of(raw)
        if "fields" in fields:
            return milestone_of(fields)
        return self._stored_milestone(str(fields["key"]))

    def _read(self) -> psycopg.Connection[dict[str, object]]:
        if self._reader is None or self._reader.closed:
            self._reader = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5, row_factory=dict_row)
        return self._reader

    def _stored_delta(self, ref: list[object], ingested_at: int | None) -> Delta | None:
        """A delta too large for its notification, read from the table the consumer wrote it to."""
        row = self._read().execute("SELECT * FROM portal.deltas WHERE rep_id = %s AND period = %s "
                                   "AND snapshot_version = %s", ref).fetchone()
        return None if row is None else replace(Delta.of_row(SimpleNamespace(**row)), ingested_at=ingested_at)

    def _stored_milestone(self, key: str) -> NotificationRecord | None:
        """A milestone too large for its notification, read from the table the consumer wrote it to."""
        row = self._read().execute("SELECT key, kind, rep_id, period, fields, sentence, recorded_at "
                                   "FROM portal.notifications WHERE key = %s", (key,)).fetchone()
        return None if row is None else milestone_of(row)

    def _close_reader(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
