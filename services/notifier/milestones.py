"""Milestones from the earnings, payouts and ledger.events streams, recorded once per key, delivered at least once.

The durable record is the compacted topic ``notifications`` (docs/notifications.md, "The record"): before
a milestone is delivered anywhere its record is written (status ``pending``) and flushed, and only then is
the input's offset committed; after every chosen channel took it (or dead-lettered it) the record is
rewritten ``delivered``. At start the notifier reads the whole topic: a key already recorded is never
recorded or sent again; a ``pending`` one is delivered again (at least once). The last standing seen per
(rep, period) is kept in the same topic (``standing|rep|period``), so a restart compares the next snapshot
with the one before it, not with nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from confluent_kafka import Consumer, Message, Producer
from tenacity import AsyncRetrying, stop_after_attempt, wait_exponential

from attain.contracts.dead_letters import ErrorCode
from attain.contracts.earnings import EarningsSnapshot
from attain.contracts.ledger_events import LedgerEvent
from attain.contracts.notifications import (
    DELIVERED,
    PENDING,
    STANDING,
    NotificationRecord,
    preferences_from_avro,
    preferences_to_avro,
    standing_key,
)
from attain.contracts.payouts import PayoutLine
from attain.core.milestones import ComponentStanding, Milestone, Standing, approved, detect, from_ledger
from attain.core.plans import PlanBook
from attain.core.tiers import Tier
from attain.notify.messages import sentence, text
from attain.notify.preferences import Preferences, deliver_at
from attain.platform import topics
from attain.platform.avro import contract
from attain.platform.kafka import dead_letter, produce_when_room
from attain.platform.reading import read_until_idle
from attain.platform.settings import KafkaSettings
from services.notifier import metrics
from services.notifier.channels import Channels, DeliveryError, Outgoing
from services.notifier.proto import notifier_pb2

log = logging.getLogger("attain.notifier.milestones")


def standing_of(snapshot: EarningsSnapshot) -> Standing:
    """The core's view of a snapshot: amounts as Decimals, the deals behind it from ``changes``."""
    deals = tuple(dict.fromkeys(change.record_id for change in snapshot.changes))
    return Standing(snapshot.rep_id, snapshot.period, snapshot.currency, snapshot.snapshot_version,
                    Decimal(snapshot.total_earned),
                    tuple(ComponentStanding(c.component_id, Decimal(c.earned_amount),
                                            Decimal(c.attainment_ratio) if c.attainment_ratio else None)
                          for c in snapshot.components if c.kind is None), deals)


class Store:
    """The two compacted topics in memory: records by key, preferences by person; writes go to the broker first."""

    def __init__(self, kafka: KafkaSettings, producer: Producer) -> None:
        self._kafka = kafka
        self._producer = producer
        self.records: dict[str, NotificationRecord] = {}
        self.preferences: dict[str, Preferences] = {}
        self._lock = threading.Lock()
        self._failed: list[str] = []

    def load(self) -> None:
        records, preferences = contract(topics.NOTIFICATIONS), contract(topics.NOTIFICATION_PREFERENCES)
        for message in read_until_idle(self._kafka, topics.NOTIFICATIONS, idle_seconds=0.5):
            if message.value() is not None:
                record = NotificationRecord.from_avro(records.decode(message.value()))
                self.records[record.key] = record
        for message in read_until_idle(self._kafka, topics.NOTIFICATION_PREFERENCES, idle_seconds=0.5):
            if message.value() is not None:
                kept = preferences_from_avro(preferences.decode(message.value()))
                self.preferences[kept.person_id] = kept

    def write(self, record: NotificationRecord) -> None:
        """Record durably (flushed: the broker has it), then in memory."""
        self.stage(record)
        self.flush()

    def stage(self, record: NotificationRecord) -> None:
        """Send the record and keep it in memory; durable once :meth:`flush` returns (one flush per batch)."""
        produce_when_room(self._producer, topics.NOTIFICATIONS, contract(topics.NOTIFICATIONS).encode(record.to_avro()),
                          record.key.encode(), on_delivery=self._delivered)
        with self._lock:
            self.records[record.key] = record

    def _delivered(self, error: object, _message: object) -> None:
        if error is not None:
            self._failed.append(str(error))

    def flush(self) -> None:
        """Every staged record is on the broker, or RuntimeError (the input's offset is then not committed)."""
        if self._producer.flush(30) or self._failed:
            failed, self._failed = self._failed, []
            raise RuntimeError(f"could not record on {topics.NOTIFICATIONS}: {failed or 'flush timed out'}")

    def dead_letter(self, message: Message, reason: str) -> None:
        """An input that makes no milestone, kept on ``notifications.dlq`` (sent with the batch's flush)."""
        envelope = dead_letter(original=message.value() or b"", reason=reason, error_code=ErrorCode.UNDECODABLE,
                               source=f"{message.topic()}:{message.partition()}:{message.offset()}",
                               service="notifier")
        produce_when_room(self._producer, topics.NOTIFICATIONS_DLQ, envelope, message.key(),
                          on_delivery=self._delivered)

    def put_preferences(self, preferences: Preferences, by: str) -> None:
        """Keep ``preferences`` (flushed: the broker has them), then in memory."""
        failed: list[str] = []
        produce_when_room(self._producer, topics.NOTIFICATION_PREFERENCES,
                          contract(topics.NOTIFICATION_PREFERENCES).encode(preferences_to_avro(preferences, by)),
                          preferences.person_id.encode(),
                          on_delivery=lambda error, _m: failed.append(str(error)) if error else None)
        if self._producer.flush(30) or failed:
            raise RuntimeError(f"could not keep {preferences.person_id}'s preferences: {failed or 'flush timed out'}")
        with self._lock:
            self.preferences[preferences.person_id] = preferences

    def standing(self, rep_id: str, period: str) -> Standing | None:
        record = self.records.get(standing_key(rep_id, period))
        return record.to_standing() if record is not None else None

    def of_rep(self, rep_id: str) -> list[NotificationRecord]:
        with self._lock:
            found = [r for r in self.records.values() if r.rep_id == rep_id and r.status != STANDING]
        return sorted(found, key=lambda r: (r.recorded_at, r.key))


