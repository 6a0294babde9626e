"""Live deltas to every portal replica, through PostgreSQL ``NOTIFY``.

Replicas share one consumer group, so each projects only the partitions it owns; but a rep's SSE stream may be
open on any replica. So the consumer does not hand a delta to its own hub: it sends it with ``pg_notify`` in
the transaction that wrote it (PostgreSQL delivers a notification only once that transaction commits, and never
for one rolled back), and every replica's :class:`Listener` ``LISTEN``s on the channel and publishes each delta
to its own hub. A listener that loses its connection reconnects; deltas sent meanwhile are not replayed to open
streams (the page shows them from ``portal.deltas`` on its next load, as after any reconnect).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Iterable
from decimal import Decimal

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url

from services.portal.readmodel import Delta

log = logging.getLogger("attain.portal")
CHANNEL = "attain_portal_deltas"


def payload(delta: Delta) -> str:
    return json.dumps({"rep_id": delta.rep_id, "period": delta.period, "snapshot_version": delta.snapshot_version,
                       "currency": delta.currency, "amount": str(delta.amount), "total": str(delta.total),
                       "deal": delta.deal, "tier_from": delta.tier_from, "tier_to": delta.tier_to,
                       "computed_at": delta.computed_at})


def delta_of(raw: str) -> Delta:
    fields = json.loads(raw)
    return Delta(fields["rep_id"], fields["period"], int(fields["snapshot_version"]), fields["currency"],
                 Decimal(fields["amount"]), Decimal(fields["total"]), fields["deal"], fields["tier_from"],
                 fields["tier_to"], int(fields["computed_at"]))


def notify_deltas(connection: Connection, deltas: Iterable[Delta]) -> None:
    """Send each delta to every replica's listener once ``connection``'s transaction commits."""
    for delta in deltas:
        connection.execute(text("SELECT pg_notify(:channel, :payload)"),
                           {"channel": CHANNEL, "payload": payload(delta)})


class Listener:
    """A thread that ``LISTEN``s for deltas and hands each to ``publish`` on the event loop."""

    def __init__(self, database_url: str, loop: asyncio.AbstractEventLoop, publish: Callable[[Delta], None]) -> None:
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
                            self._loop.call_soon_threadsafe(self._publish, delta_of(notification.payload))
            except psycopg.Error as error:
                self.listening.clear()
                log.warning("live deltas: the database connection failed; listening again",
                            extra={"error": str(error)})
                self._stopping.wait(1)
