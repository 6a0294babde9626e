"""Notifier entrypoint: gRPC ``Subscribe(rep_id)`` + gRPC health, HTTP health and metrics."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator

import grpc
from aiohttp import web
from confluent_kafka import Consumer, Message, Producer
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from attain.contracts.dead_letters import ErrorCode
from attain.contracts.earnings import EarningsSnapshot
from attain.planfiles import load_book
from attain.platform import topics
from attain.platform.consume import decode_messages, decoder, take
from attain.platform.health import BrokerProbe
from attain.platform.http import add_operational_routes
from attain.platform.identity import AuthError, AuthSettings, TokenVerifier
from attain.platform.kafka import consumer_config, producer_config, provide_topics
from attain.platform.metrics import ServerMetrics
from attain.platform.service import Running, in_thread, run_service
from attain.platform.settings import KafkaSettings, load_settings
from services.notifier import metrics
from services.notifier.access import ReadRecorder, SubscribeGuard
from services.notifier.channels import Channels, ChannelSettings
from services.notifier.config import NotifierSettings
from services.notifier.hub import Closed, Hub
from services.notifier.lineage import LineageGate
from services.notifier.milestones import (
    Deliverer,
    Detector,
    MilestoneHub,
    Store,
    consume_milestones,
    tiers_of,
    to_message,
)
from services.notifier.preferences_api import add_preferences_routes
from services.notifier.proto import notifier_pb2, notifier_pb2_grpc

log = logging.getLogger("attain.notifier")
SERVICE_NAME = "attain.notifier.v1.Notifier"


def to_update(snapshot: EarningsSnapshot) -> notifier_pb2.EarningsUpdate:
    return notifier_pb2.EarningsUpdate(
        rep_id=snapshot.rep_id,
        period=snapshot.period,
        plan_id=snapshot.plan_id,
        currency=snapshot.currency,
        snapshot_version=snapshot.snapshot_version,
        total_earned=snapshot.total_earned,
        computed_at_ms=snapshot.computed_at,
        trigger_ingested_at_ms=snapshot.trigger_ingested_at or 0,
        components=[
            notifier_pb2.ComponentProgress(
                component_id=c.component_id,
                credited_value=c.credited_value,
                quota=c.quota or "",
                attainment_ratio=c.attainment_ratio or "",
                earned_amount=c.earned_amount,
            )
            for c in snapshot.components
        ],
    )


def _skip(message: Message, reason: str, code: ErrorCode) -> None:
    metrics.REJECTED.inc()  # the ledger dead-letters the same message
    log.warning("undecodable snapshot", extra={"reason": reason, "error_code": code})


class NotifierServicer(notifier_pb2_grpc.NotifierServicer):
    def __init__(self, hub: Hub, guard: SubscribeGuard, recorder: ReadRecorder,
                 milestones: tuple[MilestoneHub, Deliverer, Store] | None = None) -> None:
        self._hub = hub
        self._guard = guard
        self._recorder = recorder
        self._milestones = milestones

    async def SubscribeMilestones(  # noqa: N802 - gRPC method name
        self, request: notifier_pb2.SubscribeRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[notifier_pb2.MilestoneNotification]:
        if not request.rep_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "rep_id is required")
        if self._milestones is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "milestones are not enabled")
        assert self._milestones is not None
        hub, deliverer, store = self._milestones
        identity = await self._guard.admit(request.rep_id, context)
        queue = hub.open(request.rep_id)  # before reading the record: nothing falls between the two
        try:
            await self._recorder.record(request.rep_id, context)
            locale = deliverer.preferences(request.rep_id).locale
            for record in store.of_rep(request.rep_id):
                yield to_message(record, locale)
            while (item := await queue.get()) is not None:
                metrics.PUSHED.inc()
                yield item
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "subscriber fell behind; resubscribe")
        finally:
            hub.close(request.rep_id, queue)
            self._guard.release(identity)

    async def Subscribe(  # noqa: N802 - gRPC method name
        self, request: notifier_pb2.SubscribeRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[notifier_pb2.EarningsUpdate]:
        if not request.rep_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "rep_id is required")
        identity = await self._guard.admit(request.rep_id, context)
        try:
            await self._recorder.record(request.rep_id, context)  # in the ledger's access log, or UNAVAILABLE
            log.info("pay stream opened", extra={"subject": identity.subject, "rep_id": request.rep_id})
            async for update in self._stream(request.rep_id, context):
                yield update
        finally:
            self._guard.release(identity)

    async def _stream(self, rep_id: str, context: grpc.aio.ServicerContext) -> AsyncIterator[
            notifier_pb2.EarningsUpdate]:
        queue = self._hub.subscribe(rep_id)
        try:
            while True:
                item = await queue.get()
                if item is Closed:
                    await context.abort(
                        grpc.StatusCode.RESOURCE_EXHAUSTED, "subscriber fell behind; resubscribe"
                    )
                assert isinstance(item, notifier_pb2.EarningsUpdate)
                metrics.PUSHED.inc()
                if item.trigger_ingested_at_ms:
                    metrics.END_TO_END.observe(max(0.0, time.time() - item.trigger_ingested_at_ms / 1000))
                yield item
        finally:
            self._hub.unsubscribe(rep_id, queue)


def consume(
    consumer: Consumer, loop: asyncio.AbstractEventLoop, hub: Hub, stopping: threading.Event,
    assigned: threading.Event, gate: LineageGate | None = None,
) -> None:
    """Feed snapshots from ``earnings`` to the hub on the event loop (runs in a thread)."""
    decode = decoder(topics.EARNINGS, EarningsSnapshot.from_avro)
    consumer.subscribe([topics.EARNINGS], on_assign=lambda *_: assigned.set())
    try:
        while not stopping.is_set():
            for snapshot, _ in decode_messages(take(consumer, 500, 0.1), decode, _skip):
                if gate is not None and not gate.allows(snapshot.lineage):
                    metrics.HELD.inc()  # the ledger quarantines it: not the pay the rep has
                    continue
                metrics.SNAPSHOTS_IN.inc()
                loop.call_soon_threadsafe(hub.publish, to_update(snapshot))
    finally:
        consumer.close()


async def build() -> Running:
    kafka = load_settings(KafkaSettings)
    settings = NotifierSettings()
    try:
        verifier = TokenVerifier(AuthSettings())
    except AuthError as error:
        raise SystemExit(f"notifier: {error}") from None
    book = load_book([settings.plans_file]) if settings.plans_file else None
    kept = [topics.NOTIFICATIONS, topics.NOTIFICATION_PREFERENCES]  # compacted
    provide_topics(kafka, [topics.EARNINGS, topics.PAYOUTS, topics.LEDGER_EVENTS, topics.NOTIFICATIONS_DLQ, *kept],
                   compacted=kept)
    loop = asyncio.get_running_loop()
    hub = Hub(settings.subscriber_queue_size)
    producer = Producer(producer_config(kafka, **{"client.id": "attain-notifier"}))
    store = Store(kafka, producer)
    await asyncio.to_thread(store.load)
    channels = Channels(ChannelSettings(settings.smtp_host, settings.smtp_port, settings.smtp_from,
                                        settings.vapid_private_key, settings.vapid_subject))
    milestone_hub = MilestoneHub(settings.subscriber_queue_size)
    deliverer = Deliverer(store, channels, milestone_hub, producer, settings.delivery_attempts,
                          settings.retry_initial_seconds, settings.retry_max_seconds)
    resumed = deliverer.resume()
    if resumed:
        log.info("delivering milestones left pending", extra={"count": resumed})

    server = grpc.aio.server(interceptors=[ServerMetrics()])
    guard = SubscribeGuard(verifier, book, settings.max_streams_per_subject)
    recorder = ReadRecorder(settings.ledger_url)
    if settings.ledger_url is None:
        log.warning("no ATTAIN_NOTIFIER_LEDGER_URL: every Subscribe is refused (its read cannot be logged)")
    servicer = NotifierServicer(hub, guard, recorder, (milestone_hub, deliverer, store))
    notifier_pb2_grpc.add_NotifierServicer_to_server(servicer, server)
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    server.add_insecure_port(f"{settings.host}:{settings.grpc_port}")
    await server.start()

    stopping = threading.Event()
    # A new group starts from the earliest snapshot so the hub knows each rep's latest
    # state for new subscribers; nothing published while the notifier was down is missed.
    consumer = Consumer(
        consumer_config(kafka, settings.group_id, **{"client.id": "attain-notifier",
                                                      "enable.auto.commit": True})
    )
    assigned = threading.Event()
    gate = LineageGate(settings.ledger_url)
    threading.Thread(target=gate.run, args=(stopping,), name="notifier-lineage", daemon=True).start()
    thread = threading.Thread(
        target=consume, args=(consumer, loop, hub, stopping, assigned, gate), daemon=True
    )
    thread.start()
    milestones_assigned = threading.Event()
    detector = Detector(store, settings.thresholds(), tiers_of(book))
    milestones = threading.Thread(target=consume_milestones, name="notifier-milestones", daemon=True, args=(
        Consumer(consumer_config(kafka, settings.milestones_group_id, **{
            "client.id": "attain-notifier-milestones", "enable.auto.commit": False})),
        detector, lambda record: loop.call_soon_threadsafe(deliverer.submit, record), stopping, milestones_assigned))
    milestones.start()
    for name in ("", SERVICE_NAME):
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)

    app = web.Application()
    add_preferences_routes(app, store, verifier)
    broker = BrokerProbe(kafka, topics.EARNINGS).start()

    def ready() -> tuple[bool, str]:  # its consumer: running, holding partitions, its broker reachable
        if not thread.is_alive():
            return False, "the consumer loop has stopped"
        if not milestones.is_alive():
            return False, "the milestones loop has stopped"
        if not assigned.is_set() or not milestones_assigned.is_set():
            return False, "waiting for partitions"
        return broker.ok, "consuming earnings" if broker.ok else broker.detail

    add_operational_routes(app, ready)

    async def not_serving() -> None:
        for name in ("", SERVICE_NAME):
            await health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)

    return Running(
        app, settings.host, settings.port, "notifier running",
        {"grpc_port": settings.grpc_port, "port": settings.port},
        before_http_stop=[not_serving, stopping.set, broker.stop, lambda: server.stop(grace=2), recorder.close,
                          in_thread(thread.join, 10), in_thread(milestones.join, 10), deliverer.stop,
                          channels.close, in_thread(producer.flush, 10)],
        stopped="notifier stopped",
    )


def main() -> None:
    run_service("notifier", build)