def tiers_of(book: PlanBook | None) -> Callable[[str], dict[str, tuple[Tier, ...]]]:
    """Per rep: each component's attainment tiers in the rep's plan (none without the plan files)."""
    def tiers(rep_id: str) -> dict[str, tuple[Tier, ...]]:
        plan = book.plan_for(rep_id) if book is not None else None
        if plan is None:
            return {}
        return {c.component_id: c.rate.tiers for c in plan.components if c.rate.basis == "attainment"}
    return tiers


def approval_of(line: PayoutLine) -> Milestone:
    """The ``approved`` milestone of one payout line, under the line's scope: each scope's period is approved on
    its own, so a rep paid under two scopes has two lines of one period and currency, and two milestones."""
    return approved(line.rep_id, line.period, line.scope, line.currency, Decimal(line.amount), line.approved_by,
                    line.payout_id)


# What one input makes: its milestones, and (for an earnings snapshot) the standing to keep.
Found = tuple[list[Milestone], NotificationRecord | None]


class Detector:
    """Runs in the consumer thread: snapshot or payout line in, new milestones recorded (pending) out."""

    def __init__(self, store: Store, thresholds: Sequence[Decimal],
                 tiers: Callable[[str], dict[str, tuple[Tier, ...]]] = lambda _rep: {}) -> None:
        self.store = self._store = store
        self._thresholds = tuple(thresholds)
        self._tiers = tiers
        self._earnings, self._payouts = contract(topics.EARNINGS), contract(topics.PAYOUTS)
        self._ledger = contract(topics.LEDGER_EVENTS)

    def found_in(self, topic: str, value: bytes) -> Found:
        """What one input makes (milestones, and the standing to keep for an earnings snapshot), writing nothing;
        it raises for an input that makes nothing (unreadable, a ledger fact of an unknown kind).

        Reading apart from :meth:`record`: only a bad input may be skipped or dead-lettered, never a failure to
        write its milestones (a full producer queue, a broker error), which must not lose them."""
        if topic == topics.EARNINGS:
            after = standing_of(EarningsSnapshot.from_avro(self._earnings.decode(value)))
            before = self._store.standing(after.rep_id, after.period)
            if before is not None and after.version <= before.version:
                return [], None  # a replay or a stale copy
            found = detect(before, after, self._thresholds, self._tiers(after.rep_id))
            return found, NotificationRecord.standing(after)
        if topic == topics.LEDGER_EVENTS:  # a statement issued, paid, a dispute answered, a statement changed
            event = LedgerEvent.from_avro(self._ledger.decode(value))
            return [from_ledger(event.fact, event.scope)], None
        return [approval_of(PayoutLine.from_avro(self._payouts.decode(value)))], None

    def record(self, found: Found) -> list[NotificationRecord]:
        """Stage what :meth:`found_in` found; the new records (their keys not recorded before)."""
        milestones, standing = found
        new = self._record(milestones)
        if standing is not None:
            self._store.stage(standing)
        return new

    def _record(self, milestones: list[Milestone]) -> list[NotificationRecord]:
        new = []
        for milestone in milestones:
            if milestone.key in self._store.records:
                continue  # recorded once per key: replays, restarts, a threshold crossed again
            record = NotificationRecord.of(milestone, sentence(milestone))
            self._store.stage(record)  # durable before any delivery: the batch's flush comes first
            metrics.DETECTED.labels(milestone.kind).inc()
            new.append(record)
        return new


