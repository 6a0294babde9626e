"""Calculator entrypoint: the faust app, its two batched agents, health and metrics pages."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from attain.core.plans import PlanBook
from attain.planfiles import load_book
from attain.platform import topics
from attain.platform.avro import SerdeError, contract
from attain.platform.kafka import dead_letter, ensure_topics
from attain.platform.logs import configure_logging
from attain.platform.settings import KafkaSettings, ServiceSettings
from services.calculator import metrics
from services.calculator.config import CalculatorSettings
from services.calculator.convert import change_from_avro, snapshot_to_avro, to_millis
from services.calculator.stages import apply_rep_messages, credit_touched, group_by_rep, merge_changes

log = logging.getLogger("attain.calculator")


def load_plan_book(path: Path) -> PlanBook:
    return load_book([path])


def create_app(
    kafka: KafkaSettings, settings: CalculatorSettings, book: PlanBook
) -> faust.App:
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{host}" for host in kafka.bootstrap.split(",")],
        store="memory://",
        datadir=str(settings.data_dir),
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        broker_session_timeout=kafka.session_timeout_ms / 1000,
        broker_heartbeat_interval=kafka.heartbeat_interval_ms / 1000,
        broker_commit_interval=0.5,
        consumer_auto_offset_reset="earliest",
        web_host=settings.host,
        web_port=settings.port,
        web_in_thread=False,
        table_standby_replicas=0,
    )
    changes_topic = app.topic(topics.CRM_CHANGES, key_type=bytes, value_type=bytes,
                              key_serializer="raw", value_serializer="raw")
    credits_topic = app.topic(topics.CALCULATOR_CREDITS, key_type=bytes, value_type=bytes,
                              key_serializer="raw", value_serializer="raw",
                              partitions=kafka.partitions)
    earnings_topic = app.topic(topics.EARNINGS, key_serializer="raw", value_serializer="raw")
    dlq_topic = app.topic(topics.CRM_CHANGES_DLQ, key_serializer="raw", value_serializer="raw")
    # use_partitioner: a table key's changelog partition is the key's own partition
    # (murmur2, as on the source topics), not the partition of whichever event of a
    # mixed batch happens to be current.
    records = app.Table("records", default=None, partitions=kafka.partitions, use_partitioner=True)
    rep_credits = app.Table(
        "rep-credits", default=None, partitions=kafka.partitions, use_partitioner=True
    )
    changes_contract = contract(topics.CRM_CHANGES)
    earnings_contract = contract(topics.EARNINGS)

    @app.agent(changes_topic)
    async def credit_changes(stream: faust.StreamT[bytes]) -> None:
        async for events in stream.take_events(settings.batch_size, settings.batch_within_seconds):
            started = time.perf_counter()
            metrics.EVENTS_IN.inc(len(events))
            decoded = []
            for event in events:
                message = event.message
                try:
                    record = changes_contract.decode(event.value)
                except SerdeError as error:
                    metrics.REJECTED.labels("undecodable").inc()
                    await dlq_topic.send(key=event.key, value=dead_letter(
                        original=event.value, reason=str(error), error_code="undecodable",
                        source=f"topic:{message.topic}/{message.partition}/{message.offset}",
                        service="calculator"))
                    continue
                decoded.append((change_from_avro(record), to_millis(record["ingested_at"])))
            touched = merge_changes(records.get, decoded)
            result = credit_touched(touched, book)
            for record_id, triggers, reason in result.rejected:
                metrics.REJECTED.labels("uncreditable").inc()
                log.warning("record not credited", extra={"record_id": record_id, "reason": reason})
                for event_id, _ in triggers:
                    await dlq_topic.send(key=record_id.encode(), value=dead_letter(
                        original=json.dumps({"event_id": event_id, "record_id": record_id}).encode(),
                        reason=reason, error_code="uncreditable", source=f"event:{event_id}",
                        service="calculator"))
            for record_id, entry in touched.items():
                records[record_id] = entry.to_json()
            for rep_id, body in result.messages_by_rep.items():
                metrics.CREDIT_UPDATES.inc(len(body["upserts"]))
                await credits_topic.send(key=rep_id.encode(), value=json.dumps(body).encode())
            await app.producer.flush()
            metrics.BATCH_SECONDS.labels("credit").observe(time.perf_counter() - started)

    @app.agent(credits_topic)
    async def compute_earnings(stream: faust.StreamT[bytes]) -> None:
        async for events in stream.take_events(settings.batch_size, settings.batch_within_seconds):
            started = time.perf_counter()
            now_us = time.time_ns() // 1000
            grouped = group_by_rep(json.loads(event.value) for event in events)
            for rep_id, messages in grouped.items():
                state, snapshots = apply_rep_messages(rep_credits.get(rep_id), messages, book, now_us)
                rep_credits[rep_id] = state
                for snapshot in snapshots:
                    await earnings_topic.send(key=rep_id.encode(), value=earnings_contract.encode(
                        snapshot_to_avro(
                            snapshot.earnings, snapshot.snapshot_version, now_us // 1000,
                            [event_id for event_id, _ in snapshot.triggers][-50:],
                            min((at for _, at in snapshot.triggers), default=None))))
                    metrics.SNAPSHOTS_OUT.inc()
            await app.producer.flush()
            metrics.BATCH_SECONDS.labels("earnings").observe(time.perf_counter() - started)

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/health/live")
    async def live(web: Any, request: Any) -> Any:
        return web.json({"status": "alive"})

    @app.page("/health/ready")
    async def ready(web: Any, request: Any) -> Any:
        recovering = app.rebalancing or not app.tables.recovery.completed.is_set()
        return web.json(
            {"status": "not ready" if recovering else "ready",
             "detail": "recovering tables" if recovering else "consuming"},
            status=503 if recovering else 200,
        )

    return app


def main() -> None:
    service = ServiceSettings()
    configure_logging("calculator", service.log_level)
    kafka = KafkaSettings()
    settings = CalculatorSettings()
    book = load_plan_book(settings.plans_file)
    ensure_topics(kafka, [topics.CRM_CHANGES, topics.CRM_CHANGES_DLQ, topics.CALCULATOR_CREDITS,
                          topics.EARNINGS])
    app = create_app(kafka, settings, book)
    log.info("calculator starting", extra={"participants": len(book.participants)})
    worker = faust.Worker(app, loglevel=service.log_level, quiet=True, redirect_stdouts=False)
    configure_logging("calculator", service.log_level)  # keep JSON logs after faust's setup
    worker.execute_from_commandline()
