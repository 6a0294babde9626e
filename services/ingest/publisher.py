"""Validate, normalise and publish change events; dead-letter every rejected one."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import SpanKind

from attain.contracts.crm_changes import InvalidEvent, Limits, normalise
from attain.contracts.dead_letters import ErrorCode
from attain.platform import topics, tracing
from attain.platform.avro import contract
from attain.platform.kafka import AsyncProducer, dead_letter
from services.ingest import metrics

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

    def __init__(self, producer: AsyncProducer, limits: Limits | None = None, *,
                 max_record_bytes: int = 900 * 1024, max_dead_letter_bytes: int = 900 * 1024) -> None:
        """``limits`` default to the ``ATTAIN_INGEST_*`` settings (so every door validates alike)."""
        if limits is None:
            from services.ingest.config import IngestSettings

            settings = IngestSettings()
            limits = settings.limits()
            max_record_bytes, max_dead_letter_bytes = settings.max_record_bytes, settings.max_dead_letter_bytes
        self._producer = producer
        self._changes = contract(topics.CRM_CHANGES)
        self._limits = limits
        self._max_record_bytes = max_record_bytes
        self._max_dead_letter_bytes = max_dead_letter_bytes

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
                record, encoded = self.validate(entry.item, source, now_ms)
            except InvalidEvent as error:  # one bad record is refused alone, never its batch
                reason, code = _readable(str(error)), ErrorCode.VALIDATION_ERROR
                pending.append(self.reject(entry.original, reason, code, entry.position, label))
                event_id = entry.item.get("event_id") if isinstance(entry.item, dict) else None
                results.append(ItemResult(index, False, _readable(event_id) if isinstance(event_id, str) else None,
                                          reason))
                continue
            messages.append((record["record_id"].encode(), encoded))
            results.append(ItemResult(index, True, record["event_id"]))
        with tracing.span(f"{topics.CRM_CHANGES} publish", SpanKind.PRODUCER, **{
                "messaging.destination.name": topics.CRM_CHANGES, "messaging.batch.message_count": len(messages)}):
            published = self._producer.produce_all(topics.CRM_CHANGES, messages, tracing.kafka_headers())
        published.add_done_callback(lambda done: _count_published(done, label))
        pending.append(published)
        return results, asyncio.gather(*pending)

    def validate(self, item: Any, source: str, now_ms: int) -> tuple[dict[str, Any], bytes]:
        """The ``crm.changes`` record of ``item`` and its Avro bytes; raises InvalidEvent (never anything else)."""
        try:
            record = normalise(item, source, now_ms, self._limits)
            encoded = self._changes.encode(record)
        except InvalidEvent:
            raise
        except Exception as error:  # noqa: BLE001 - whatever validation missed is still one record's fault
            raise InvalidEvent(f"not encodable as a crm.changes record: {type(error).__name__}: {error}") from None
        if len(encoded) > self._max_record_bytes:
            raise InvalidEvent(f"record of {len(encoded)} bytes, more than {self._max_record_bytes} "
                               "(ATTAIN_INGEST_MAX_RECORD_BYTES)")
        return record, encoded

    def reject(
        self, original: bytes, reason: str, error_code: ErrorCode, source: str, label: str | None = None
    ) -> asyncio.Future[Any]:
        reason, source = _readable(reason), _readable(source)
        if len(original) > self._max_dead_letter_bytes:  # a broker refuses messages over its limit
            reason += (f" (original cut to its first {self._max_dead_letter_bytes} of {len(original)} bytes, "
                       "ATTAIN_INGEST_MAX_DEAD_LETTER_BYTES)")
            original = original[: self._max_dead_letter_bytes]
        metrics.REJECTED.labels(label or metric_source(source), error_code).inc()
        log.warning("event rejected", extra={"reason": reason, "error_code": error_code, "source": source})
        envelope = dead_letter(
            original=original, reason=reason, error_code=error_code, source=source, service="ingest"
        )
        return self._producer.produce(topics.CRM_CHANGES_DLQ, envelope)


def _readable(text: str) -> str:
    """``text`` as valid UTF-8 (a lone surrogate becomes ``\\ud800``), at most 2,000 characters."""
    text = text.encode("utf-8", "backslashreplace").decode()
    return text if len(text) <= 2000 else f"{text[:1980]}... (cut)"


def _count_published(done: asyncio.Future[int], label: str) -> None:
    if not done.cancelled() and done.exception() is None:
        metrics.PUBLISHED.labels(label).inc(done.result())