class MilestoneHub:
    """Open ``SubscribeMilestones`` streams per rep (on the event loop)."""

    def __init__(self, queue_size: int) -> None:
        self._queue_size = queue_size
        self._streams: dict[str, set[asyncio.Queue[notifier_pb2.MilestoneNotification | None]]] = defaultdict(set)

    def open(self, rep_id: str) -> asyncio.Queue[notifier_pb2.MilestoneNotification | None]:
        queue: asyncio.Queue[notifier_pb2.MilestoneNotification | None] = asyncio.Queue(self._queue_size)
        self._streams[rep_id].add(queue)
        return queue

    def close(self, rep_id: str, queue: asyncio.Queue[notifier_pb2.MilestoneNotification | None]) -> None:
        self._streams[rep_id].discard(queue)

    def publish(self, message: notifier_pb2.MilestoneNotification) -> None:
        for queue in list(self._streams.get(message.rep_id, ())):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:  # a slow stream ends; it resubscribes and gets every record again
                self.close(message.rep_id, queue)
                queue.get_nowait()
                queue.put_nowait(None)


def to_message(record: NotificationRecord, locale: str) -> notifier_pb2.MilestoneNotification:
    milestone = record.milestone()
    return notifier_pb2.MilestoneNotification(
        key=record.key, kind=record.kind, rep_id=record.rep_id, period=record.period,
        sentence=sentence(milestone, locale), fields=dict(record.fields), recorded_at_ms=record.recorded_at)


