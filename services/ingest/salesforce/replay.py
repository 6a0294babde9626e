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
from pathlib import Path
from typing import Any, Protocol

from attain.platform.kafka import AsyncProducer
from attain.platform.reading import read_until_idle
from attain.platform.settings import KafkaSettings


class ReplayStore(Protocol):
    def load(self, channel: str) -> bytes | None: ...

    async def save(self, channel: str, replay_id: bytes) -> None: ...


class KafkaReplayStore:
    def __init__(self, kafka: KafkaSettings | str, topic: str, producer: AsyncProducer) -> None:
        self._kafka = kafka
        self._topic = topic
        self._producer = producer
        self._positions: dict[str, bytes] | None = None

    def load(self, channel: str) -> bytes | None:
        if self._positions is None:
            self._positions = read_positions(self._kafka, self._topic)
        return self._positions.get(channel)

    async def save(self, channel: str, replay_id: bytes) -> None:
        value = json.dumps({"replay_id": replay_id.hex(), "saved_at": int(time.time() * 1000)}).encode()
        await self._producer.produce(self._topic, value, key=channel.encode())
        if self._positions is not None:
            self._positions[channel] = replay_id


def read_positions(kafka: KafkaSettings | str, topic: str, timeout: float = 30) -> dict[str, bytes]:
    """The newest value per key, reading every partition from the start to its end."""
    positions: dict[str, bytes] = {}
    for message in read_until_idle(kafka, topic, timeout=timeout, group="replay-reader"):
        key, value = message.key(), message.value()
        if key is not None and value:
            positions[key.decode()] = bytes.fromhex(json.loads(value)["replay_id"])
    return positions


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
