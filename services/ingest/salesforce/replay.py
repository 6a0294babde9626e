"""Durable replay positions: the last replay id per channel whose events Kafka acknowledged.

Default store: the compacted topic ``ingest.salesforce.replay`` (key = channel, value =
JSON ``{"replay_id": hex, "saved_at": ms}``). It lives with the data it describes (same
cluster, same durability and replication, no volume to mount, survives a pod moving to
another node) and compaction keeps one record per channel. The file store (a JSON file,
replaced atomically) suits a single process with a persistent volume, and local runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any, Protocol

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from attain.platform.kafka import CLIENT_LOG, AsyncProducer


class ReplayStore(Protocol):
    def load(self, channel: str) -> bytes | None: ...

    async def save(self, channel: str, replay_id: bytes) -> None: ...


class KafkaReplayStore:
    def __init__(self, bootstrap: str, topic: str, producer: AsyncProducer) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._producer = producer
        self._positions: dict[str, bytes] | None = None

    def load(self, channel: str) -> bytes | None:
        if self._positions is None:
            self._positions = read_positions(self._bootstrap, self._topic)
        return self._positions.get(channel)

    async def save(self, channel: str, replay_id: bytes) -> None:
        value = json.dumps({"replay_id": replay_id.hex(), "saved_at": int(time.time() * 1000)}).encode()
        await self._producer.produce(self._topic, value, key=channel.encode())
        if self._positions is not None:
            self._positions[channel] = replay_id


def read_positions(bootstrap: str, topic: str, timeout: float = 30) -> dict[str, bytes]:
    """The newest value per key, reading every partition from the start to its end."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "logger": CLIENT_LOG,
                         "group.id": f"replay-reader-{uuid.uuid4()}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        metadata = consumer.list_topics(topic, timeout=timeout).topics[topic]
        ends: dict[int, int] = {}
        assignment = []
        for partition in metadata.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
            if high > low:
                ends[partition] = high
            assignment.append(TopicPartition(topic, partition, OFFSET_BEGINNING))
        positions: dict[str, bytes] = {}
        if not assignment:
            return positions
        consumer.assign(assignment)
        # Past the reported ends until idle for a second: some brokers (Tansu) report a
        # high watermark that trails the log, and a stale position would replay events.
        deadline, idle_since = time.monotonic() + timeout, time.monotonic()
        while (ends or time.monotonic() - idle_since < 1.0) and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None or message.error():
                continue
            idle_since = time.monotonic()
            key, value = message.key(), message.value()
            if key is not None and value:
                positions[key.decode()] = bytes.fromhex(json.loads(value)["replay_id"])
            partition, offset = message.partition(), message.offset()
            if partition is not None and offset is not None and offset + 1 >= ends.get(partition, 0):
                ends.pop(partition, None)
        if ends:
            raise TimeoutError(f"could not read {topic} partitions {sorted(ends)} to their end in {timeout}s")
        return positions
    finally:
        consumer.close()


class FileReplayStore:
    def __init__(self, path: Path) -> None:
        self._path = path

    def _read(self) -> dict[str, Any]:
        if not self._path.exists():
            return {}
        document: dict[str, Any] = json.loads(self._path.read_text())
        return document

    def load(self, channel: str) -> bytes | None:
        replay_hex = self._read().get(channel)
        return bytes.fromhex(replay_hex) if replay_hex else None

    async def save(self, channel: str, replay_id: bytes) -> None:
        await asyncio.to_thread(self._write, channel, replay_id)

    def _write(self, channel: str, replay_id: bytes) -> None:
        document = self._read()
        document[channel] = replay_id.hex()
        self._path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._path.with_suffix(".tmp")
        with temporary.open("w") as handle:
            json.dump(document, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self._path)
