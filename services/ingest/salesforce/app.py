"""``python -m services.ingest.salesforce``: subscribe to the configured CDC channels, publish to ``crm.changes``.

One process, one gRPC channel, one subscription per Salesforce channel; ``/metrics`` and
health on ``ATTAIN_SALESFORCE_PORT`` (ready = every subscription has a stream open).
"""

from __future__ import annotations

import asyncio
import logging

import grpc
from aiohttp import web

from attain.platform import topics
from attain.platform.http import ReadyCheck, add_operational_routes
from attain.platform.kafka import AsyncProducer, producer_config, provide_topics
from attain.platform.service import Running, run_service
from attain.platform.settings import KafkaSettings, load_settings
from services.ingest.publisher import Publisher
from services.ingest.salesforce.auth import TokenSource, read_private_key
from services.ingest.salesforce.config import SalesforceSettings
from services.ingest.salesforce.mapping import load_mapping
from services.ingest.salesforce.proto.pubsub_api_pb2_grpc import PubSubStub
from services.ingest.salesforce.reconcile import Reconciler
from services.ingest.salesforce.replay import FileReplayStore, KafkaReplayStore, ReplayStore
from services.ingest.salesforce.schemas import SchemaCache
from services.ingest.salesforce.subscriber import ChannelSubscriber, SubscriberOptions

log = logging.getLogger("attain.ingest.salesforce")
GRPC_OPTIONS = [("grpc.max_receive_message_length", 64 * 1024 * 1024), ("grpc.keepalive_time_ms", 30_000)]


def token_source(settings: SalesforceSettings) -> TokenSource:
    return TokenSource(
        settings.auth_flow, settings.login_url, settings.client_id, username=settings.username,
        private_key=read_private_key(settings.private_key_file),
        client_secret=settings.secret() if settings.auth_flow == "client_credentials" else None,
        max_age_seconds=settings.token_max_age_seconds,
    )


def open_channel(settings: SalesforceSettings) -> grpc.aio.Channel:
    if settings.pubsub_insecure:
        return grpc.aio.insecure_channel(settings.pubsub_target, options=GRPC_OPTIONS)
    return grpc.aio.secure_channel(settings.pubsub_target, grpc.ssl_channel_credentials(), options=GRPC_OPTIONS)


async def build() -> Running:
    kafka = load_settings(KafkaSettings)
    settings = SalesforceSettings()
    mapping = load_mapping(settings.mapping_file)
    tokens = token_source(settings)
    provide_topics(kafka, [topics.CRM_CHANGES, topics.CRM_CHANGES_DLQ])
    loop = asyncio.get_running_loop()
    producer = AsyncProducer(producer_config(kafka, **{"client.id": "attain-ingest-salesforce"}), loop)
    store: ReplayStore
    if settings.replay_store == "kafka":
        provide_topics(kafka, [settings.replay_topic], compacted=[settings.replay_topic])
        store = KafkaReplayStore(kafka, settings.replay_topic, producer)
    else:
        store = FileReplayStore(settings.replay_file)
    publisher = Publisher(producer)
    channel = open_channel(settings)
    stub = PubSubStub(channel)
    schemas = SchemaCache(stub, tokens.token)
    options = SubscriberOptions(settings.batch_size, settings.max_in_flight, settings.replay_policy,
                                settings.reconnect_max_seconds, settings.reconcile_lookback_hours)
    reconciler = Reconciler(tokens, mapping, publisher, api_version=settings.api_version)
    subscribers = [
        ChannelSubscriber(name, stub, tokens, schemas, mapping, publisher, store, options,
                          reconciler if settings.reconcile else None)
        for name in settings.channel_list()
    ]

    def ready() -> tuple[bool, str]:
        waiting = [s.channel for s in subscribers if not s.connected]
        return (not waiting, f"waiting for {waiting}" if waiting else "subscribed")

    async def subscribe(stop: asyncio.Event) -> None:
        await asyncio.gather(*(subscriber.run(stop) for subscriber in subscribers))

    return Running(
        _app(ready), settings.host, settings.port, "salesforce ingest starting",
        {"channels": settings.channel_list(), "target": settings.pubsub_target, "port": settings.port},
        work=subscribe, before_http_stop=[channel.close],
        after_http_stop=[reconciler.close, tokens.close, producer.close],
        stopped="salesforce ingest stopped",
    )


def _app(ready: ReadyCheck) -> web.Application:
    app = web.Application()
    add_operational_routes(app, ready)
    return app


def main() -> None:
    run_service("ingest-salesforce", build, logger="attain.ingest.salesforce")
