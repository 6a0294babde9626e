"""Calculator entrypoint: the faust app, its two batched agents, health and metrics pages."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import faust
import orjson
from mode.utils.times import want_seconds
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from attain.contracts.crm_changes import change_from_avro, change_to_canonical_json, crm_change_record
from attain.contracts.dead_letters import ErrorCode, topic_source
from attain.contracts.wire import to_millis
from attain.platform import faults, topics
from attain.platform.avro import contract
from attain.platform.consume import DeadLetterWriter, decode_each, decoder
from attain.platform.faust_adapter import standby_lag, tables_recovered
from attain.platform.health import BrokerProbe
from attain.platform.kafka import (
    MissingTopicsError,
    check_message_limits,
    ensure_topic_specs,
    provide_topics,
    topic_config,
)
from attain.platform.metrics import record_build_info
from attain.platform.reference import topics_from_env
from attain.platform.service import start_logging
from attain.platform.settings import KafkaSettings, load_settings
from attain.platform.streams import BatchProducer, UnsupportedSecurityError, broker_credentials, stream_app
from attain.platform.tracing import configure as configure_tracing
from services.calculator import metrics
from services.calculator.config import CalculatorSettings, configure_gc
from services.calculator.convert import snapshot_to_avro
from services.calculator.credit_stage import (
    RecordEntry,
    credit_touched,
    encode_credit_messages,
    merge_changes,
)
from services.calculator.earnings_stage import apply_rep_messages, group_by_rep, rescore_rep
from services.calculator.limits import MAX_VALUE_BYTES
from services.calculator.lineage import establish as establish_lineage
from services.calculator.lineage import state_topic
from services.calculator.month_cache import record_key
from services.calculator.reload import (
    RECOMPUTE_SECONDS,
    RECOMPUTED,
    SLICE_SECONDS,
    Books,
    ReferenceWatcher,
    applied_key,
    chunks,
    initial_books,
    now_trigger,
    recredit,
)
from services.calculator.state import HOT_RECORDS, BatchTable, RepCredits

log = logging.getLogger("attain.calculator")

# The largest message the calculator writes: a value of at most MAX_VALUE_BYTES, its
# key (ids bounded by ingest) and the record's framing, with room to spare.
MESSAGE_BYTES_NEEDED = MAX_VALUE_BYTES + 16 * 1024


def create_app(
    kafka: KafkaSettings, settings: CalculatorSettings, books: Books, lineage: str = "",
    watcher: ReferenceWatcher | None = None,
) -> tuple[faust.App, BatchProducer]:
    app = stream_app(settings.app_id, kafka, web_host=settings.host, web_port=settings.port,
                     data_dir=str(settings.data_dir), max_poll_records=settings.max_batch,
                     standby_replicas=settings.standby_replicas, stall_seconds=settings.stall_seconds)
    producer = BatchProducer(kafka)
    changes_topic = app.topic(topics.CRM_CHANGES, key_type=bytes, value_type=bytes,
                              key_serializer="raw", value_serializer="raw")
    credits_topic = app.topic(topics.CALCULATOR_CREDITS, key_type=bytes, value_type=bytes,
                              key_serializer="raw", value_serializer="raw",
                              partitions=kafka.partitions)
    # Keys: a record id; JSON [rep id, YYYY-MM, record id]; rep id + "|" + period.
    limits = topic_config(kafka)
    records = BatchTable(app, "records", kafka.partitions, RecordEntry.from_json, RecordEntry.to_json, limits,
                         hot=HOT_RECORDS)
    credits = RepCredits(app, "rep-credits", kafka.partitions, limits, legacy="rep-months", producer=producer)
    versions = BatchTable[int](app, "snapshot-versions", kafka.partitions, int, int, limits)
    # Per stage and partition (key "records:P" / "credits:P", in partition P): the plan book version the
    # partition's state was last computed under (services/calculator/reload.py).
    applied = BatchTable[str](app, "reference-applied", kafka.partitions, str, str, limits)
    read_change = decoder(topics.CRM_CHANGES, crm_change_record)
    earnings_contract = contract(topics.EARNINGS)

    dead_letters = DeadLetterWriter(producer.produce, topics.CRM_CHANGES_DLQ, "calculator",
                                    lambda reason, code: metrics.REJECTED.labels(code).inc())

    def undecodable(message: Any, reason: str, code: ErrorCode) -> None:
        dead_letters.write(message.key, message.value, reason, code,
                           topic_source(message.topic, message.partition, message.offset))

    # Each agent writes its state and outputs to ``producer``; the checkpoint flushes them, then acks.
    @app.batch_agent(changes_topic, outputs=producer, timed=metrics.BATCH_SECONDS.labels("credit").observe)
    async def credit_changes(events: list[Any]) -> None:
        metrics.EVENTS_IN.inc(len(events))
        decoded = []
        partition_of: dict[str, int] = {}
        for record, message in decode_each(events, lambda event: event.value, read_change, undecodable):
            partition_of[record["record_id"]] = message.partition
            decoded.append((change_from_avro(record), to_millis(record["ingested_at"])))
        touched = merge_changes(lambda record_id: records.get(record_id.encode()), decoded)
        result = credit_touched(touched, books.book)
        for refusal, change in result.rejected:  # the record is held at its last valid state
            log.warning("change refused, record held", extra={
                "record_id": refusal.record_id, "event_id": refusal.event_id, "reason": refusal.reason,
                "error_code": refusal.code})
            dead_letters.write(refusal.record_id.encode(), change_to_canonical_json(change),
                               refusal.describe(), ErrorCode(refusal.code), f"event:{refusal.event_id}")
        for record_id, entry in touched.items():
            records.put(producer, record_id.encode(), entry, partition_of[record_id])
        send_credits(result.messages_by_rep)

    def send_credits(messages_by_rep: dict[str, dict[str, Any]]) -> None:
        for rep_id, body in messages_by_rep.items():
            metrics.CREDIT_UPDATES.inc(len(body["upserts"]))
            for part in encode_credit_messages(body):
                producer.produce(topics.CALCULATOR_CREDITS, rep_id.encode(), part)

    @app.batch_agent(credits_topic, outputs=producer, timed=metrics.BATCH_SECONDS.labels("earnings").observe)
    async def compute_earnings(events: list[Any]) -> None:
        now_us = time.time_ns() // 1000
        partition_of = {message.key: message.partition for message in events}
        grouped = group_by_rep(orjson.loads(message.value) for message in events)
        for rep_id, messages in grouped.items():
            rep_key = rep_id.encode()
            partition = partition_of[rep_key]
            try:
                update = apply_rep_messages(
                    rep_id, messages, books.book, now_us,
                    lambda month, rep_id=rep_id: credits.month(rep_id, month),
                    lambda period, rep_id=rep_id: versions.get(f"{rep_id}|{period}".encode()),
                )
                credits.write(producer, rep_id, update, partition)
            except Exception as error:  # last line of defence: stage 1 lets through only credits the core rates
                log.exception("rep update failed; its messages are dead-lettered", extra={"rep_id": rep_id})
                reason = f"rep {rep_id}: earnings not updated: {type(error).__name__}: {error}"[:1000]
                for message in messages:
                    dead_letters.write(rep_key, orjson.dumps(message), reason, ErrorCode.REP_UPDATE_FAILED,
                                       f"rep:{rep_id}")
                continue
            publish_snapshots(rep_id, update, partition, now_us)

    def publish_snapshots(rep_id: str, update: Any, partition: int, now_us: int) -> None:
        for period, version in update.versions.items():
            versions.put(producer, f"{rep_id}|{period}".encode(), version, partition)
        for snapshot in update.snapshots:
            producer.produce(topics.EARNINGS, rep_id.encode(), earnings_contract.encode(
                snapshot_to_avro(
                    snapshot.earnings, snapshot.snapshot_version, now_us // 1000,
                    snapshot.event_ids()[-50:], snapshot.earliest, lineage, snapshot.changes())))
            metrics.SNAPSHOTS_OUT.inc()

    def holds(partition: int) -> bool:
        return tables_recovered(app) and partition in applied.table.assigned_partitions()

    async def recompute_records(partition: int, version_id: str) -> bool:
        """Stage 1 of ``partition`` under the book in use: every record credited again (see reload.py)."""
        book, trigger = books.book, now_trigger(version_id)
        keys = [key for key in list(records.table.values) if records.table.partition_of(key) == partition]
        for chunk in chunks(keys):
            if books.version_id != version_id or not holds(partition):
                return False  # a newer version, or the partition moved: start again on the next round
            entries = {key.decode(): entry for key in chunk if (entry := records.get(key)) is not None}
            result = recredit(entries, book, trigger)
            for record_id, entry in result.records.items():
                records.put(producer, record_id.encode(), entry, partition)
            send_credits(result.messages_by_rep)
            RECOMPUTED.labels("credit").inc(len(entries))
            await asyncio.sleep(0)
        return True

    async def recompute_reps(partition: int, version_id: str, was: str | None) -> bool:
        """Stage 2 of ``partition`` under the book in use: every period of every rep it holds, published where
        the earnings differ from those under the book it was computed under (see reload.py)."""
        book, old_book, trigger = books.book, books.known.get(was or ""), now_trigger(version_id)
        rep_months: dict[str, list[str]] = {}
        for (rep_id, month), held in list(credits.index.months.items()):
            some = next(iter(held), None)
            if some is not None and credits.table.table.partition_of(record_key(rep_id, month, some)) == partition:
                rep_months.setdefault(rep_id, []).append(month)
        slice_started = time.perf_counter()
        for rep_id in sorted(rep_months):
            if time.perf_counter() - slice_started > SLICE_SECONDS:  # a rep at a time: yield between them
                await asyncio.sleep(0)
                slice_started = time.perf_counter()
            if books.version_id != version_id or not holds(partition):
                return False
            now_us = time.time_ns() // 1000
            update = rescore_rep(
                rep_id, rep_months[rep_id], book, old_book, now_us,
                lambda month, rep_id=rep_id: credits.month(rep_id, month),
                lambda period, rep_id=rep_id: versions.get(f"{rep_id}|{period}".encode()), [trigger])
            publish_snapshots(rep_id, update, partition, now_us)
            RECOMPUTED.labels("earnings").inc()
        return True

    @app.timer(interval=0.2)
    async def reconcile() -> None:
        """Take a new publication, then bring every partition held here under the book in use."""
        if watcher is not None:
            await watcher.poll()
        if not tables_recovered(app):
            return
        version_id = books.version_id
        for partition in sorted(applied.table.assigned_partitions()):
            for stage in ("records", "credits"):
                key = applied_key(stage, partition)
                was = applied.get(key)
                if was == version_id:
                    continue
                started = time.perf_counter()
                done = await (recompute_records(partition, version_id) if stage == "records"
                              else recompute_reps(partition, version_id, was))
                if not done or not holds(partition):
                    return
                await producer.flush()
                faults.reached("calculator.after_recompute_flush")  # outputs stored, applied id not yet
                applied.put(producer, key, version_id, partition)
                await producer.flush()
                RECOMPUTE_SECONDS.labels(stage).observe(time.perf_counter() - started)
                log.info("partition recomputed under the plan book in use", extra={
                    "stage": stage, "partition": partition, "reference_version": version_id,
                    "was": was, "seconds": round(time.perf_counter() - started, 3)})

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/health/live")
    async def live(web: Any, request: Any) -> Any:
        return web.json({"status": "alive"})

    broker = BrokerProbe(kafka, topics.CRM_CHANGES)

    @app.task
    async def probe_broker() -> None:
        broker.start(check_now=False)  # never block the event loop

    @app.page("/health/ready")
    async def ready(web: Any, request: Any) -> Any:
        # Its real dependencies: the broker, and its tables recovered from their changelogs.
        recovering = not tables_recovered(app)
        ok = broker.ok and not recovering
        detail = broker.detail if not broker.ok else "recovering tables" if recovering else "consuming"
        return web.json({"status": "ready" if ok else "not ready", "detail": detail,
                         "reference_version": books.version_id, "standby_lag": standby_lag(app)},
                        status=200 if ok else 503)

    return app, producer


def internal_topic_specs(app: faust.App) -> list[tuple[str, int, dict[str, str]]]:
    """The topics faust uses for ``app`` as (name, partitions, config), configured as faust would declare
    them: each table's changelog and the partition assignor's leader topic."""
    specs: list[tuple[str, int, dict[str, str]]] = []
    for table in app.tables.values():
        topic = table.changelog_topic
        policy = ",".join(sorted({*(["compact"] if topic.compacting else []),
                                  *(["delete"] if topic.deleting else [])}))
        config = {**({"cleanup.policy": policy} if policy else {}),
                  **({"retention.ms": str(int(want_seconds(topic.retention) * 1000))} if topic.retention else {}),
                  **{key: str(value) for key, value in (topic.config or {}).items()}}
        specs.append((topic.get_topic_name(), topic.partitions or app.conf.topic_partitions, config))
    specs.append((f"{app.conf.id}-__assignor-__leader", 1, {}))  # faust's LeaderAssignor names it so
    return sorted(specs)


def internal_topics(app: faust.App) -> list[str]:
    """The names of :func:`internal_topic_specs`."""
    return [name for name, _, _ in internal_topic_specs(app)]


def main() -> None:
    try:
        run()
    except MissingTopicsError as error:
        log.critical("refusing to start: %s", error, extra={"missing_topics": error.missing})
        raise SystemExit(2) from None


def run() -> None:
    service = start_logging("calculator")
    configure_tracing("calculator")  # off unless OTEL_TRACES_EXPORTER names an exporter
    record_build_info()
    kafka = load_settings(KafkaSettings)
    try:
        broker_credentials(kafka)  # refuse what faust/aiokafka cannot do before touching the broker
    except UnsupportedSecurityError as error:
        log.critical("refusing to start: %s", error)
        raise SystemExit(2) from None
    settings = CalculatorSettings()
    configure_gc(settings)
    names = topics_from_env()
    # created here when allowed (the lineage topics by establish_lineage, the reference topics by initial_books),
    # else only checked, naming every one that is missing
    internal = [] if kafka.create_topics else [topics.CALCULATOR_LINEAGE, state_topic(settings.app_id),
                                               names.versions, names.publications]
    provide_topics(kafka, [topics.CRM_CHANGES, topics.CRM_CHANGES_DLQ, topics.CALCULATOR_CREDITS,
                           topics.EARNINGS, *internal])
    books, offset = initial_books(kafka, names, settings.plans_file)
    lineage = establish_lineage(kafka, settings.app_id, settings.ledger_url, settings.rebuild,
                                settings.ledger_wait_seconds)
    watcher = ReferenceWatcher(kafka, names, books, offset, contract(topics.REFERENCE_PUBLICATIONS).decode)
    app, producer = create_app(kafka, settings, books, lineage, watcher)
    # faust's own topics (each table's changelog, the assignor's leader topic) exist before the worker joins its
    # group: faust would declare a changelog while the group's first assignment is made, and the assignor skips
    # a topic its metadata does not show yet ("Ignoring missing topic"), so that table's partitions would stay
    # unassigned until the next rebalance (the reference-applied table's: no live plan change recomputed).
    if kafka.create_topics:
        created = ensure_topic_specs(kafka, internal_topic_specs(app))
        log.info("faust's topics provided before the group is joined", extra={"created_topics": created})
    else:
        provide_topics(kafka, internal_topics(app))
    check_message_limits(kafka, [topics.CALCULATOR_CREDITS, topics.EARNINGS, topics.CRM_CHANGES_DLQ,
                                 *(table.changelog_topic.get_topic_name() for table in app.tables.values())],
                         MESSAGE_BYTES_NEEDED)
    log.info("calculator starting", extra={"participants": len(books.book.participants),
                                           "reference_version": books.version_id})
    # override_logging=False: mode would otherwise replace the JSON handler with its own text format when the
    # worker starts (after any configure_logging call made here).
    worker = faust.Worker(app, loglevel=service.log_level, quiet=True, redirect_stdouts=False,
                          override_logging=False)
    worker.spinner = None  # a terminal progress spinner: escape codes in a log file (mode would drop it at INFO)
    try:
        worker.execute_from_commandline()
    finally:
        watcher.close()
        producer.close()
