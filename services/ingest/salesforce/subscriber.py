"""One Pub/Sub API subscription per channel: fetch in batches, decode, publish, then move the replay id.

Position rule: the replay id stored (and used to resume) is always that of an event whose
change records, and those of every event before it, Kafka has acknowledged. A crash
therefore redelivers at most the unacknowledged tail, whose records carry the same
deterministic event ids (the dedupe key downstream).

With a :class:`Reconciler`, nothing lost stays lost: a gap event's records, and after a
refused replay id every record changed since the last change seen (or the configured
look-back), are re-read from the REST API and published; a batch's replay id is stored
only once its re-reads are in Kafka too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
from opentelemetry.trace import SpanKind

from attain.contracts.dead_letters import ErrorCode
from attain.platform import tracing
from services.ingest import metrics
from services.ingest.publisher import Incoming, Publisher
from services.ingest.salesforce.auth import AccessToken, AuthError, TokenSource
from services.ingest.salesforce.changes import (
    ALL_RECORDS,
    GAP_TYPES,
    HEADER,
    ChangeEventError,
    EventSchema,
    UnknownSplitParent,
    canonical_items,
)
from services.ingest.salesforce.mapping import FieldMapping, FieldValueError, UnmappedObject
from services.ingest.salesforce.proto import pubsub_api_pb2 as pb
from services.ingest.salesforce.proto.pubsub_api_pb2_grpc import PubSubStub
from services.ingest.salesforce.reconcile import ReconcileError, Reconciler, channel_entities
from services.ingest.salesforce.replay import ReplayStore
from services.ingest.salesforce.schemas import SchemaCache, UnknownSchema

log = logging.getLogger("attain.ingest.salesforce")
PRESETS = {"EARLIEST": pb.EARLIEST, "LATEST": pb.LATEST}
SAVE_INTERVAL_S = 0.2


@dataclass
class Pending:
    """A received batch: done when Kafka has all its records (and dead letters)."""

    acknowledged: Awaitable[Any]
    replay_id: bytes
    events: int
    newest_commit_ms: int


@dataclass(frozen=True)
class SubscriberOptions:
    batch_size: int = 100
    max_in_flight: int = 2000
    replay_policy: str = "LATEST"
    reconnect_max_seconds: float = 30.0
    reconcile_lookback_hours: float = 168.0  # re-read window after a refused replay id, when no change was seen


class ChannelSubscriber:
    def __init__(self, channel: str, stub: PubSubStub, tokens: TokenSource, schemas: SchemaCache,
                 mapping: FieldMapping, publisher: Publisher, store: ReplayStore,
                 options: SubscriberOptions, reconciler: Reconciler | None = None) -> None:
        self.channel = channel
        self._source = f"salesforce:{channel}"
        self._stub = stub
        self._tokens = tokens
        self._schemas = schemas
        self._mapping = mapping
        self._publisher = publisher
        self._store = store
        self._options = options
        self.position: bytes | None = store.load(channel)
        self._requests: asyncio.Queue[pb.FetchRequest | None] = asyncio.Queue()
        self._pending: asyncio.Queue[Pending | None] = asyncio.Queue()
        self._requested = 0
        self._in_flight = 0
        self.connected = False
        self._streamed = False
        self._reconciler = reconciler
        self._parents: dict[str, str] = {}  # split id -> opportunity id
        self._newest_commit_ms = 0  # of the changes Kafka acknowledged
        self._window_since_ms: int | None = None  # a re-read owed since a refused replay id

    async def run(self, stop: asyncio.Event) -> None:
        """Subscribe until ``stop``; reconnect after errors, always from the last acknowledged replay id.

        A failed Kafka write is not retried here: it propagates and stops the process, which
        restarts from the stored position (nothing after it was acknowledged)."""
        backoff = 0.5
        fresh_token_refused = False
        while not stop.is_set():
            try:
                await self._reread_window()
                token = await self._tokens.token()
                await self._subscribe(token, stop)
                backoff, fresh_token_refused = 0.5, False
                continue
            except grpc.aio.AioRpcError as error:
                if self._streamed:  # the stream worked for a while: this failure is a new one
                    backoff, fresh_token_refused = 0.5, False
                code = error.code()
                metrics.RECONNECTS.labels(self.channel, code.name).inc()
                if code == grpc.StatusCode.UNAUTHENTICATED and not fresh_token_refused:
                    # expired: refresh once and resume at once; a brand-new token refused too waits below
                    log.warning("salesforce token refused; refreshing and resuming",
                                extra={"channel": self.channel, "replay_id": _hex(self.position)})
                    fresh_token_refused = True
                    await self._refresh_quietly(token)
                    continue
                if _replay_id_refused(error):
                    self._fall_back(error)
                    continue
                detail = f"{code.name}: {error.details()}"
                if code == grpc.StatusCode.UNAUTHENTICATED:
                    await self._refresh_quietly(token)
            except (AuthError, httpx.HTTPError, ReconcileError) as error:
                metrics.RECONNECTS.labels(self.channel, "AUTH").inc()
                detail = f"could not obtain a token or re-read records: {error}"
            log.warning("salesforce subscription failed; reconnecting",
                        extra={"channel": self.channel, "details": detail, "retry_in_s": backoff,
                               "replay_id": _hex(self.position)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            backoff = min(backoff * 2, self._options.reconnect_max_seconds)

    async def _refresh_quietly(self, stale: AccessToken) -> None:
        try:
            await self._tokens.refresh(stale)
        except (AuthError, httpx.HTTPError) as error:
            log.warning("salesforce token refresh failed", extra={"channel": self.channel, "details": str(error)})

    def _fall_back(self, error: grpc.aio.AioRpcError) -> None:
        policy = self._options.replay_policy
        metrics.REPLAY_FALLBACKS.labels(self.channel, policy).inc()
        log.error(
            "SALESFORCE REFUSED THE STORED REPLAY ID (expired or invalid): restarting the subscription at "
            f"{policy}; changes between the stored position and {policy} may be MISSING or REPEATED: "
            "backfill that window (attain ingest backfill) and check the calculator",
            extra={"channel": self.channel, "replay_id": _hex(self.position), "details": error.details()},
        )
        self.position = None
        if self._reconciler is not None:
            lookback_ms = int(self._options.reconcile_lookback_hours * 3_600_000)
            self._window_since_ms = (self._newest_commit_ms or int(time.time() * 1000) - lookback_ms)

    async def _reread_window(self) -> None:
        """After a refused replay id: re-read what changed since the last change seen, before resubscribing."""
        since = self._window_since_ms
        if since is None or self._reconciler is None:
            return
        try:
            acknowledged = await self._reconciler.reread_window(
                self.channel, channel_entities(self.channel, self._mapping), since, int(time.time() * 1000),
                "replay_expired")
            await acknowledged
        except Exception:
            metrics.REREADS.labels(self.channel, "replay_expired", "failed").inc()
            raise
        metrics.REREADS.labels(self.channel, "replay_expired", "ok").inc()
        self._window_since_ms = None

    async def _subscribe(self, token: AccessToken, stop: asyncio.Event) -> None:
        self._requests = asyncio.Queue()
        self._pending = asyncio.Queue()
        self._requested = self._in_flight = 0
        self._streamed = False
        committer = asyncio.create_task(self._commit_loop())
        first = self._first_request()
        call = self._stub.Subscribe(self._request_stream(first), metadata=token.metadata())
        stopping = asyncio.create_task(stop.wait())
        stopping.add_done_callback(lambda _: call.cancel())
        try:
            log.info("salesforce subscription opened", extra={
                "channel": self.channel, "replay_preset": pb.ReplayPreset.Name(first.replay_preset),
                "replay_id": _hex(self.position)})
            await call.initial_metadata()  # the stream is accepted (a quiet channel may send nothing for minutes)
            self.connected = not call.done()
            async for response in call:
                self.connected = self._streamed = True
                if committer.done():
                    committer.result()  # a failed Kafka write: raise, resume from the last acknowledged id
                self._requested -= len(response.events)
                await self._handle(response)
                self._top_up()
        except asyncio.CancelledError:
            if not stop.is_set():
                raise
        finally:
            self.connected = False
            stopping.cancel()
            call.cancel()
            await self._pending.put(None)
            with contextlib.suppress(Exception):
                await committer  # every batch received so far: acknowledged and stored, or failed

    def _first_request(self) -> pb.FetchRequest:
        self._requested = self._options.batch_size
        if self.position is not None:
            return pb.FetchRequest(topic_name=self.channel, replay_preset=pb.CUSTOM, replay_id=self.position,
                                   num_requested=self._options.batch_size)
        return pb.FetchRequest(topic_name=self.channel, replay_preset=PRESETS[self._options.replay_policy],
                               num_requested=self._options.batch_size)

    async def _request_stream(self, first: pb.FetchRequest) -> AsyncIterator[pb.FetchRequest]:
        yield first
        while True:
            request = await self._requests.get()
            if request is None:
                return
            yield request

    def _top_up(self) -> None:
        """Ask for more batches while owed plus received-but-unacknowledged events leave room."""
        batch = self._options.batch_size
        while self._requested <= 0 or self._requested + self._in_flight + batch <= self._options.max_in_flight:
            self._requested += batch
            self._requests.put_nowait(pb.FetchRequest(topic_name=self.channel, num_requested=batch))

    async def _handle(self, response: pb.FetchResponse) -> None:
        if not response.events:
            if response.latest_replay_id:
                done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                done.set_result(None)
                await self._pending.put(Pending(done, response.latest_replay_id, 0, 0))
            return
        metrics.SALESFORCE_EVENTS.labels(self.channel).inc(len(response.events))
        entries: list[Incoming] = []
        rejects: list[Awaitable[Any]] = []
        newest_commit = 0
        for delivered in response.events:
            position = dead_letter_position(self.channel, delivered.replay_id, delivered.event.schema_id)
            payload = delivered.event.payload
            try:
                schema = await self._schemas.get(delivered.event.schema_id)  # gRPC errors: reconnect
                event = schema.decode_payload(payload)
                items = await self._items(event, schema, delivered.replay_id)
                if event[HEADER].get("changeType") in GAP_TYPES:
                    rejects.append(await self._reread_gap(event[HEADER], items))
            except (grpc.aio.AioRpcError, httpx.HTTPError):
                raise  # Pub/Sub or REST unreachable: reconnect, the batch comes again
            except Exception as error:  # noqa: BLE001 - one bad event must never stop the stream (poison pill)
                reason = f"{position}: {error}"
                rejects.append(self._publisher.reject(payload, reason, _error_code(error), position, self._source))
                continue
            for item in items:
                newest_commit = max(newest_commit, item["commit_timestamp"])
                entries.append(Incoming(item, payload, position))
        with tracing.span("salesforce events", SpanKind.CONSUMER, **{"messaging.source.name": self.channel,
                                                                    "messaging.batch.message_count": len(entries)}):
            _, acknowledged = self._publisher.submit(entries, self._source)  # a new trace per fetched batch
        self._in_flight += len(response.events)
        await self._pending.put(Pending(asyncio.gather(acknowledged, *rejects), response.events[-1].replay_id,
                                        len(response.events), newest_commit))

    async def _items(self, event: dict[str, Any], schema: EventSchema, replay_id: bytes) -> list[dict[str, Any]]:
        try:
            return canonical_items(event, schema, self._mapping, self.channel, replay_id, self._parents)
        except UnknownSplitParent as missing:
            if self._reconciler is None:
                raise
            entity = str(event[HEADER].get("entityName"))
            self._parents.update(await self._reconciler.split_parents(entity, missing.split_ids))
            return canonical_items(event, schema, self._mapping, self.channel, replay_id, self._parents)

    async def _reread_gap(self, header: dict[str, Any], items: list[dict[str, Any]]) -> Awaitable[Any]:
        """A gap event's records, re-read and published (all of the object since the event for GAP_OVERFLOW)."""
        metrics.GAPS.labels(self.channel).inc()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        if self._reconciler is None:
            return done
        entity = str(header.get("entityName"))
        ids = [str(item["record_id"]) for item in items if item["record_id"] != ALL_RECORDS]
        try:
            if len(ids) < len(items):
                committed = int(header.get("commitTimestamp") or 0)
                acknowledged = await self._reconciler.reread_window(
                    self.channel, [entity], max(0, committed - 60_000), int(time.time() * 1000), "gap")
            else:
                acknowledged = await self._reconciler.reread_ids(self.channel, entity, ids, "gap")
        except Exception:
            metrics.REREADS.labels(self.channel, "gap", "failed").inc()
            raise
        metrics.REREADS.labels(self.channel, "gap", "ok").inc()
        return acknowledged

    async def _commit_loop(self) -> None:
        """In arrival order: wait for Kafka, then store the newest acknowledged replay id (at most
        every SAVE_INTERVAL_S under load, at once when idle, and before the stream closes)."""
        unsaved: bytes | None = None
        last_save = time.monotonic()
        while True:
            head = await self._pending.get()
            if head is None:
                break
            await head.acknowledged
            self._in_flight -= head.events
            self.position = unsaved = head.replay_id
            if head.newest_commit_ms:
                self._newest_commit_ms = max(self._newest_commit_ms, head.newest_commit_ms)
                metrics.REPLAY_LAG.labels(self.channel).set(max(0.0, time.time() - head.newest_commit_ms / 1000))
            if self.connected:
                self._top_up()
            if self._pending.empty() or time.monotonic() - last_save > SAVE_INTERVAL_S:
                await self._store.save(self.channel, unsaved)
                unsaved, last_save = None, time.monotonic()
        if unsaved is not None:
            await self._store.save(self.channel, unsaved)


