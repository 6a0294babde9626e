"""Calculator state: faust Tables read and written a batch at a time.

faust keeps each table in memory, recovers it from its changelog topic on
(re)assignment and drops the keys of revoked partitions. Writes skip faust's
per-key send path: the value goes into the table's store and its changelog
record through the batch's :class:`BatchProducer`, to the partition of the
input that wrote it (the partition faust recovers for that input). The batch's
checkpoint (:func:`attain.platform.streams.checkpoint`) flushes those records
before it acks the input, so a crash replays the batch over state that is at
worst one batch ahead: the stages are idempotent. The faust internals the tables
need are in :class:`attain.platform.faust_adapter.MemoryTable`.

Values live in memory as the stage's own objects; a value recovered from the
changelog arrives as bytes and is decoded on first read. No value written may
encode to more than :data:`MAX_VALUE_BYTES` (:class:`ValueTooLarge` says which).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import faust
import orjson

from attain.platform.faust_adapter import MemoryTable
from attain.platform.streams import BatchProducer
from services.calculator.earnings_stage import RepUpdate
from services.calculator.limits import MAX_VALUE_BYTES, ValueTooLarge
from services.calculator.month_cache import (
    MonthCredits,
    MonthIndex,
    RecordCredits,
    month_from_wire,
    month_to_wire,
    record_key,
)

log = logging.getLogger("attain.calculator")

T = TypeVar("T")


class BatchTable(Generic[T]):
    def __init__(
        self,
        app: faust.App,
        name: str,
        partitions: int,
        decode: Callable[[Any], T],
        encode: Callable[[T], Any],
        topic_config: Mapping[str, str] | None = None,
    ) -> None:
        self.table = MemoryTable(app, name, partitions, topic_config or {})
        self._decode = decode
        self._encode = encode

    def get(self, key: bytes) -> T | None:
        data = self.table.values
        value = data.get(key)
        if value is None or not isinstance(value, bytes | bytearray):
            return value
        decoded = self._decode(orjson.loads(value))
        data[key] = decoded
        return decoded

    def put(self, producer: BatchProducer, key: bytes, value: T | None, partition: int) -> None:
        """Store ``value`` (None deletes) and send its changelog record in ``producer``'s batch."""
        if value is None:
            producer.track(self.table)
            self.table.delete(key)
            producer.produce(self.table.changelog_topic, key, None, partition, sealed=True)
            return
        producer.track(self.table)
        encoded = orjson.dumps(self._encode(value))
        if len(encoded) > MAX_VALUE_BYTES:
            raise ValueTooLarge(f"{self.table.name} value of key {key[:200]!r} encodes to {len(encoded)} bytes, "
                                f"over the {MAX_VALUE_BYTES}-byte bound of a stored value")
        self.table.put(key, value, partition)
        producer.produce(self.table.changelog_topic, key, encoded, partition, sealed=True)


class RepCredits:
    """Stage 2's credits: one table value per (rep, month, record), indexed by (rep, month) in memory.

    The index (:class:`MonthIndex`) is rebuilt from the table after every
    recovery (faust calls back once it has restored the changelog and dropped
    the keys of partitions no longer assigned), so it always holds exactly the
    table's records.

    ``legacy`` names the table that held a whole (rep, month) per value before
    (key ``rep|YYYY-MM``, value record id -> credits). After each recovery,
    before the index is rebuilt, every such value of an assigned partition is
    moved: its records are written to this table (unless it already holds a
    newer value for one) and the old key is deleted, all flushed before any
    batch runs. A crash midway repeats it on the next recovery.
    """

    def __init__(self, app: faust.App, name: str, partitions: int,
                 topic_config: Mapping[str, str] | None = None,
                 legacy: str | None = None, producer: BatchProducer | None = None) -> None:
        # still registered so faust recovers it; emptied by the move, its changelog keeps only tombstones
        self.legacy = None if legacy is None else BatchTable[MonthCredits](
            app, legacy, partitions, month_from_wire, month_to_wire, topic_config)
        self.table = BatchTable[RecordCredits](
            app, name, partitions, RecordCredits.from_wire, lambda credits: list(credits.wire), topic_config)
        self.index = MonthIndex()
        self._producer = producer
        self.table.table.on_recover(self._rebuild)

        @app.timer(interval=1.0)
        async def decode_applied() -> None:
            await self._decode_applied()

    async def _decode_applied(self, slice_seconds: float = 0.02) -> None:
        """Decode the values faust applied from the changelog (a standby copy above all) ahead of need.

        A standby copy arrives as bytes; decoding them when the partition is taken over would
        hold the takeover's index rebuild for ~5-20 µs a value. Here they are decoded in place
        in the background, yielding to the event loop every ``slice_seconds``, so the rebuild
        finds objects.
        """
        values = self.table.table.values
        started = time.perf_counter()
        for key in self.table.table.take_applied_keys():
            value = values.get(key)
            if isinstance(value, bytes | bytearray):
                values[key] = RecordCredits.from_wire(orjson.loads(value))
            if time.perf_counter() - started > slice_seconds:
                await asyncio.sleep(0)
                started = time.perf_counter()

    async def _rebuild(self) -> None:
        if self.legacy is not None and self.legacy.table.values and self._producer is not None:
            await self._move_legacy(self.legacy, self._producer)
        started = time.perf_counter()
        self.index.rebuild(self.table.table.values)
        assigned_at = self.table.table.assigned_at
        log.info("tables recovered", extra={
            "seconds_since_assignment": None if assigned_at is None else round(time.time() - assigned_at, 3),
            "active_partitions": sorted(self.table.table.assigned_partitions()),
            "standby_partitions": sorted(self.table.table.standby_partitions()),
            "credit_values": len(self.table.table.values), "index_seconds": round(time.perf_counter() - started, 3)})

    async def _move_legacy(self, legacy: BatchTable[MonthCredits], producer: BatchProducer) -> None:
        active = legacy.table.assigned_partitions()
        moved = 0
        for key, partition in [(key, legacy.table.partition_of(key)) for key in legacy.table.values]:
            if partition not in active:
                continue
            month = legacy.get(key)
            rep_id, _, name = key.decode().rpartition("|")
            for record_id, credits in (month or {}).items():
                new_key = record_key(rep_id, name, record_id)
                if new_key not in self.table.table.values:
                    self.table.put(producer, new_key, credits, partition)
                    moved += 1
            legacy.put(producer, key, None, partition)
        await producer.flush()
        log.info("moved stage 2 state to one value per record", extra={"from": legacy.table.name, "records": moved})

    def month(self, rep_id: str, month: str) -> MonthCredits | None:
        return self.index.get(rep_id, month)

    def write(self, producer: BatchProducer, rep_id: str, update: RepUpdate, partition: int) -> None:
        """Store ``update``'s changed records (to ``partition``, the rep's) and index its months."""
        for key, value in self.index.apply(rep_id, update).items():
            self.table.put(producer, key, value, partition)
