"""Validate, normalise and publish change events; dead-letter every rejected one."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any

from attain.platform import topics
from attain.platform.avro import contract
from attain.platform.kafka import AsyncProducer, dead_letter
from services.ingest import metrics
from services.ingest.canonical import InvalidEvent, normalise

log = logging.getLogger("attain.ingest")


@dataclass(frozen=True)
class ItemResult:
    index: int
    accepted: bool
    event_id: str | None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"index": self.index, "event_id": self.event_id}
        if self.accepted:
            body["status"] = 202
        else:
            body.update(status=422, error=self.error, dead_lettered=True)
        return body


@dataclass(frozen=True)
class Incoming:
    """One input item: the parsed canonical item, its original bytes, and where it came from
    (``http#3``, ``file:events.jsonl:12``, ``salesforce:/data/OpportunityChangeEvent@<replay id>``)."""

    item: Any
    original: bytes
    position: str


def metric_source(source: str) -> str:
    """Bounded label: the configured Salesforce channel, else the kind of door (``file:x`` -> ``file``)."""
    return source if source.startswith("salesforce:") else source.split(":")[0]


class Publisher:
    """Turns raw items into ``crm.changes`` messages or ``crm.changes.dlq`` envelopes.

    ``publish`` returns only after Kafka acknowledged every message, so an "accepted"
    answer means the event is durable, and a rejected one is in the DLQ.
    """

    def __init__(self, producer: AsyncProducer) -> None:
        self._producer = producer
        self._changes = contract(topics.CRM_CHANGES)

    async def publish(self, items: Sequence[tuple[Any, bytes]], source: str) -> list[ItemResult]:
        """``items`` are (parsed item, original bytes) pairs."""
        results, acknowledged = self.submit(
            [Incoming(item, original, f"{source}#{index}") for index, (item, original) in enumerate(items)], source
        )
        await acknowledged
        return results

    def submit(self, incoming: Sequence[Incoming], source: str) -> tuple[list[ItemResult], Awaitable[Any]]:
        """Validate and send; the awaitable completes when Kafka has every message (accepted or dead letter)."""
        now_ms = int(time.time() * 1000)
        label = metric_source(source)
        metrics.RECEIVED.labels(label).inc(len(incoming))
        results: list[ItemResult] = []
        messages: list[tuple[bytes | None, bytes]] = []
        pending: list[Awaitable[Any]] = []
        for index, entry in enumerate(incoming):
            try:
                record = normalise(entry.item, source, now_ms)
            except InvalidEvent as error:
                pending.append(self.reject(entry.original, str(error), "validation_error", entry.position, label))
                event_id = entry.item.get("event_id") if isinstance(entry.item, dict) else None
                results.append(ItemResult(index, False, event_id if isinstance(event_id, str) else None, str(error)))
                continue
            messages.append((record["record_id"].encode(), self._changes.encode(record)))
            results.append(ItemResult(index, True, record["event_id"]))
        published = self._producer.produce_all(topics.CRM_CHANGES, messages)
        published.add_done_callback(lambda done: _count_published(done, label))
        pending.append(published)
        return results, asyncio.gather(*pending)

    def reject(
        self, original: bytes, reason: str, error_code: str, source: str, label: str | None = None
    ) -> asyncio.Future[Any]:
        metrics.REJECTED.labels(label or metric_source(source), error_code).inc()
        log.warning("event rejected", extra={"reason": reason, "error_code": error_code, "source": source})
        envelope = dead_letter(
            original=original, reason=reason, error_code=error_code, source=source, service="ingest"
        )
        return self._producer.produce(topics.CRM_CHANGES_DLQ, envelope)


def _count_published(done: asyncio.Future[int], label: str) -> None:
    if not done.cancelled() and done.exception() is None:
        metrics.PUBLISHED.labels(label).inc(done.result())
