"""Validate, normalise and publish change events; dead-letter every rejected one."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
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


class Publisher:
    """Turns raw items into ``crm.changes`` messages or ``crm.changes.dlq`` envelopes.

    Returns only after Kafka acknowledged every message, so an "accepted" answer
    means the event is durable, and a rejected one is in the DLQ.
    """

    def __init__(self, producer: AsyncProducer) -> None:
        self._producer = producer
        self._changes = contract(topics.CRM_CHANGES)

    async def publish(
        self, items: Sequence[tuple[Any, bytes]], source: str
    ) -> list[ItemResult]:
        """``items`` are (parsed item, original bytes) pairs."""
        now_ms = int(time.time() * 1000)
        pending: list[asyncio.Future[Any]] = []
        results: list[ItemResult] = []
        metrics.RECEIVED.labels(source.split(":")[0]).inc(len(items))
        for index, (item, original) in enumerate(items):
            event_id = item.get("event_id") if isinstance(item, dict) else None
            try:
                record = normalise(item, source, now_ms)
            except InvalidEvent as error:
                pending.append(self.reject(original, str(error), "validation_error", f"{source}#{index}"))
                results.append(ItemResult(index, False, _text_or_none(event_id), str(error)))
                continue
            pending.append(
                self._producer.produce(
                    topics.CRM_CHANGES,
                    self._changes.encode(record),
                    key=record["record_id"].encode(),
                )
            )
            results.append(ItemResult(index, True, record["event_id"]))
        await asyncio.gather(*pending)
        accepted = sum(r.accepted for r in results)
        metrics.PUBLISHED.inc(accepted)
        return results

    def reject(
        self, original: bytes, reason: str, error_code: str, source: str
    ) -> asyncio.Future[Any]:
        metrics.REJECTED.labels(error_code).inc()
        log.warning("event rejected", extra={"reason": reason, "source": source})
        envelope = dead_letter(
            original=original, reason=reason, error_code=error_code, source=source, service="ingest"
        )
        return self._producer.produce(topics.CRM_CHANGES_DLQ, envelope)


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
