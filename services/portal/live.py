"""The portal's consumer and its live fan-out.

One thread reads ``crm.changes`` and ``earnings`` with the portal's own consumer group, writes each batch into
the read model in one transaction and commits the offsets after it (a crash replays the batch: the projection
ignores what it holds). The deltas a batch made go to :class:`Hub`, which hands them to each open SSE stream
of that rep; a stream that falls ``queue_size`` behind is closed (the browser reconnects and reloads), so a
slow client never holds up the consumer or the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import defaultdict

from confluent_kafka import Consumer, KafkaError, KafkaException, Message
from prometheus_client import Counter, Histogram

from attain.contracts.crm_changes import change_from_avro, crm_change_record
from attain.contracts.dead_letters import ErrorCode
from attain.contracts.earnings import EarningsSnapshot
from attain.core.plans import PlanBook
from attain.platform import topics
from attain.platform.consume import decode_messages, decoder
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
Closed = object()  # the last item of a queue whose subscriber fell behind


class Hub:
    """Per-rep fan-out of deltas to subscriber queues (used on the event loop only)."""

    def __init__(self, queue_size: int) -> None:
        self._queue_size = queue_size
        self._subscribers: dict[str, set[asyncio.Queue[object]]] = defaultdict(set)

    def subscribe(self, rep_id: str) -> asyncio.Queue[object]:
        queue: asyncio.Queue[object] = asyncio.Queue(self._queue_size + 1)
        self._subscribers[rep_id].add(queue)
        return queue

    def unsubscribe(self, rep_id: str, queue: asyncio.Queue[object]) -> None:
        self._subscribers[rep_id].discard(queue)
        if not self._subscribers[rep_id]:
            del self._subscribers[rep_id]

    def publish_all(self, deltas: list[Delta], handed_at: float) -> None:
        """Publish a batch's deltas (called on the loop by the consumer thread at ``handed_at``)."""
        loop = STEP.labels("loop")
        for delta in deltas:
            loop.observe(time.time() - handed_at)
            self.publish(delta)

    def publish(self, delta: Delta) -> None:
        for queue in list(self._subscribers.get(delta.rep_id, ())):
            if queue.qsize() >= self._queue_size:
                DROPPED.inc()
                queue.put_nowait(Closed)
                self.unsubscribe(delta.rep_id, queue)
            else:
                queue.put_nowait(delta)

    def close_all(self) -> None:
        """End every open stream (the service is stopping): each handler sees ``Closed`` and returns."""
        for rep_id, queues in list(self._subscribers.items()):
            for queue in list(queues):
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(Closed)
            del self._subscribers[rep_id]

    def count(self) -> int:
        return sum(len(queues) for queues in self._subscribers.values())


def commit(consumer: Consumer) -> None:
    """Commit the consumed offsets (a batch of only consumer errors has none to commit)."""
    try:
        consumer.commit(asynchronous=False)
    except KafkaException as error:
        if error.args[0].code() != KafkaError._NO_OFFSET:
            raise


def _unreadable(message: Message, reason: str, code: ErrorCode) -> None:
    UNREADABLE.labels(message.topic() or "").inc()  # ingest / the ledger dead-letter the same message
    log.warning("unreadable message", extra={"topic": message.topic(), "reason": reason, "error_code": code})


def consume(consumer: Consumer, engine: object, book: PlanBook | None, loop: asyncio.AbstractEventLoop, hub: Hub,
            stopping: threading.Event, assigned: threading.Event) -> None:
    """Project every message, batch by batch, committing offsets after the database (runs in a thread)."""
    from sqlalchemy import Engine

    assert isinstance(engine, Engine)
    read_change = decoder(topics.CRM_CHANGES, crm_change_record)
    read_snapshot = decoder(topics.EARNINGS, EarningsSnapshot.from_avro)
    consumer.subscribe([topics.CRM_CHANGES, topics.EARNINGS], on_assign=lambda *_: assigned.set())
    try:
        while not stopping.is_set():
            batch = consumer.consume(500, 0.1)
            if not batch:
                continue
            fetched_at = time.time()
            crm = [m for m in batch if m.topic() == topics.CRM_CHANGES]
            earnings = [m for m in batch if m.topic() == topics.EARNINGS]
            changes = [change_from_avro(record) for record, _ in decode_messages(crm, read_change, _unreadable)]
            snapshots = [s for s, _ in decode_messages(earnings, read_snapshot, _unreadable)]
            with engine.begin() as connection:  # changes first: a delta names the deal of the same batch
                apply_changes(connection, changes, book)
                deltas = apply_snapshots(connection, snapshots, book)
            commit(consumer)
            PROJECTED.labels(topics.CRM_CHANGES).inc(len(changes))
            PROJECTED.labels(topics.EARNINGS).inc(len(snapshots))
            handed_at = time.time()
            for delta in deltas:
                STEP.labels("fetched").observe(max(0.0, fetched_at - delta.computed_at / 1000))
                STEP.labels("projected").observe(handed_at - fetched_at)
            if deltas:
                loop.call_soon_threadsafe(hub.publish_all, deltas, handed_at)
    finally:
        consumer.close()
