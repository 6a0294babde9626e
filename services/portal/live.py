"""The portal's consumer and its live fan-out.

One thread reads ``crm.changes``, ``earnings`` and the notifier's ``notifications`` with the portal's own
consumer group, writes each batch into the read model in one transaction and commits the offsets after it (a
crash replays the batch: the projection ignores what it holds). The deltas and milestones a batch made go,
through PostgreSQL (services/portal/fanout.py), to the :class:`Hub` of every portal replica, which hands them to
each open SSE stream of that rep; a stream that falls ``queue_size`` behind is closed, connection and all (the
browser reconnects and reloads), so a slow client never holds up the consumer or the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence

from confluent_kafka import Consumer, KafkaError, KafkaException, Message
from prometheus_client import Counter, Histogram
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from attain.contracts.crm_changes import change_from_avro, crm_change_record
from attain.contracts.dead_letters import ErrorCode
from attain.contracts.earnings import EarningsSnapshot
from attain.contracts.notifications import NotificationRecord
from attain.core.plans import PlanBook
from attain.core.records import CrmChange
from attain.platform import topics
from attain.platform.consume import decode_messages, decoder, take
from services.portal.fanout import notify_items
from services.portal.gauges import measure_lag
from services.portal.milestones import apply_notifications
from services.portal.readmodel import Delta, apply_changes, apply_snapshots

log = logging.getLogger("attain.portal")
PROJECTED = Counter("attain_portal_projected_total", "Messages projected into the read model", ["topic"])
UNREADABLE = Counter("attain_portal_unreadable_total", "Messages the portal could not decode (their owners "
                     "dead-letter them)", ["topic"])
PUSHED = Counter("attain_portal_deltas_pushed_total", "Deltas sent to open SSE streams")
DROPPED = Counter("attain_portal_streams_dropped_total", "SSE streams closed because their client fell behind")
# The live feed's last hop, per delta, in steps (docs/benchmarks.md, "The portal's live feed"): ``fetched``, from
# the snapshot's computed_at to the consumer having it; ``projected``, from then to the delta handed to the event
# loop (the batch's transaction and offset commit); ``loop``, from then to the hub putting it in the queues.
STEP = Histogram("attain_portal_delta_step_seconds", "The live feed's last hop per delta, by step", ["step"],
                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))
RECONNECTED = Counter("attain_portal_database_reconnects_total", "Batches projected again on a new database "
                      "connection after the consumer's was lost")
Closed = object()  # the last item of a queue whose subscriber fell behind


Item = Delta | NotificationRecord  # what a stream is sent: a delta of pay, or a milestone


class Hub:
    """Per-rep fan-out of deltas and milestones to subscriber queues (used on the event loop only).

    A stream whose queue is full is dropped here, not just told so: its ``drop`` callback (the handler's
    transport abort) closes the connection, since a handler stuck writing to a client that stopped reading
    would never come back to its queue to see ``Closed``.
    """

    def __init__(self, queue_size: int) -> None:
        self._queue_size = queue_size
        self._subscribers: dict[str, dict[asyncio.Queue[object], Callable[[], None] | None]] = defaultdict(dict)

    def subscribe(self, rep_id: str, drop: Callable[[], None] | None = None) -> asyncio.Queue[object]:
        queue: asyncio.Queue[object] = asyncio.Queue(self._queue_size + 1)
        self._subscribers[rep_id][queue] = drop
        return queue

    def unsubscribe(self, rep_id: str, queue: asyncio.Queue[object]) -> None:
        streams = self._subscribers.get(rep_id)
        if streams is not None:
            streams.pop(queue, None)
            if not streams:
                del self._subscribers[rep_id]

    def publish_all(self, items: Sequence[Item], handed_at: float) -> None:
        """Publish a batch's items (called on the loop, by the fan-out listener's thread, at ``handed_at``)."""
        for item in items:
            if isinstance(item, Delta):
                STEP.labels("loop").observe(time.time() - handed_at)
            self.publish(item)

    def publish(self, item: Item) -> None:
        for queue, drop in list(self._subscribers.get(item.rep_id, {}).items()):
            if queue.qsize() >= self._queue_size:
                DROPPED.inc()
                queue.put_nowait(Closed)
                self.unsubscribe(item.rep_id, queue)
                if drop is not None:
                    drop()
            else:
                queue.put_nowait(item)

    def close_all(self) -> None:
        """End every open stream (the service is stopping): each handler sees ``Closed`` and returns."""
        for rep_id, queues in list(self._subscribers.items()):
            for queue in list(queues):
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(Closed)
            del self._subscribers[rep_id]

    def count(self, rep_id: str | None = None) -> int:
        """Open streams (of ``rep_id``, or all)."""
        if rep_id is not None:
            return len(self._subscribers.get(rep_id, {}))
        return sum(len(queues) for queues in self._subscribers.values())


COMMIT_SECONDS = 1.0  # offsets committed (and the lag gauge set) at most this often, when idle, and at the end


def commit(consumer: Consumer, wait: bool = False) -> None:
    """Commit the consumed offsets, without waiting for the broker's answer unless ``wait`` (a batch of only
    consumer errors has none to commit). Waiting would hold the next batch for a round trip; a commit lost to a
    crash only replays batches the tables already hold, which push nothing again."""
    try:
        consumer.commit(asynchronous=not wait)
    except KafkaException as error:
        if error.args[0].code() != KafkaError._NO_OFFSET:
            raise


def _unreadable(message: Message, reason: str, code: ErrorCode) -> None:
    UNREADABLE.labels(message.topic() or "").inc()  # ingest / the ledger dead-letter the same message
    log.warning("unreadable message", extra={"topic": message.topic(), "reason": reason, "error_code": code})


EVERY_TOPIC = (topics.CRM_CHANGES, topics.EARNINGS, topics.NOTIFICATIONS)
CHANGES_TOPICS = (topics.CRM_CHANGES,)  # the bulk: every CRM change, hundreds a second in a burst
LIVE_TOPICS = (topics.EARNINGS, topics.NOTIFICATIONS)  # what a stream waits for: never queued behind the bulk


def consume(consumer: Consumer, engine: Engine, book: PlanBook | None, stopping: threading.Event,
            assigned: threading.Event,
            subscribed: Sequence[str] = EVERY_TOPIC) -> None:
    """Project every message of ``subscribed``, batch by batch (runs in a thread).

    The service runs two: one for ``crm.changes`` and one for ``earnings`` and ``notifications`` (each with a
    consumer group of its own), so a burst of CRM changes never holds up the deltas people are waiting for.

    Per batch: one transaction (changes first: a delta names the deal of the same batch) that also sends the new
    deltas and milestones to every replica (``NOTIFY``, delivered when it commits); the offsets are committed
    after it, at most every :data:`COMMIT_SECONDS`, once no message is waiting, and when the loop stops.
    Pushing before the offset commit is safe because the tables decide what is new: a batch replayed after a
    crash between the two pushes nothing again. Each replica's :class:`services.portal.fanout.Listener` feeds
    its own :class:`Hub`.
    """
    assert isinstance(engine, Engine)
    read_change = decoder(topics.CRM_CHANGES, crm_change_record)
    read_snapshot = decoder(topics.EARNINGS, EarningsSnapshot.from_avro)
    read_record = decoder(topics.NOTIFICATIONS, NotificationRecord.from_avro)
    consumer.subscribe(list(subscribed), on_assign=lambda *_: assigned.set())

    def checkpoint(wait: bool = False) -> float:
        """Commit the positions (every message taken is projected by now) and set the lag gauge; when it did."""
        commit(consumer, wait)
        measure_lag(consumer, subscribed)
        return time.monotonic()

    committed_at, uncommitted = 0.0, False
    try:
        # one connection for the thread's life: a pool checkout per batch cost a pre-ping round trip each
        with engine.connect() as connection:
            while not stopping.is_set():
                batch = take(consumer, 500, 0.1)
                if not batch:
                    if uncommitted:  # the feed went quiet: commit what it projected
                        committed_at, uncommitted = checkpoint(), False
                    continue
                fetched_at = time.time()
                by_topic: dict[str | None, list[Message]] = defaultdict(list)
                for message in batch:  # a tombstone on the compacted notifications topic is no milestone
                    if message.error() or message.value() is not None:
                        by_topic[message.topic()].append(message)
                changes = [change_from_avro(record) for record, _ in
                           decode_messages(by_topic[topics.CRM_CHANGES], read_change, _unreadable)]
                snapshots = [s for s, _ in decode_messages(by_topic[topics.EARNINGS], read_snapshot, _unreadable)]
                records = [r for r, _ in decode_messages(by_topic[topics.NOTIFICATIONS], read_record, _unreadable)]
                deltas = project(connection, changes, snapshots, records, book)
                handed_at = time.time()
                for delta in deltas:
                    STEP.labels("fetched").observe(max(0.0, fetched_at - delta.computed_at / 1000))
                    STEP.labels("projected").observe(handed_at - fetched_at)
                uncommitted = True
                if time.monotonic() - committed_at >= COMMIT_SECONDS:  # each commit is a write on the broker
                    committed_at, uncommitted = checkpoint(), False
                PROJECTED.labels(topics.CRM_CHANGES).inc(len(changes))
                PROJECTED.labels(topics.EARNINGS).inc(len(snapshots))
                PROJECTED.labels(topics.NOTIFICATIONS).inc(len(records))
            checkpoint(wait=True)
    finally:
        consumer.close()


def project(connection: Connection, changes: Sequence[CrmChange], snapshots: Sequence[EarningsSnapshot],
            records: Sequence[NotificationRecord], book: PlanBook | None) -> list[Delta]:
    """Project one batch in one transaction that also sends its new deltas and milestones to every replica's hub
    (``NOTIFY``, delivered once it commits: services/portal/fanout.py); returns the deltas.

    ``connection`` is held across batches, so a lost one (PostgreSQL restarted, the backend ended) shows here:
    the batch runs once more on a new connection, which the projection's idempotence makes safe (a first try
    that did commit leaves nothing new to push). A second failure ends the loop, as any other error does.
    """
    def once() -> list[Delta]:
        with connection.begin():
            apply_changes(connection, changes, book)
            deltas = apply_snapshots(connection, snapshots, book)
            milestones = apply_notifications(connection, records)
            notify_items(connection, [*deltas, *milestones])
        return deltas

    try:
        return once()
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
        RECONNECTED.inc()
        log.warning("read model: the database connection was lost; the batch again on a new one",
                    extra={"error": str(error.orig)})
    return once()
