"""The one module that reaches into faust-streaming's internals (checked against :data:`CHECKED_AGAINST`).

Everything else in Attain uses faust's public API or this module's. What it
relies on, and why, is listed in ``docs/architecture.md`` ("What the faust
adapter relies on"); a faust upgrade means re-checking those points here, and
nowhere else. Three things:

- :func:`install_batch_consumer`: records of batch-agent topics go from the
  consumer's fetch to a runner a whole fetch at a time, as :class:`InFlight`
  batches that stay unacked until the runner calls :meth:`InFlight.ack`;
  the fetch max wait comes from settings instead of faust's 1,500 ms;
- :class:`MemoryTable`: a faust Table on the memory store, read and written in
  place (faust's per-key send path skipped), with the partition of each key so
  faust drops the keys of revoked partitions;
- :class:`StandbyMemoryStore`: faust's memory store, made to keep standby
  partitions and to resume a table's recovery from what it already holds, so a
  standby replica (``table_standby_replicas``) is a hot copy;
- :func:`tables_recovered`: whether faust has finished recovering the tables;
- :class:`StallGuard`: a partition of a batch agent's topic with records waiting
  that no batch has moved for a while is resumed and sought back to its
  committed offset (a safety net: faust has stopped fetching partitions before).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

from faust.stores import STORES
from faust.stores.memory import Store as FaustMemoryStore
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from faust.types import TP
from prometheus_client import Counter

log = logging.getLogger("attain.streams")

PARTITION_STALLS = Counter(
    "attain_stream_partition_stalls_total",
    "Partitions of a batch agent's topic found with records waiting and none handled for the stall time, "
    "then resumed and sought back to their committed offset (StallGuard)",
    ["topic", "partition"],
)

CHECKED_AGAINST = "0.15.3"
"""The faust-streaming version whose internals this module was checked against."""


def installed_faust_version() -> str:
    return version("faust-streaming")


class InFlight:
    """One fetch's records of one batch-agent topic: handed to its runner, not yet acked.

    While in flight they count among the consumer's unacked messages, so a
    rebalance waits for them (faust's ``wait_empty``). :meth:`ack` is the last
    step of a batch's checkpoint; a batch never acked is read again after a
    restart or reassignment.
    """

    def __init__(self, consumer: Any, messages: list[Any]) -> None:
        self._consumer = consumer
        self.messages = messages
        consumer._unacked_messages.update(messages)

    def release(self) -> None:
        """Give the records up unacked (the runner failed or was cancelled): they will be read again."""
        self._consumer._unacked_messages.difference_update(self.messages)

    async def ack(self) -> dict[tuple[str, int], int]:
        """Ack every record, so faust may commit its offset; each partition's lag behind its high watermark.

        faust commits an offset only past a contiguous run of acked offsets, so an
        offset skipped between records (compaction, a transaction marker) is
        recorded as a gap. The lag is left out for a partition whose high
        watermark the consumer does not know yet.
        """
        consumer = self._consumer
        read_offset = consumer._read_offset
        for message in self.messages:
            tp, offset = message.tp, message.offset
            last = read_offset[tp]
            if last is not None and offset - last > 1:
                # on these topics a skip of more than a marker means records went
                # missing between fetches, so say so.
                if offset - last > 2:
                    log.warning("offsets skipped between fetches", extra={
                        "topic": tp.topic, "partition": tp.partition, "from": last + 1, "to": offset - 1})
                await consumer._add_gap(tp, last + 1, offset)
            read_offset[tp] = offset
            consumer.ack(message)
        lags: dict[tuple[str, int], int] = {}
        for tp in {message.tp for message in self.messages}:
            highwater = consumer.highwater(tp)
            if highwater is not None:
                lags[(tp.topic, tp.partition)] = max(0, highwater - read_offset[tp] - 1)
        return lags


BatchRunner = Callable[[list[Any], InFlight], Awaitable[None]]
"""Runs one fetch's records of a topic (faust ConsumerMessages) and acks them through the :class:`InFlight`."""


def install_batch_consumer(app: Any, runners: Mapping[str, BatchRunner], fetch_max_wait_ms: int) -> None:
    """Make ``app``'s consumer hand each fetch's records of a topic in ``runners`` to its runner.

    Records of other topics go on through faust as usual. The runner is awaited
    in the consumer's fetch loop, so the next fetch waits for it. A runner that
    raises crashes the app with its records unacked; cancelled (the worker
    stops), its records stay unacked.
    """

    class ConsumerThread(AIOKafkaConsumerThread):  # type: ignore[misc,unused-ignore]
        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_max_wait_ms = fetch_max_wait_ms  # read when the consumer starts its fetcher
            return consumer

    class Consumer(AIOKafkaConsumer):  # type: ignore[misc,unused-ignore]
        in_flight: set[Any] = set()  # partitions whose batch is being handled now (per instance once one runs)

        def _new_consumer_thread(self) -> ConsumerThread:
            return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

        async def getmany(self, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
            """faust's fetch, minus the records of batch agents' topics: those go to their runner."""
            batches: dict[str, list[Any]] = {}
            async for tp, message in super().getmany(timeout):
                if tp.topic in runners:
                    batches.setdefault(tp.topic, []).append(message)
                else:
                    yield tp, message
            for topic, messages in batches.items():
                # One fetch's records share a generation (faust's getmany stops at a
                # change). Records fetched before a reassignment are left unacked:
                # the new assignment starts from the committed offsets, so they are
                # read again. Compare each fetch's own generation, not the one when
                # the call began: a call made during a rebalance waits for it to end
                # and then returns records of the new generation, which are valid.
                if not self.flow_active or messages[0].generation_id != app.consumer_generation_id:
                    return
                await self._run_batch(runners[topic], messages)

        async def _run_batch(self, runner: BatchRunner, messages: list[Any]) -> None:
            batch = InFlight(self, messages)
            inbound = app.monitor.stream_inbound_time  # faust's stuck-stream check reads it
            tps = {message.tp for message in messages}
            for tp in tps:
                inbound[tp] = time.monotonic()
            self.in_flight = self.in_flight | tps
            try:
                await runner(messages, batch)
            except asyncio.CancelledError:  # the worker is stopping: the batch stays unacked
                batch.release()
                raise
            except Exception as error:
                log.exception("batch handler failed; crashing so the batch is read again",
                              extra={"topic": messages[0].topic, "records": len(messages)})
                batch.release()
                await app.crash(error)
                raise
            finally:
                self.in_flight = self.in_flight - tps

        def on_buffer_full(self, tp: Any) -> None:
            """Keep fetching a partition whose stream buffer is under pressure.

            faust stops fetching such a partition and resumes it from a callback
            when the buffer drains. In restart tests that callback never came: the
            restarted calculator processed two big batches of its backlog, then
            never fetched one or more partitions again (3 runs of 4 on Apache Kafka,
            seen on Tansu too). Without the pause, a full buffer still bounds
            memory: faust then waits on the queue's blocking put. The calculator
            now reads through batch agents, which have no stream buffer; this
            still governs apps with faust streams (the bench's baseline B).
            """

    app.transport.Consumer = Consumer


STANDBY_MEMORY_STORE = "attain-memory://"
"""The store URL of :class:`StandbyMemoryStore` (registered with faust's store registry below)."""


class StandbyMemoryStore(FaustMemoryStore):  # type: ignore[misc]
    """faust's memory store, keeping standby partitions and the changelog offset it holds per partition.

    faust's own memory store drops every key whose partition is not active when a
    recovery completes (standby partitions included) and reports no persisted
    offset, so a standby replica promoted to active is read again from the start
    of its changelog: standbys bought nothing. This store keeps the keys of active
    and standby partitions, and remembers the last changelog offset it applied per
    partition (:meth:`persisted_offset`), or that this worker's own write was stored
    at (:meth:`note_stored`, from the batch producer), so faust's recovery of a
    partition it holds (a standby copy promoted, or an active partition kept across
    a rebalance) reads only the changelog records after it.

    Safe because a partition's data here is always at least as new as that offset:
    offsets are only recorded for records applied, and forgotten with the keys when
    the partition is neither active nor standby here. Records written by this
    worker itself (the batch producer, on active partitions) are newer than the
    recorded offset; reading them again replays them in changelog order onto state
    that already has them, which ends in the same values.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        self.applied_offsets: dict[Any, int] = {}  # changelog TP -> last offset applied here
        self.assigned_at: float | None = None  # wall time of the last assignment (a rebalance's end)
        self.applied_keys: set[Any] = set()  # keys applied from the changelog since the owner last took them
        self.track_applied_keys = False  # set by the first MemoryTable.take_applied_keys: else nobody takes them

    async def on_rebalance(self, assigned: Any, revoked: Any, newly_assigned: Any, generation_id: int = 0) -> None:
        self.assigned_at = time.time()

    def apply_changelog_batch(self, batch: Any, to_key: Any, to_value: Any) -> None:
        events = list(batch)
        super().apply_changelog_batch(events, to_key, to_value)
        applied = self.applied_offsets
        if self.track_applied_keys:
            self.applied_keys.update(to_key(event.key) for event in events)
        for event in events:
            tp, offset = event.message.tp, event.message.offset
            if offset > applied.get(tp, -1):
                applied[tp] = offset

    def note_stored(self, tp: Any, offset: int) -> None:
        """A record this worker wrote to ``tp`` (a partition active here) was stored at ``offset``."""
        if offset > self.applied_offsets.get(tp, -1):
            self.applied_offsets[tp] = offset

    def persisted_offset(self, tp: Any) -> int | None:
        return self.applied_offsets.get(tp)

    async def on_recovery_completed(self, active_tps: set[Any], standby_tps: set[Any]) -> None:
        held = active_tps | standby_tps
        partitions = {tp.partition for tp in held}
        dropped = [key for key, partition in self._key_partition.items() if partition not in partitions]
        for key in dropped:
            self.data.pop(key, None)
            self._key_partition.pop(key, None)
        for tp in [tp for tp in self.applied_offsets if tp not in held]:
            del self.applied_offsets[tp]


STORES.aliases[STANDBY_MEMORY_STORE.removesuffix("://")] = f"{__name__}:StandbyMemoryStore"


class MemoryTable:
    """A faust Table on the memory store, read and written in place.

    faust recovers it from its changelog on (re)assignment and drops the keys of
    revoked partitions (by the partition :meth:`put` records per key). Writes do
    not go through faust's per-key send path: the caller sends the changelog
    record itself (to :attr:`changelog_topic`).
    """

    def __init__(self, app: Any, name: str, partitions: int, topic_config: Mapping[str, str]) -> None:
        self._app: Any = app
        self.table: Any = app.Table(
            name, default=None, partitions=partitions, key_type=bytes, value_type=bytes,
            extra_topic_configs=dict(topic_config),  # for a changelog topic faust creates
        )

    @property
    def name(self) -> str:
        return str(self.table.name)

    @property
    def changelog_topic(self) -> str:
        return str(self.table.changelog_topic.get_topic_name())

    @property
    def values(self) -> MutableMapping[bytes, Any]:
        """The store's dict: values as the caller put them, or bytes as recovered from the changelog."""
        data: MutableMapping[bytes, Any] = self.table.data.data
        return data

    def put(self, key: bytes, value: Any, partition: int) -> None:
        store = self.table.data
        store.data[key] = value
        store._key_partition[key] = partition  # dropped when the partition is revoked

    def delete(self, key: bytes) -> None:
        store = self.table.data
        store.data.pop(key, None)
        store._key_partition.pop(key, None)

    def partition_of(self, key: bytes) -> int | None:
        partition: int | None = self.table.data._key_partition.get(key)
        return partition

    def assigned_partitions(self) -> set[int]:
        """The changelog partitions this worker holds active (recovered) now."""
        return {tp.partition for tp in self._app.tables.recovery.actives_for_table.get(self.table, ())}

    @property
    def assigned_at(self) -> float | None:
        """Wall time when this worker last got its partitions (the end of a rebalance), if it has."""
        assigned_at: float | None = getattr(self.table.data, "assigned_at", None)
        return assigned_at

    def note_stored(self, partition: int, offset: int) -> None:
        """This worker's own changelog record of ``partition`` was stored at ``offset``: its store holds
        the partition up to there (recorded only while the partition is active here, whose writes these are)."""
        store = self.table.data
        if isinstance(store, StandbyMemoryStore) and partition in self.assigned_partitions():
            store.note_stored(TP(self.changelog_topic, partition), offset)

    def take_applied_keys(self) -> set[Any]:
        """The keys faust applied from the changelog (recovery, standby copy) since the last call (the first
        call starts the tracking)."""
        store = self.table.data
        store.track_applied_keys = True
        keys: set[Any] = store.applied_keys
        if keys:
            store.applied_keys = set()
        return keys

    def standby_partitions(self) -> set[int]:
        """The changelog partitions this worker keeps a standby copy of now."""
        return {tp.partition for tp in self._app.tables.recovery.standbys_for_table.get(self.table, ())}

    def on_recover(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Call ``callback`` each time faust has recovered the table (and dropped revoked keys)."""
        self.table.on_recover(callback)


def tables_recovered(app: Any) -> bool:
    """Whether faust has recovered every table from its changelog and no rebalance is under way."""
    return not app.rebalancing and bool(app.tables.recovery.completed.is_set())


def standby_lag(app: Any) -> int | None:
    """Changelog records the standby copies held here still lack (None: not known yet, e.g. no fetch yet)."""
    recovery = app.tables.recovery
    lag = 0
    for tp in recovery.standby_tps:
        highwater, offset = app.consumer.highwater(tp), recovery.standby_offsets.get(tp)
        if highwater is None:
            return None
        lag += max(0, highwater - (-1 if offset is None else offset) - 1)
    return lag


@dataclass
class Watch:
    """A partition seen with records waiting: the next offset to handle then, and since when it has not moved."""

    next_offset: int
    since: float


def stalled_partitions(watches: dict[Any, Watch], observed: Mapping[Any, tuple[int | None, int | None]],
                       now: float, stall_seconds: float) -> list[Any]:
    """The partitions stalled now, updating ``watches`` (kept between calls) in place.

    ``observed`` maps each partition to (the next offset to handle, its high watermark), None where not
    known. A partition is stalled when records wait (the high watermark is past the next offset) and the
    next offset has not moved for ``stall_seconds``; it is then watched afresh, so it is reported again only
    after another ``stall_seconds`` without progress.

    >>> watches = {}
    >>> stalled_partitions(watches, {"p0": (5, 9), "p1": (3, 3)}, now=0, stall_seconds=30)
    []
    >>> stalled_partitions(watches, {"p0": (5, 9), "p1": (3, 7)}, now=29.9, stall_seconds=30)
    []
    >>> stalled_partitions(watches, {"p0": (5, 12), "p1": (4, 7)}, now=30, stall_seconds=30)
    ['p0']
    >>> stalled_partitions(watches, {"p0": (5, 12), "p1": (4, 7)}, now=60, stall_seconds=30)
    ['p0', 'p1']
    """
    for tp in [tp for tp in watches if tp not in observed]:
        del watches[tp]
    stalled = []
    for tp, (next_offset, highwater) in observed.items():
        if next_offset is None or highwater is None or highwater <= next_offset:
            watches.pop(tp, None)  # nothing waits, or not known: not stalled
            continue
        watch = watches.get(tp)
        if watch is None or watch.next_offset != next_offset:
            watches[tp] = Watch(next_offset, now)
        elif now - watch.since >= stall_seconds:
            stalled.append(tp)
            watch.since = now
    return stalled


class StallGuard:
    """Resumes a partition of a batch agent's topic that has records waiting and has not moved for a while.

    A safety net, not the normal path: a restarted faust worker has stopped fetching partitions for good
    before (see ``Consumer.on_buffer_full``), and once in CI a restarted calculator never handled one
    ``crm.changes`` partition again while the others went on. Every ``check`` (from a timer) compares each
    assigned partition's next offset to handle with its high watermark, outside rebalances and recovery
    and while no batch of it is in flight (:func:`stalled_partitions`). A stalled partition is logged,
    counted (``attain_stream_partition_stalls_total``), resumed in faust's flow and sought back to its
    committed offset: everything before that offset was handled and acked, so reading on from there loses
    nothing and at most hands records over again (the handlers are idempotent).
    """

    def __init__(self, app: Any, topics: Callable[[], set[str]], stall_seconds: float) -> None:
        self._app = app
        self.topics_of = topics
        self.stall_seconds = stall_seconds
        self.watches: dict[Any, Watch] = {}

    async def check(self) -> list[Any]:
        """Resume and seek the partitions stalled now; returns them."""
        app, watches = self._app, self.watches
        consumer = app.consumer
        topics = self.topics_of()
        if not tables_recovered(app):
            watches.clear()
            return []
        busy = getattr(consumer, "in_flight", set())
        tps = {tp for tp in consumer.assignment() if tp.topic in topics and tp not in busy}
        if not tps:
            watches.clear()
            return []
        highwaters = await consumer.highwaters(*tps)
        earliest = await consumer.earliest_offsets(*tps)
        observed = {tp: (self.next_offset(consumer, tp, earliest.get(tp)), highwaters.get(tp)) for tp in tps}
        stalled = stalled_partitions(watches, observed, time.monotonic(), self.stall_seconds)
        for tp in stalled:
            if not tables_recovered(app) or tp not in consumer.assignment():
                continue  # a rebalance began meanwhile: it seeks every partition itself
            committed = consumer._committed_offset[tp]
            target = committed if committed is not None else (earliest.get(tp) or 0)
            log.warning("partition stalled: records waiting and none handled; resuming it from its committed offset",
                        extra={"topic": tp.topic, "partition": tp.partition, "next_offset": observed[tp][0],
                               "high_watermark": observed[tp][1], "stall_seconds": self.stall_seconds,
                               "seek_to": target, "flow_active": consumer.flow_active})
            PARTITION_STALLS.labels(tp.topic, str(tp.partition)).inc()
            consumer.resume_partitions({tp})
            await consumer.seek(tp, target)
        return stalled

    @staticmethod
    def next_offset(consumer: Any, tp: Any, earliest: int | None) -> int | None:
        """The next offset to handle: past the last one read, at least the committed one and the log's start."""
        read, committed = consumer._read_offset[tp], consumer._committed_offset[tp]
        known = [offset for offset in (None if read is None else read + 1, committed, earliest) if offset is not None]
        return max(known) if known else None
