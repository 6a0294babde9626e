"""Fan-out of earnings updates to the subscribers of each rep (runs on one event loop)."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from services.notifier import metrics
from services.notifier.proto.notifier_pb2 import EarningsUpdate

Closed = object()


class Hub:
    """Keeps the newest update per (rep, period) and the open subscriber queues."""

    def __init__(self, queue_size: int) -> None:
        self._queue_size = queue_size
        self._latest: dict[tuple[str, str], EarningsUpdate] = {}
        self._subscribers: dict[str, set[asyncio.Queue[object]]] = defaultdict(set)

    def publish(self, update: EarningsUpdate) -> bool:
        """Record and fan out ``update``; False when it is not newer than what was seen."""
        key = (update.rep_id, update.period)
        seen = self._latest.get(key)
        if seen is not None and seen.snapshot_version >= update.snapshot_version:
            return False
        self._latest[key] = update
        for queue in list(self._subscribers.get(update.rep_id, ())):
            try:
                queue.put_nowait(update)
            except asyncio.QueueFull:
                metrics.DROPPED_SUBSCRIBERS.inc()
                self.unsubscribe(update.rep_id, queue)
                queue.get_nowait()
                queue.put_nowait(Closed)
        return True

    def subscribe(self, rep_id: str) -> asyncio.Queue[object]:
        queue: asyncio.Queue[object] = asyncio.Queue(self._queue_size)
        for (latest_rep, _), update in sorted(self._latest.items()):
            if latest_rep == rep_id:
                queue.put_nowait(update)
        self._subscribers[rep_id].add(queue)
        metrics.SUBSCRIBERS.inc()
        return queue

    def unsubscribe(self, rep_id: str, queue: asyncio.Queue[object]) -> None:
        if queue in self._subscribers.get(rep_id, set()):
            self._subscribers[rep_id].discard(queue)
            metrics.SUBSCRIBERS.dec()
