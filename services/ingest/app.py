"""Ingest entrypoint: ``POST /v1/events`` (one event or a JSON array), ``POST /v1/backfill`` (history
rows with their line numbers) and ``POST /v1/dlq/replay`` (dead letters by position) for callers with a
client-credentials token of the right scope; the signed ``POST /v1/webhooks/crm`` (HMAC, no token);
health and metrics. Every door is rate-limited (``services/ingest/access.py``)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web

from attain.contracts.crm_changes import parse_json, to_json_bytes
from attain.contracts.dead_letters import ErrorCode
from attain.platform import topics
from attain.platform.health import BrokerProbe
from attain.platform.http import add_operational_routes
from attain.platform.identity import AuthError, AuthSettings, Identity, TokenVerifier
from attain.platform.kafka import AsyncProducer, producer_config, provide_topics
from attain.platform.service import Running, run_service
from attain.platform.settings import KafkaSettings, load_settings
from services.ingest import metrics
from services.ingest.access import REPLAYING_PEOPLE, Door, RateLimit
from services.ingest.config import IngestSettings
from services.ingest.dead_letters import StoredLetter, read_dead_letters, replayable_item, select
from services.ingest.publisher import Incoming, ItemResult, Publisher
from services.ingest.signatures import HEADER as SIGNATURE_HEADER
from services.ingest.signatures import SignatureError, verify

log = logging.getLogger("attain.ingest")
FILE_NAME = re.compile(r"[\w][\w.\-]{0,199}")


async def _submitted(publisher: Publisher, incoming: list[Incoming], source: str) -> list[ItemResult]:
    results, acknowledged = publisher.submit(incoming, source)
    await acknowledged
    return results


async def replayable(letters: list[StoredLetter], topic: str) -> tuple[list[Incoming], list[dict[str, str]]]:
    """The items the dead letters stand for, and the letters that cannot be replayed (with why).
    Salesforce payloads are decoded again with their schema (``ATTAIN_SALESFORCE_*`` on ingest)."""
    incoming: list[Incoming] = []
    skipped: list[dict[str, str]] = []
    salesforce = [stored for stored in letters if stored.letter.source.startswith("salesforce:")]
    if salesforce:
        try:
            from services.ingest.salesforce.config import SalesforceSettings
            from services.ingest.salesforce.redrive import redrive_items

            outcomes: list[Any] = await redrive_items(
                [(stored.letter.source, stored.letter.original) for stored in salesforce],
                SalesforceSettings())
        except Exception as error:  # noqa: BLE001 - no Salesforce configuration here: say so per letter
            outcomes = [error] * len(salesforce)
        for stored, outcome in zip(salesforce, outcomes, strict=True):
            if isinstance(outcome, Exception):
                skipped.append({"position": stored.position, "reason": f"{type(outcome).__name__}: {outcome}"})
                continue
            incoming.extend(Incoming(item, stored.letter.original, f"dlq-replay:{topic}/{stored.position}")
                            for item in outcome)
    for stored in letters:
        if stored.letter.source.startswith("salesforce:"):
            continue
        try:
            item = replayable_item(stored)
        except ValueError as error:
            skipped.append({"position": stored.position, "reason": str(error)})
            continue
        incoming.append(Incoming(item, stored.letter.original, f"dlq-replay:{topic}/{stored.position}"))
    return incoming, skipped


def build_app(publisher: Publisher, settings: IngestSettings, broker: BrokerProbe | None = None,
              renew_producer: Callable[[], None] | None = None, *, verifier: TokenVerifier | None = None,
              read_letters: Callable[[str], list[StoredLetter]] | None = None) -> web.Application:
    """``broker``: the readiness probe; while it says the broker is down, requests get 503 at once.
    ``renew_producer``: called when the broker answers but did not acknowledge a request in time.
    ``verifier``: checks the bearer tokens of ``/v1/events``, ``/v1/backfill`` and ``/v1/dlq/replay``
    (without one those doors answer 503). ``read_letters``: every dead letter on a topic (for replay)."""
    app = web.Application(client_max_size=settings.max_body_bytes)
    webhook_secrets = settings.webhook_secret_list()
    door = Door(verifier, RateLimit(settings.rate_per_credential, "credential"), settings.portal_client_id)
    per_address = RateLimit(settings.rate_per_address, "address")
    replay_topics = {name.strip() for name in settings.replay_topics.split(",") if name.strip()}
    # A replay reads a whole dead-letter topic (seconds, up to minutes). One at a time, on a thread of its own:
    # never on the default pool, where every door verifies its tokens, so replays cannot stall POST /v1/events.
    replaying = asyncio.Semaphore(1)
    replay_reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dlq-replay")

    async def stop_replay_reader(_: web.Application) -> None:
        replay_reader.shutdown(wait=False, cancel_futures=True)

    app.on_cleanup.append(stop_replay_reader)

    def broker_down() -> web.Response | None:
        if broker is not None and not broker.ok:  # nothing can be accepted or dead-lettered: say so at once
            metrics.ERRORS.inc()
            return web.json_response({"error": f"{broker.detail}; retry"}, status=503)
        return None

    async def send(submitted: Awaitable[list[ItemResult]]) -> list[ItemResult] | web.Response:
        """The results once Kafka acknowledged every record, or the 503 answer to send."""
        try:
            return await asyncio.wait_for(submitted, settings.publish_timeout_seconds)
        except TimeoutError:  # the broker did not acknowledge in time: nothing may be counted as accepted
            metrics.ERRORS.inc()
            wedged = broker is not None and broker.ok and renew_producer is not None
            log.warning("publish timed out", extra={"timeout_seconds": settings.publish_timeout_seconds,
                                                    "renewing_producer": wedged})
            if wedged:  # the broker answers yet did not take our records: a fresh client for the next request
                assert renew_producer is not None
                await asyncio.get_running_loop().run_in_executor(None, renew_producer)
            return web.json_response(
                {"error": f"the broker did not acknowledge within {settings.publish_timeout_seconds}s; retry"},
                status=503,
            )
        except Exception as error:  # broker unreachable: the caller must retry, nothing was accepted
            metrics.ERRORS.inc()
            log.exception("publish failed")
            return web.json_response({"error": f"could not publish: {error}; retry"}, status=503)

    def answer(results: list[ItemResult], started: float) -> web.Response:
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

    async def ingest(body: bytes, source: str) -> web.Response:
        started = time.perf_counter()
        if (down := broker_down()) is not None:
            return down
        try:
            parsed = parse_json(body)
        except ValueError as error:  # also nesting too deep to read: the body as a whole is refused
            try:
                await publisher.reject(body, f"body is not JSON: {error}", ErrorCode.INVALID_JSON, source)
            except Exception as failure:  # broker unreachable: the caller must retry
                metrics.ERRORS.inc()
                return web.json_response({"error": f"could not dead-letter: {failure}; retry"}, status=503)
            return web.json_response(
                {"error": f"body is not JSON: {error}", "dead_lettered": True}, status=400
            )
        batch = parsed if isinstance(parsed, list) else [parsed]
        if len(batch) > settings.max_batch_records:
            return too_many(len(batch))
        items = [(item, to_json_bytes(item) if isinstance(parsed, list) else body) for item in batch]
        results = await send(publisher.publish(items, source))
        return results if isinstance(results, web.Response) else answer(results, started)

    def too_many(count: int) -> web.Response:
        return web.json_response(
            {"error": f"batch of {count} records exceeds {settings.max_batch_records}; split it"}, status=413)

    async def post_events(request: web.Request) -> web.Response:
        admitted = await door.admit(request, "ingest:write")
        if isinstance(admitted, web.Response):
            return admitted
        return await ingest(await request.read(), "http")

    async def open_request(request: web.Request, scope: str, what: str, people: frozenset[str] = frozenset()
                           ) -> web.Response | tuple[Identity, float, Any]:
        """The caller, when the request came in and its JSON body, once the caller holds ``scope`` (or is one of
        ``people``, see :meth:`Door.admit`) and the broker is up; otherwise the answer that refuses it."""
        admitted = await door.admit(request, scope, people=people)
        if isinstance(admitted, web.Response):
            return admitted
        started = time.perf_counter()
        if (down := broker_down()) is not None:
            return down
        try:
            return admitted, started, parse_json(await request.read())
        except ValueError as error:
            return web.json_response({"error": f"not a {what} request: {type(error).__name__}: {error}"}, status=400)

    async def post_backfill(request: web.Request) -> web.Response:
        """History rows (``attain ingest backfill``): ``{"file": name, "rows": [{"line", "item",
        "original_b64"}]}``; each row keeps its line number and original bytes in its dead letter."""
        opened = await open_request(request, "ingest:write", "backfill")
        if isinstance(opened, web.Response):
            return opened
        _, started, request_body = opened
        try:
            name, rows = request_body["file"], request_body["rows"]
            if not isinstance(name, str) or not FILE_NAME.fullmatch(name) or not isinstance(rows, list):
                raise ValueError("'file' must be a plain file name and 'rows' a list")
            if len(rows) > settings.max_batch_records:
                return too_many(len(rows))
            source = f"backfill:{name}"
            incoming = [Incoming(row["item"], base64.b64decode(row["original_b64"], validate=True),
                                 f"{source}:{int(row['line'])}") for row in rows]
        except (ValueError, KeyError, TypeError, binascii.Error) as error:
            return web.json_response({"error": f"not a backfill request: {type(error).__name__}: {error}"},
                                     status=400)
        results = await send(_submitted(publisher, incoming, source))
        return results if isinstance(results, web.Response) else answer(results, started)

    async def post_replay(request: web.Request) -> web.Response:
        """``{"topic": "crm.changes.dlq", "positions": ["P:O", ...]}``: those dead letters, read here,
        through validation again. Only what is already dead-lettered can be re-driven with this scope.

        While another replay runs the answer is 429 at once rather than a wait: a replay takes as long as reading
        the topic, a queue of waiting callers would each hold a connection that long, and both callers (the
        portal's form, ``attain dlq replay``) show the refusal so the person can simply try again."""
        opened = await open_request(request, "dlq:replay", "replay", REPLAYING_PEOPLE)
        if isinstance(opened, web.Response):
            return opened
        admitted, started, request_body = opened
        try:
            topic, positions = request_body["topic"], request_body["positions"]
            if topic not in replay_topics:
                raise ValueError(f"topic {topic!r} is not one of {sorted(replay_topics)} (ATTAIN_INGEST_REPLAY_TOPICS)")
            if not isinstance(positions, list) or not positions or not all(isinstance(p, str) for p in positions):
                raise ValueError("'positions' must name at least one PARTITION:OFFSET")
            if len(positions) > settings.max_batch_records:
                return too_many(len(positions))
        except (ValueError, KeyError, TypeError) as error:
            return web.json_response({"error": f"not a replay request: {error}"}, status=400)
        if read_letters is None:
            return web.json_response({"error": "dead-letter replay is not available here"}, status=503)
        if replaying.locked():
            metrics.RATE_LIMITED.labels("replay").inc()
            return web.json_response({"error": "another dead-letter replay is running; retry when it is done"},
                                     status=429, headers={"Retry-After": "5"})
        async with replaying:
            read = await asyncio.get_running_loop().run_in_executor(replay_reader, read_letters, topic)
            return await redrive(admitted, started, topic, select(read, positions=positions), positions)

    async def redrive(admitted: Identity, started: float, topic: str, letters: list[StoredLetter],
                      positions: list[str]) -> web.Response:
        """The answer to a replay of ``letters``, the dead letters found at ``positions`` of ``topic``."""
        found = {letter.position for letter in letters}
        skipped = [{"position": p, "reason": f"no dead letter at {p} on {topic}"} for p in positions if p not in found]
        incoming, unreplayable = await replayable(letters, topic)
        skipped += unreplayable
        log.info("dead letters replayed", extra={"caller": admitted.subject, "topic": topic,
                                                  "replaying": len(incoming), "skipped": len(skipped)})
        results = await send(_submitted(publisher, incoming, "dlq-replay")) if incoming else []
        if isinstance(results, web.Response):
            return results
        metrics.LATENCY.observe(time.perf_counter() - started)
        return web.json_response({
            "replayed": sum(r.accepted for r in results), "rejected": sum(not r.accepted for r in results),
            "skipped": skipped,
            "results": [{**r.to_json(), "position": entry.position}
                        for entry, r in zip(incoming, results, strict=True)],
        })

    async def post_webhook(request: web.Request) -> web.Response:
        if not webhook_secrets:
            return web.json_response(
                {"error": "webhook not configured: set ATTAIN_INGEST_WEBHOOK_SECRETS(_FILE)"}, status=503
            )
        if (refused := await per_address.check(request.remote or "unknown")) is not None:
            return refused
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

    app.router.add_post("/v1/backfill", post_backfill)
    app.router.add_post("/v1/dlq/replay", post_replay)
    app.router.add_post("/v1/events", post_events)
    app.router.add_post("/v1/webhooks/crm", post_webhook)
    def ready() -> tuple[bool, str]:  # its one dependency: the broker
        if broker is None or broker.ok:
            return True, "accepting events"
        return False, broker.detail

    add_operational_routes(app, ready)
    return app


async def build() -> Running:
    kafka = load_settings(KafkaSettings)
    settings = load_settings(IngestSettings)
    try:
        verifier = TokenVerifier(AuthSettings())
    except AuthError as error:
        raise SystemExit(f"ingest: {error}") from None
    provide_topics(kafka, [topics.CRM_CHANGES, topics.CRM_CHANGES_DLQ])
    loop = asyncio.get_running_loop()
    producer = AsyncProducer(producer_config(kafka, **{"client.id": "attain-ingest"}), loop)
    publisher = Publisher(producer, settings.limits(), max_record_bytes=settings.max_record_bytes,
                          max_dead_letter_bytes=settings.max_dead_letter_bytes)
    broker = BrokerProbe(kafka, topics.CRM_CHANGES).start()
    app = build_app(publisher, settings, broker, producer.renew, verifier=verifier,
                    read_letters=lambda topic: list(read_dead_letters(kafka, topic)))
    return Running(app, settings.host, settings.port, "ingest listening",
                   {"host": settings.host, "port": settings.port},
                   after_http_stop=[broker.stop, producer.close], stopped="ingest stopped")


def main() -> None:
    run_service("ingest", build)