def dead_letter_position(channel: str, replay_id: bytes, schema_id: str) -> str:
    """``salesforce:<channel>@<replay id hex>/<schema id>``: enough to find, decode and re-drive the event."""
    return f"salesforce:{channel}@{replay_id.hex()}/{schema_id}"


def parse_dead_letter_position(source: str) -> tuple[str, bytes, str]:
    """(channel, replay id, schema id) of a position written by :func:`dead_letter_position`."""
    head, _, tail = source.rpartition("@")
    replay_hex, _, schema_id = tail.partition("/")
    if not head.startswith("salesforce:") or not replay_hex or not schema_id:
        raise ValueError(f"{source!r} is not a Salesforce dead-letter position")
    return head.removeprefix("salesforce:"), bytes.fromhex(replay_hex), schema_id


def _error_code(error: Exception) -> ErrorCode:
    if isinstance(error, UnknownSchema):
        return ErrorCode.UNKNOWN_SCHEMA
    if isinstance(error, UnmappedObject):
        return ErrorCode.UNKNOWN_OBJECT_TYPE
    if isinstance(error, FieldValueError):
        return ErrorCode.VALIDATION_ERROR
    if isinstance(error, ChangeEventError):
        return ErrorCode.UNDECODABLE
    return ErrorCode.UNEXPECTED_EVENT_SHAPE


def _replay_id_refused(error: grpc.aio.AioRpcError) -> bool:
    if error.code() != grpc.StatusCode.INVALID_ARGUMENT:
        return False
    trailers = dict(error.trailing_metadata() or ())
    return "replayid" in str(trailers.get("error-code", "")).lower() or "replay" in (error.details() or "").lower()


def _hex(replay_id: bytes | None) -> str | None:
    return replay_id.hex() if replay_id else None
