"""Ledger entrypoint: ``python -m services.ledger [migrate | downgrade REVISION]``."""

from __future__ import annotations

import logging
import sys
import threading

from aiohttp import web
from confluent_kafka import Consumer, Producer

from attain.platform import topics
from attain.platform.health import BrokerProbe
from attain.platform.http import add_operational_routes
from attain.platform.kafka import consumer_config, producer_config, provide_topics
from attain.platform.service import Running, in_thread, run_service, start_logging
from attain.platform.settings import KafkaSettings, load_settings
from services.ledger.api import add_api_routes
from services.ledger.auth import LedgerGuard
from services.ledger.config import LedgerSettings, MissingDatabaseUrl
from services.ledger.db import downgrade, make_engine, migrate
from services.ledger.grpc_api import start_grpc
from services.ledger.lineage import add_lineage_route
from services.ledger.payouts import OutboxRelay
from services.ledger.worker import LedgerWorker

log = logging.getLogger("attain.ledger")


async def build(settings: LedgerSettings, kafka: KafkaSettings) -> Running:
    provide_topics(kafka, [topics.EARNINGS, topics.EARNINGS_DLQ, topics.PAYOUTS, topics.PAYOUTS_CONTROL,
                           topics.LEDGER_EVENTS])
    engine = make_engine(settings.required_database_url())
    worker = LedgerWorker(
        Consumer(consumer_config(kafka, settings.group_id, **{"client.id": "attain-ledger",
                                                               "max.poll.interval.ms": settings.max_poll_interval_ms})),
        Producer(producer_config(kafka, **{"client.id": "attain-ledger"})),
        engine,
        settings.batch_size, settings.poll_timeout_seconds, settings.retry_backoff_seconds,
        scope_by=settings.period_scope, max_retry_backoff=settings.retry_backoff_max_seconds,
    )
    thread = threading.Thread(target=worker.run, name="ledger-worker", daemon=True)
    thread.start()
    relay = OutboxRelay(engine, Producer(producer_config(kafka, **{"client.id": "attain-ledger-outbox"})))
    relay_thread = threading.Thread(
        target=relay.run, args=(worker.stopping, settings.outbox_interval_seconds), name="ledger-outbox",
        daemon=True,
    )
    relay_thread.start()
    broker = BrokerProbe(kafka, topics.EARNINGS).start()

    def ready() -> tuple[bool, str]:  # its real dependencies: the consumer loop, the database, the broker
        if not thread.is_alive():
            return False, "the consumer loop has stopped"
        if not worker.database_ok:
            return False, worker.database_detail
        return broker.ok, "ok" if broker.ok else broker.detail

    app = web.Application()
    add_operational_routes(app, ready)
    guard = LedgerGuard(settings)  # one verifier and one rate-limit count for both doors
    add_api_routes(app, engine, settings, guard, kafka)
    add_lineage_route(app, engine)
    grpc_server = await start_grpc(engine, settings, guard) if settings.grpc_port else None
    return Running(
        app, settings.host, settings.port, "ledger running", {"port": settings.port}, alive=thread.is_alive,
        before_http_stop=[worker.stopping.set, broker.stop, in_thread(thread.join, 15),
                          in_thread(relay_thread.join, 15)],
        after_http_stop=[lambda: grpc_server.stop(5)] if grpc_server is not None else [],
        stopped="ledger stopped",
    )


def main() -> None:
    try:
        start()
    except MissingDatabaseUrl as error:
        log.critical("refusing to start: %s", error)
        raise SystemExit(2) from None


def start() -> None:
    if sys.argv[1:] == ["migrate"]:
        start_logging("ledger")
        migrate(load_settings(LedgerSettings).required_database_url())
        log.info("ledger schema is at the newest revision")
        return
    if sys.argv[1:2] == ["downgrade"] and len(sys.argv) == 3:  # a rollback: docs/operations.md
        start_logging("ledger")
        downgrade(load_settings(LedgerSettings).required_database_url(), sys.argv[2])
        log.info("ledger schema is at revision %s", sys.argv[2])
        return
    if sys.argv[1:]:
        start_logging("ledger")
        raise SystemExit(f"usage: python -m services.ledger [migrate | downgrade REVISION]; got {sys.argv[1:]}")
    settings = load_settings(LedgerSettings)
    settings.required_database_url()  # before anything starts
    run_service("ledger", lambda: build(settings, load_settings(KafkaSettings)))
