"""Ingest as it runs in production (the real app, a real producer, the token verifier, the dead-letter
reader) on a free port in a thread of the test process, and Attain's own issuer as a real process."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import jwt
import pytest

from attain.embedded.issuer import EmbeddedIssuer
from attain.embedded.ports import free_port
from attain.platform import topics
from attain.platform.http import start_http
from attain.platform.identity import AuthSettings, TokenVerifier
from attain.platform.kafka import AsyncProducer, ensure_topics, producer_config
from attain.platform.settings import KafkaSettings
from services.ingest.app import build_app
from services.ingest.config import IngestSettings
from services.ingest.dead_letters import StoredLetter, read_dead_letters
from services.ingest.publisher import Publisher

DEV_SECRET = "dev-only-hs256-secret-for-ingest-tests"


def dev_verifier() -> TokenVerifier:
    """The dev-only HS256 setting, for tests about something else than identity (no issuer process)."""
    return TokenVerifier(AuthSettings(dev_hs256_secret=DEV_SECRET))


def dev_token(scope: str = "ingest:write", subject: str = "ingest-test-client") -> str:
    now = int(time.time())
    return jwt.encode({"sub": subject, "aud": "attain", "iat": now, "exp": now + 600, "scope": scope},
                      DEV_SECRET, algorithm="HS256")


@pytest.fixture(scope="module")
def ingest_issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedIssuer]:
    with EmbeddedIssuer(tmp_path_factory.mktemp("ingest-issuer")) as running:
        yield running


@contextmanager
def ingest_server(bootstrap: str, issuer_url: str, *, before_reading: Callable[[], object] = lambda: None,
                  **settings: Any) -> Iterator[str]:
    """ingest's HTTP doors at the returned URL until the block ends. ``before_reading``: called on the reading
    thread before each replay reads its dead-letter topic (a test holds a replay there)."""
    kafka = KafkaSettings(bootstrap=bootstrap)
    ensure_topics(kafka, [topics.CRM_CHANGES, topics.CRM_CHANGES_DLQ])
    config = IngestSettings(**settings)
    port = free_port()
    loop = asyncio.new_event_loop()
    up = threading.Event()
    stop: list[asyncio.Event] = []
    failure: list[BaseException] = []

    def read_letters(topic: str) -> list[StoredLetter]:
        before_reading()
        return list(read_dead_letters(bootstrap, topic))

    async def serve() -> None:
        producer = AsyncProducer(producer_config(kafka, **{"client.id": "attain-ingest-test"}), loop)
        app = build_app(Publisher(producer, config.limits()), config,
                        verifier=TokenVerifier(AuthSettings(issuer=issuer_url, audience="attain", leeway_seconds=5)),
                        read_letters=read_letters)
        runner = await start_http(app, "127.0.0.1", port)
        stop.append(asyncio.Event())
        up.set()
        try:
            await stop[0].wait()
        finally:
            await runner.cleanup()
            producer.close()

    def run() -> None:
        try:
            loop.run_until_complete(serve())
        except BaseException as error:  # noqa: BLE001 - reported by the waiting test
            failure.append(error)
            up.set()
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="ingest-under-test", daemon=True)
    thread.start()
    assert up.wait(30), "ingest did not start"
    if failure:
        raise failure[0]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(stop[0].set)
        thread.join(30)