class Deliverer:
    """Sends recorded milestones to each channel the person chose, when their preferences allow."""

    def __init__(self, store: Store, channels: Channels, hub: MilestoneHub, producer: Producer,
                 attempts: int = 4, initial: float = 0.5, longest: float = 8.0,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._store = store
        self._channels = channels
        self._hub = hub
        self._producer = producer
        self._attempts, self._initial, self._longest = attempts, initial, longest
        self._now = now
        self._tasks: set[asyncio.Task[None]] = set()
        self._digests: dict[tuple[str, datetime], list[NotificationRecord]] = {}

    def preferences(self, person_id: str) -> Preferences:
        return self._store.preferences.get(person_id) or Preferences(person_id)

    def submit(self, record: NotificationRecord) -> None:
        """Push it to live streams now; deliver it to the other channels (on the event loop), at once, after
        the person's quiet hours, or in their daily digest."""
        preferences = self.preferences(record.rep_id)
        self._hub.publish(to_message(record, preferences.locale))
        if preferences.digest == "daily" and preferences.channels:
            due = deliver_at(self._now(), preferences)
            held = self._digests.setdefault((record.rep_id, due), [])
            held.append(record)
            if len(held) == 1:  # the first of that digest schedules it
                self._spawn(self._digest(record.rep_id, due))
            return
        self._spawn(self._deliver(record, preferences))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, record: NotificationRecord, preferences: Preferences) -> None:
        wait = (deliver_at(self._now(), preferences) - self._now()).total_seconds()
        if wait > 0:
            await asyncio.sleep(wait)  # quiet hours; a restart re-reads it pending and waits again
        item = Outgoing(record.key, record.kind, sentence(record.milestone(), preferences.locale), dict(record.fields))
        await self._send_all([record], preferences, item)

    async def _digest(self, person_id: str, due: datetime) -> None:
        """One message with every milestone held for ``person_id``'s digest at ``due``."""
        await asyncio.sleep(max(0.0, (due - self._now()).total_seconds()))
        records = self._digests.pop((person_id, due))
        preferences = self.preferences(person_id)
        lines = [sentence(r.milestone(), preferences.locale) for r in records]
        heading = text("digest", preferences.locale).format(count=len(records))
        item = Outgoing(f"digest|{person_id}|{due.astimezone(UTC):%Y-%m-%dT%H:%MZ}", "digest",
                        "\n".join([heading, *(f"• {line}" for line in lines)]),
                        {"count": str(len(records)), "keys": "\n".join(r.key for r in records)})
        await self._send_all(records, preferences, item)

    async def _send_all(self, records: list[NotificationRecord], preferences: Preferences, item: Outgoing) -> None:
        outcomes = await asyncio.gather(*(self._one(channel, preferences, item) for channel in preferences.channels))
        for record in records:
            await asyncio.to_thread(self._store.write, NotificationRecord(
                record.key, record.kind, record.rep_id, record.period, DELIVERED, record.fields, record.sentence,
                tuple(outcomes)))

    async def _one(self, channel: str, preferences: Preferences, item: Outgoing) -> str:
        try:
            async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(self._attempts), reraise=True,
                    wait=wait_exponential(multiplier=self._initial, max=self._longest)):
                with attempt:
                    await self._channels.send(channel, preferences, item)
        except DeliveryError as error:
            metrics.FAILED.labels(channel, item.kind).inc()
            log.warning("delivery dead-lettered", extra={"channel": channel, "key": item.key, "reason": str(error)})
            await asyncio.to_thread(self._dead_letter, channel, item, str(error))
            return f"dlq:{channel}"
        metrics.DELIVERED.labels(channel, item.kind).inc()
        return channel

    def _dead_letter(self, channel: str, item: Outgoing, reason: str) -> None:
        envelope = dead_letter(original=json.dumps(item.payload()).encode(),
                               reason=f"{channel}: {self._attempts} attempts failed; last: {reason}",
                               error_code=ErrorCode.DELIVERY_FAILED, source=f"{channel}:{item.key}",
                               service="notifier")
        produce_when_room(self._producer, topics.NOTIFICATIONS_DLQ, envelope, item.key.encode())
        if self._producer.flush(30):
            raise RuntimeError(f"could not dead-letter {item.key}")

    def resume(self) -> int:
        """Deliver again every record still pending (the notifier stopped before finishing it)."""
        pending = [r for r in list(self._store.records.values()) if r.status == PENDING]
        for record in pending:
            self.submit(record)
        return len(pending)

    async def stop(self) -> None:
        """Give deliveries under way a moment, then stop waiting ones: their records stay pending (resumed)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)


def consume_milestones(consumer: Consumer, detector: Detector, deliver: Callable[[NotificationRecord], None],
                       stopping: threading.Event, assigned: threading.Event) -> None:
    """``earnings``, ``payouts`` and ``ledger.events`` in, milestones recorded; the offset is committed only
    after (runs in a thread).

    Per batch: detect and stage every record, flush once (the records are on the broker), then hand the new
    milestones to delivery and commit the batch's offsets. A ledger event that makes no milestone (unreadable,
    an unknown kind) is dead-lettered on ``notifications.dlq`` (the ledger dead-letters what it cannot read
    of ``earnings``; nobody else reads ``ledger.events`` for the notifier).
    """
    fresh: list[NotificationRecord] = []
    consumer.subscribe([topics.EARNINGS, topics.PAYOUTS, topics.LEDGER_EVENTS], on_assign=lambda *_: assigned.set())
    try:
        while not stopping.is_set():
            batch: list[Message] = [m for m in consumer.consume(200, 0.1) if not m.error()]  # errors: no offset
            for message in batch:
                value = message.value()
                if value is None:
                    continue
                try:
                    found = detector.found_in(str(message.topic()), value)
                except Exception as error:  # noqa: BLE001 - the ledger dead-letters what it cannot read
                    metrics.REJECTED.inc()
                    log.warning("unreadable input for milestones", extra={"reason": str(error)})
                    if message.topic() == topics.LEDGER_EVENTS:
                        detector.store.dead_letter(message, str(error))
                    continue
                # outside the try: a write that fails ends the loop before the commit, so the batch is read again
                fresh.extend(detector.record(found))
            if batch:
                detector.store.flush()
                for record in fresh:
                    deliver(record)
                fresh.clear()
                consumer.commit(asynchronous=False)
    finally:
        consumer.close()
