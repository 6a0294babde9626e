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

Values live in memory as the stage's own objects (a value recovered from the
changelog arrives as bytes and is decoded on first read), or, for a table made
with ``hot`` (stage 1's records), as their stored JSON with the values last used
kept decoded. No value written may encode to more than :data:`MAX_VALUE_BYTES`
(:class:`ValueTooLarge` says which).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, MutableMapping
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
    compact,
    month_from_wire,
    month_to_wire,
    record_key,
)

log = logging.getLogger("attain.calculator")

T = TypeVar("T")

HOT_RECORDS = 20_000
"""Stage 1 records kept decoded (the last read or written) besides their stored JSON: about 2 KB each."""


class HeldValues(Generic[T]):
    """How a table holds its values in memory: the stage's objects, or their stored JSON.

    By default a value is held as the object the stage put (one recovered from the
    changelog is decoded on first read and kept so). With ``hot`` set, every value
    is held as its stored JSON (bytes, a few hundred bytes where the object takes
    several times that) and decoded on read; the last ``hot`` values read or written
    are also kept decoded, each only for as long as the store still holds the very
    bytes it was decoded from (a changelog record applied since replaces them).
    """

    def __init__(self, from_bytes: Callable[[bytes], T], hot: int | None = None) -> None:
        self._from_bytes = from_bytes
        self._hot_size = hot
        self._hot: dict[bytes, tuple[bytes, T]] = {}  # key -> (the stored bytes, decoded), oldest first

    def get(self, data: MutableMapping[bytes, Any], key: bytes) -> T | None:
        """The value of ``key`` in the store's ``data``, decoded."""
        value = data.get(key)
        if value is None or not isinstance(value, bytes | bytearray):
            return value
        if self._hot_size is None:
            decoded = data[key] = self._from_bytes(bytes(value))
            return decoded
        kept = self._hot.get(key)
        if kept is not None and kept[0] is value:
            return kept[1]
        decoded = self._from_bytes(bytes(value))
        self._remember(key, value, decoded)
        return decoded

    def keep(self, key: bytes, value: T, encoded: bytes) -> Any:
        """What the store holds for ``value`` (whose stored JSON is ``encoded``) put at ``key``."""
        if self._hot_size is None:
            return value
        stored = compact(encoded)
        self._remember(key, stored, value)
        return stored

    def forget(self, key: bytes) -> None:
        self._hot.pop(key, None)

    def _remember(self, key: bytes, encoded: bytes, value: T) -> None:
        hot = self._hot
        hot.pop(key, None)
        hot[key] = (encoded, value)
        if self._hot_size is not None and len(hot) > self._hot_size:
            del hot[next(iter(hot))]


class BatchTable(Generic[T]):
    """A faust table of the stage's values, held as :class:`HeldValues` says (``hot``); ``from_bytes``
    decodes a stored value's bytes instead of ``decode`` (of its JSON)."""

    def __init__(
        self,
        app: faust.App,
        name: str,
        partitions: int,
        decode: Callable[[Any], T],
        encode: Callable[[T], Any],
        topic_config: Mapping[str, str] | None = None,
        *,
        hot: int | None = None,
        from_bytes: Callable[[bytes], T] | None = None,
    ) -> None:
        self.table = MemoryTable(app, name, partitions, topic_config or {})
        self.held = HeldValues[T](from_bytes or (lambda data: decode(orjson.loads(data))), hot)
        self._encode = encode

    def get(self, key: bytes) -> T | None:
        return self.held.get(self.table.values, key)

    def put(self, producer: BatchProducer, key: bytes, value: T | None, partition: int) -> None:
        """Store ``value`` (None deletes) and send its changelog record in ``producer``'s batch."""
        producer.track(self.table)
        if value is None:
            self.held.forget(key)
            self.table.delete(key)
            producer.produce(self.table.changelog_topic, key, None, partition, sealed=True)
            return
        encoded = orjson.dumps(self._encode(value))
        if len(encoded) > MAX_VALUE_BYTES:
            raise ValueTooLarge(f"{self.table.name} value of key {key[:200]!r} encodes to {len(encoded)} bytes, "
                                f"over the {MAX_VALUE_BYTES}-byte bound of a stored value")
        self.table.put(key, self.held.keep(key, value, encoded), partition)
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
            app, name, partitions, RecordCredits.from_wire, lambda credits: orjson.Fragment(credits.encoded),
            topic_config, from_bytes=RecordCredits.from_stored)
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
                values[key] = RecordCredits.from_stored(bytes(value))
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
