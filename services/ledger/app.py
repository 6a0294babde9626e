"""Ledger entrypoint: ``python -m services.ledger [migrate]``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import threading

from aiohttp import web
from confluent_kafka import Consumer, Producer

from attain.platform import topics
from attain.platform.health import BrokerProbe
from attain.platform.http import add_operational_routes, start_http
from attain.platform.kafka import consumer_config, ensure_topics, producer_config
from attain.platform.logs import configure_logging
from attain.platform.settings import KafkaSettings, ServiceSettings, load_settings
from services.ledger.api import add_api_routes
from services.ledger.auth import LedgerGuard
from services.ledger.config import LedgerSettings
from services.ledger.db import make_engine, migrate
from services.ledger.grpc_api import start_grpc
from services.ledger.lineage import add_lineage_route
from services.ledger.payouts import OutboxRelay
from services.ledger.worker import LedgerWorker

log = logging.getLogger("attain.ledger")


async def serve(settings: LedgerSettings, kafka: KafkaSettings) -> None:
    ensure_topics(kafka, [topics.EARNINGS, topics.EARNINGS_DLQ, topics.PAYOUTS, topics.PAYOUTS_CONTROL])
    engine = make_engine(settings.database_url)
    worker = LedgerWorker(
        Consumer(consumer_config(kafka, settings.group_id, **{"client.id": "attain-ledger",
                                                               "max.poll.interval.ms": settings.max_poll_interval_ms})),
        Producer(producer_config(kafka, **{"client.id": "attain-ledger"})),
        engine,
        settings.batch_size, settings.poll_timeout_seconds, settings.retry_backoff_seconds,
        settings.pause_after_db_commit_seconds, settings.period_scope, settings.retry_backoff_max_seconds,
    )
    thread = threading.Thread(target=worker.run, name="ledger-worker", daemon=True)
    thread.start()
    relay = OutboxRelay(engine, Producer(producer_config(kafka, **{"client.id": "attain-ledger-outbox"})),
                        pause_before_marking=settings.pause_after_outbox_publish_seconds)
    relay_thread = threading.Thread(
        target=relay.run, args=(worker.stopping, settings.outbox_interval_seconds), name="ledger-outbox",
        daemon=True,
    )
    relay_thread.start()
    broker = BrokerProbe(kafka.bootstrap, topics.EARNINGS).start()

    def ready() -> tuple[bool, str]:  # its real dependencies: the consumer loop, the database, the broker
        if not thread.is_alive():
            return False, "the consumer loop has stopped"
        if not worker.database_ok:
            return False, worker.database_detail
        return broker.ok, "ok" if broker.ok else broker.detail

    app = web.Application()
    add_operational_routes(app, ready)
    guard = LedgerGuard(settings)  # one verifier and one rate-limit count for both doors
    add_api_routes(app, engine, settings, guard)
    add_lineage_route(app, engine)
    runner = await start_http(app, settings.host, settings.port)
    grpc_server = await start_grpc(engine, settings, guard) if settings.grpc_port else None
    log.info("ledger running", extra={"port": settings.port})
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set() and thread.is_alive():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1)
    worker.stopping.set()
    broker.stop()
    await loop.run_in_executor(None, thread.join, 15)
    await loop.run_in_executor(None, relay_thread.join, 15)
    await runner.cleanup()
    if grpc_server is not None:
        await grpc_server.stop(5)
    log.info("ledger stopped")


def main() -> None:
    service = ServiceSettings()
    configure_logging("ledger", service.log_level)
    settings = load_settings(LedgerSettings)
    if sys.argv[1:] == ["migrate"]:
        migrate(settings.database_url)
        log.info("ledger schema is at the newest revision")
        return
    if sys.argv[1:]:
        raise SystemExit(f"usage: python -m services.ledger [migrate]; got {sys.argv[1:]}")
    asyncio.run(serve(settings, KafkaSettings()))
