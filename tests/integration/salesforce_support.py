"""Shared pieces of the Salesforce ingest tests: keys, a fake org, running the subscriber, reading topics."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from attain.platform import topics
from attain.platform.avro import contract
from attain.platform.kafka import AsyncProducer, ensure_topics, producer_config
from attain.platform.reading import read_until_idle
from attain.platform.settings import KafkaSettings
from services.ingest.publisher import Publisher
from services.ingest.salesforce.auth import TokenSource
from services.ingest.salesforce.mapping import load_mapping
from services.ingest.salesforce.proto.pubsub_api_pb2_grpc import PubSubStub
from services.ingest.salesforce.reconcile import Reconciler
from services.ingest.salesforce.replay import FileReplayStore
from services.ingest.salesforce.schemas import SchemaCache
from services.ingest.salesforce.subscriber import ChannelSubscriber, SubscriberOptions
from tests.fakes.pubsub_server import FakeSalesforce
from tests.polling import budget, deadline_in

REPO = Path(__file__).resolve().parents[2]
MAPPING_FILE = REPO / "examples/salesforce/mapping.yaml"


def unique(prefix: str) -> str:
    """A record id prefix no earlier run used (the broker outlives one test)."""
    return f"{prefix}{uuid.uuid4().hex[:8].upper()}"


def rsa_key_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def run_subscriber(sf: FakeSalesforce, bootstrap: str, private_key: str, channel: str, replay_file: Path,
                   until: Callable[[], bool], *, timeout: float = 60, policy: str = "EARLIEST",
                   batch_size: int = 100, max_in_flight: int = 400, reconcile: bool = False) -> ChannelSubscriber:
    """Run one in-process subscription until ``until()`` holds (checked between events), then stop it;
    with ``reconcile`` it re-reads records from the fake's REST API after gaps and a refused replay id."""
    import grpc

    async def main() -> ChannelSubscriber:
        kafka = KafkaSettings(bootstrap=bootstrap)
        ensure_topics(kafka, [topics.CRM_CHANGES, topics.CRM_CHANGES_DLQ])
        producer = AsyncProducer(producer_config(kafka), asyncio.get_running_loop())
        tokens = TokenSource("jwt", sf.login_url, sf.oauth.client_id, username=sf.oauth.username,
                             private_key=private_key)
        async with grpc.aio.insecure_channel(sf.target) as grpc_channel:
            stub = PubSubStub(grpc_channel)
            mapping, publisher = load_mapping(MAPPING_FILE), Publisher(producer)
            reconciler = Reconciler(tokens, mapping, publisher) if reconcile else None
            subscriber = ChannelSubscriber(
                channel, stub, tokens, SchemaCache(stub, tokens.token), mapping, publisher,
                FileReplayStore(replay_file), SubscriberOptions(batch_size, max_in_flight, policy, 1.0), reconciler)
            stop = asyncio.Event()
            task = asyncio.create_task(subscriber.run(stop))
            deadline = deadline_in(timeout)
            try:
                while not await asyncio.to_thread(until):
                    if time.monotonic() > deadline:
                        raise AssertionError(f"subscriber did not reach the condition in {timeout}s")
                    if task.done():
                        task.result()
                    await asyncio.sleep(0.3)
            finally:
                stop.set()
                await asyncio.wait_for(task, 20)
                if reconciler is not None:
                    await reconciler.close()
                await tokens.close()
                producer.close()
        return subscriber

    return asyncio.run(main())


def read_topic(bootstrap: str, topic: str, keep: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """Every message of ``topic`` up to its current end, decoded, filtered by ``keep``."""
    messages = read_until_idle(bootstrap, topic, timeout=budget(60))
    decoded = (contract(topic).decode(message.value()) for message in messages)
    return [record for record in decoded if keep(record)]


def changes_with_prefix(bootstrap: str, prefix: str) -> list[dict[str, Any]]:
    return read_topic(bootstrap, topics.CRM_CHANGES, lambda r: r["record_id"].startswith(prefix))


def dead_letters_mentioning(bootstrap: str, text: str) -> list[dict[str, Any]]:
    return read_topic(bootstrap, topics.CRM_CHANGES_DLQ, lambda r: text in r["source"] or text in r["reason"])
