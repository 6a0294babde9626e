"""Ingest entrypoint: ``POST /v1/events`` and the signed ``POST /v1/webhooks/crm`` (one event or a
JSON array), plus health and metrics."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable

from aiohttp import web

from attain.platform import topics
from attain.platform.health import BrokerProbe
from attain.platform.http import add_operational_routes, start_http
from attain.platform.kafka import AsyncProducer, ensure_topics, producer_config
from attain.platform.logs import configure_logging
from attain.platform.settings import KafkaSettings, ServiceSettings, load_settings
from services.ingest import metrics
from services.ingest.canonical import parse_json, to_json_bytes
from services.ingest.config import IngestSettings
from services.ingest.publisher import Publisher
from services.ingest.signatures import HEADER as SIGNATURE_HEADER
from services.ingest.signatures import SignatureError, verify

log = logging.getLogger("attain.ingest")


def build_app(publisher: Publisher, settings: IngestSettings, broker: BrokerProbe | None = None,
              renew_producer: Callable[[], None] | None = None) -> web.Application:
    """``broker``: the readiness probe; while it says the broker is down, requests get 503 at once.
    ``renew_producer``: called when the broker answers but did not acknowledge a request in time."""
    app = web.Application(client_max_size=settings.max_body_bytes)
    webhook_secrets = settings.webhook_secret_list()

    async def ingest(body: bytes, source: str) -> web.Response:
        started = time.perf_counter()
        if broker is not None and not broker.ok:  # nothing can be accepted or dead-lettered: say so at once
            metrics.ERRORS.inc()
            return web.json_response({"error": f"{broker.detail}; retry"}, status=503)
        try:
            parsed = parse_json(body)
        except ValueError as error:  # also nesting too deep to read: the body as a whole is refused
            try:
                await publisher.reject(body, f"body is not JSON: {error}", "invalid_json", source)
            except Exception as failure:  # broker unreachable: the caller must retry
                metrics.ERRORS.inc()
                return web.json_response({"error": f"could not dead-letter: {failure}; retry"}, status=503)
            return web.json_response(
                {"error": f"body is not JSON: {error}", "dead_lettered": True}, status=400
            )
        batch = parsed if isinstance(parsed, list) else [parsed]
        if len(batch) > settings.max_batch_records:
            return web.json_response(
                {"error": f"batch of {len(batch)} records exceeds {settings.max_batch_records}; split it"},
                status=413,
            )
        items = [(item, to_json_bytes(item) if isinstance(parsed, list) else body) for item in batch]
        try:
            results = await asyncio.wait_for(publisher.publish(items, source), settings.publish_timeout_seconds)
        except TimeoutError:  # the broker did not acknowledge in time: nothing may be counted as accepted
            metrics.ERRORS.inc()
            wedged = broker is not None and broker.ok and renew_producer is not None
            log.warning("publish timed out", extra={"timeout_seconds": settings.publish_timeout_seconds,
                                                    "renewing_producer": wedged})
            if wedged:  # the broker answers yet did not take our records: a fresh client for the next request
                await asyncio.get_running_loop().run_in_executor(None, renew_producer)
            return web.json_response(
                {"error": f"the broker did not acknowledge within {settings.publish_timeout_seconds}s; retry"},
                status=503,
            )
        except Exception as error:  # broker unreachable: the caller must retry, nothing was accepted
            metrics.ERRORS.inc()
            log.exception("publish failed")
            return web.json_response({"error": f"could not publish: {error}; retry"}, status=503)
        metrics.LATENCY.observe(time.perf_counter() - started)
        accepted = sum(r.accepted for r in results)
        status = 202 if accepted == len(results) else (422 if accepted == 0 else 207)
        return web.json_response(
            {
                "accepted": accepted,
                "rejected": len(results) - accepted,
                "results": [r.to_json() for r in results],
            },
            status=status,
        )

    async def post_events(request: web.Request) -> web.Response:
        return await ingest(await request.read(), "http")

    async def post_webhook(request: web.Request) -> web.Response:
        if not webhook_secrets:
            return web.json_response(
                {"error": "webhook not configured: set ATTAIN_INGEST_WEBHOOK_SECRETS(_FILE)"}, status=503
            )
        body = await request.read()
        try:
            verify(body, request.headers.get(SIGNATURE_HEADER), webhook_secrets, int(time.time()),
                   settings.webhook_tolerance_seconds)
        except SignatureError as error:
            # Unauthenticated input is refused, not stored: the sender learns why and retries signed.
            metrics.WEBHOOK_AUTH_FAILURES.labels(error.reason).inc()
            log.warning("webhook refused", extra={"reason": error.reason, "remote": request.remote})
            return web.json_response({"error": str(error)}, status=401)
        return await ingest(body, "webhook")

    app.router.add_post("/v1/events", post_events)
    app.router.add_post("/v1/webhooks/crm", post_webhook)
    def ready() -> tuple[bool, str]:  # its one dependency: the broker
        if broker is None or broker.ok:
            return True, "accepting events"
        return False, broker.detail

    add_operational_routes(app, ready)
    return app


async def serve() -> None:
    service = ServiceSettings()
    configure_logging("ingest", service.log_level)
    kafka = KafkaSettings()
    settings = load_settings(IngestSettings)
    ensure_topics(kafka, [topics.CRM_CHANGES, topics.CRM_CHANGES_DLQ])
    loop = asyncio.get_running_loop()
    producer = AsyncProducer(producer_config(kafka, **{"client.id": "attain-ingest"}), loop)
    publisher = Publisher(producer, settings.limits(), max_record_bytes=settings.max_record_bytes,
                          max_dead_letter_bytes=settings.max_dead_letter_bytes)
    broker = BrokerProbe(kafka.bootstrap, topics.CRM_CHANGES).start()
    app = build_app(publisher, settings, broker, producer.renew)
    runner = await start_http(app, settings.host, settings.port)
    log.info("ingest listening", extra={"host": settings.host, "port": settings.port})
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    broker.stop()
    producer.close()
    log.info("ingest stopped")


def main() -> None:
    asyncio.run(serve())
