"""faust-streaming, configured one way for every stream processor (and its benchmark).

Three things differ from a plain ``faust.App``:

- :meth:`StreamApp.batch_agent`: a topic whose records go to a handler a whole
  fetch at a time, straight from the consumer, instead of one by one through
  faust's conductor, queues and streams (see its docstring for why), each batch
  ending in the one :func:`checkpoint`;

- the consumer's fetch max wait comes from :class:`KafkaSettings` (faust
  hard-codes 1,500 ms; Tansu answers a waiting fetch only when the wait runs out,
  so each hop through faust could add up to 1.5 s there);
- :class:`BatchProducer`: outputs and changelog records go through
  confluent-kafka, flushed once per batch. faust's own send path costs about
  150 µs a message on this machine (its Table write: 4,300 events/s against
  12,500 without), most of a 10,000 events/s budget.

Whatever touches faust's internals lives in :mod:`attain.platform.faust_adapter`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import faust
from confluent_kafka import KafkaError, KafkaException, Message, Producer
from prometheus_client import Gauge, Histogram

from attain.platform import tracing
from attain.platform.faust_adapter import (
    STANDBY_MEMORY_STORE,
    BatchRunner,
    InFlight,
    MemoryTable,
    StallGuard,
    install_batch_consumer,
)
from attain.platform.kafka import producer_config
from attain.platform.settings import KafkaSettings

log = logging.getLogger("attain.streams")

BatchHandler = Callable[[list[Any]], Awaitable[None]]  # gets faust ConsumerMessages

CONSUMER_LAG = Gauge(
    "attain_stream_consumer_lag",
    "Records of a batch agent's partition behind its high watermark, after the last batch "
    "(wrong on Tansu, which reports the watermark of a partition's last record batch)",
    ["topic", "partition"],
)
FLUSH_SECONDS = Histogram(
    "attain_stream_flush_seconds",
    "Waiting for the broker to store a batch's outputs and changelog records (BatchProducer.flush)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
LAST_BATCH = Gauge(
    "attain_stream_last_batch_timestamp_seconds",
    "When a batch agent last finished a batch of the topic (with the lag: a consumer that has "
    "work but makes no progress)",
    ["topic"],
)


class StreamApp(faust.App):  # type: ignore[misc]
    """A faust app whose hot topics can be consumed a fetch at a time (:meth:`batch_agent`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch_runners: dict[str, BatchRunner] = {}

    def batch_agent(
        self, channel: Any, *, outputs: BatchProducer | None = None, timed: Callable[[float], None] | None = None
    ) -> Callable[[BatchHandler], BatchHandler]:
        """Register ``handler(messages)`` for every record of ``channel``'s topic.

        The consumer hands each fetch's records of the topic to the handler in
        offset order per partition, from its own fetch loop. The handler writes
        its changelog records and outputs to ``outputs`` without flushing;
        :func:`checkpoint` then flushes them and only then acks the records (so
        their offsets may be committed). Everything else faust does stays: the
        consumer group, partition assignment, table recovery from changelogs,
        offset commits, the web server. ``timed`` gets the seconds each batch
        took to handle and flush.

        Why not a faust agent: faust moves each record through its conductor, a
        queue per stream and the stream's iterator (four asyncio tasks a record in
        its fetch loop alone); that costs about 80 µs a record here, most of a
        10,000 records/s budget, however large the batches a stream takes. And a
        restarted calculator could stop fetching for good: faust pauses a
        partition when its stream queue fills and resumes it from a callback, and
        (as its code reads) cancels a record's delivery that waits when a
        rebalance suspends the flow yet moves past it, so its offset is never
        committed. A fetch handled in place has neither queue nor callback: the
        next fetch waits for the handler.

        A handler that raises crashes the app: its records stay unacked, so the
        restarted process reads them again (the handler must be idempotent, as
        any at-least-once consumer must).
        """

        def register(handler: BatchHandler) -> BatchHandler:
            self.topics.add(channel)  # subscribe; records never reach the channel's queue
            for topic in channel.topics:
                self.batch_runners[topic] = partial(checkpoint, handler, outputs, timed)
            return handler

        return register


async def checkpoint(handle: BatchHandler, outputs: BatchProducer | None, timed: Callable[[float], None] | None,
                     messages: list[Any], batch: InFlight) -> None:
    """A batch agent's checkpoint: the one place the order of a batch's effects is decided.

    1. ``handle(messages)`` computes the batch and writes its state (changelog
       records of the tables it changed) and its outputs (records of other
       topics, dead letters) to ``outputs``, in memory only;
    2. ``outputs.flush()`` waits until the broker has stored every one of them
       (and the seal of each changelog partition written), or raises;
    3. ``batch.ack()``: only now may the input offsets be committed.

    State and outputs are durable before the input offsets that produced them
    commit, as Kafka Streams commits (flush stores and producer, then commit
    offsets) and Flink checkpoints (snapshot state, then acknowledge the
    sources). A crash anywhere before step 3 leaves the batch unacked, so the
    restarted worker reads it again over state at most one batch ahead: delivery
    is at least once, and the handlers and everything downstream are idempotent
    (stage 1 re-sends a record's full credits, stage 2 replaces them; snapshots
    carry versions the ledger applies once). Nothing is ever acked whose effects
    could be lost. Step 3 runs in the fetch loop; offsets commit on faust's
    commit interval.
    """
    started = time.perf_counter()
    with tracing.consumed(f"{messages[0].topic} process", (message.headers for message in messages)):
        if outputs is not None:  # the batch's outputs carry its span's context (changelog records do not)
            outputs.headers = tracing.kafka_headers()
        try:
            await handle(messages)
        finally:
            if outputs is not None:
                outputs.headers = None
        if outputs is not None:
            await outputs.flush()
    if timed is not None:
        timed(time.perf_counter() - started)
    lags = await batch.ack()
    for (topic, partition), lag in lags.items():
        CONSUMER_LAG.labels(topic, str(partition)).set(lag)
    LAST_BATCH.labels(messages[0].topic).set_to_current_time()


class UnsupportedSecurityError(ValueError):
    """Security settings that faust/aiokafka cannot honour (a stream app must not start without them)."""


def broker_credentials(kafka: KafkaSettings) -> faust.SASLCredentials | faust.SSLCredentials | None:
    """The one map from :class:`KafkaSettings` to faust's ``broker_credentials`` (aiokafka clients).

    SSL: a TLS context trusting ``ssl_ca_location`` (else the system's CAs), checking the broker's
    host name, with the client certificate when one is set. SASL: PLAIN, SCRAM-SHA-256 or
    SCRAM-SHA-512 with the username and password. OAUTHBEARER is refused with
    :class:`UnsupportedSecurityError`: aiokafka needs a token provider Attain does not ship, and
    a stream app must not quietly connect another way (confluent-kafka clients support it).
    """
    if kafka.uses_sasl and kafka.sasl_mechanism == "OAUTHBEARER":
        raise UnsupportedSecurityError(
            "ATTAIN_KAFKA_SASL_MECHANISM=OAUTHBEARER is supported by Attain's confluent-kafka clients only; "
            "the calculator's stream app (faust/aiokafka) needs SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN "
            "(docs/operations.md, Kafka security)")
    context = None
    if kafka.uses_ssl:
        context = ssl.create_default_context(
            cafile=None if kafka.ssl_ca_location is None else str(kafka.ssl_ca_location))
        if kafka.ssl_certificate_location is not None and kafka.ssl_key_location is not None:
            context.load_cert_chain(
                str(kafka.ssl_certificate_location), str(kafka.ssl_key_location),
                None if kafka.ssl_key_password is None else kafka.ssl_key_password.get_secret_value())
    if kafka.uses_sasl:
        return faust.SASLCredentials(username=kafka.sasl_username, password=kafka.sasl_password_value(),
                                     ssl_context=context, mechanism=kafka.sasl_mechanism)
    return None if context is None else faust.SSLCredentials(context)


def stream_app(
    app_id: str, kafka: KafkaSettings, *, web_host: str, web_port: int, data_dir: str,
    max_poll_records: int | None = None, standby_replicas: int = 0, stall_seconds: float = 30.0,
) -> StreamApp:
    """A faust app on ``kafka`` with in-memory tables recovered from changelogs.

    ``standby_replicas``: how many other workers of the group keep a hot copy of each
    table partition (faust's standby replicas, kept by
    :class:`~attain.platform.faust_adapter.StandbyMemoryStore`), so a worker that
    takes a partition over reads only the changelog records its copy lacks.

    ``stall_seconds``: how long a batch agent's partition may have records waiting
    without moving before :class:`~attain.platform.faust_adapter.StallGuard` resumes
    it from its committed offset (checked a sixth of that apart, at least every 5 s).
    """
    app = StreamApp(
        app_id,
        broker=[f"kafka://{host}" for host in kafka.bootstrap.split(",")],
        broker_credentials=broker_credentials(kafka),
        store=STANDBY_MEMORY_STORE,
        datadir=data_dir,
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        topic_allow_declare=kafka.create_topics,  # else changelogs are declared resources (deploy/k8s)
        broker_session_timeout=kafka.session_timeout_ms / 1000,
        broker_heartbeat_interval=kafka.heartbeat_interval_ms / 1000,
        broker_rebalance_timeout=kafka.rebalance_timeout_ms / 1000,
        broker_commit_interval=0.5,
        consumer_auto_offset_reset="earliest",
        broker_max_poll_records=max_poll_records,
        web_host=web_host,
        web_port=web_port,
        web_in_thread=False,
        table_standby_replicas=standby_replicas,
        key_serializer="raw",  # keys and values are bytes: the stages encode their own
        value_serializer="raw",
    )
    install_batch_consumer(app, app.batch_runners, kafka.fetch_max_wait_ms)
    guard = StallGuard(app, lambda: set(app.batch_runners), stall_seconds)

    @app.timer(interval=min(5.0, stall_seconds / 6))
    async def unstick_stalled_partitions() -> None:
        try:
            await guard.check()
        except Exception:  # e.g. the broker unreachable for the offsets: the next check tries again
            log.warning("stall check failed; trying again at the next", exc_info=True)

    return app


# The key of the tombstone that closes a batch on each changelog partition it wrote.
SEAL_KEY = b"\x00attain:batch-seal"


class BatchProducer:
    """confluent-kafka producer for one batch at a time: produce, then ``await flush()``.

    ``flush`` polls without blocking the event loop and raises if any message of
    the batch failed, so a caller acks its input only once every output is stored.

    Changelog records (``sealed=True``) get one more record per partition after
    the batch: a tombstone of :data:`SEAL_KEY`, sent alone. Tansu 0.6 reports a
    partition's high watermark as the base offset of its last record batch plus
    one (12,000 records in a few batches read back a watermark of 1), and faust
    recovers a table by reading its changelog up to the high watermark, so it
    missed the last batch of state after a restart. A one-record batch at the end
    makes the watermark right; on Apache Kafka it is one tiny record per partition
    per batch, and compaction removes it, but it is also a second produce round
    trip per batch: ``ATTAIN_KAFKA_SEAL_CHANGELOGS=false`` leaves it out where the
    broker's watermarks are right.
    """

    def __init__(self, kafka: KafkaSettings, **overrides: Any) -> None:
        self._producer = Producer(producer_config(kafka, **{"linger.ms": 2, **overrides}))
        self._seal = kafka.seal_changelogs  # else ``sealed`` only keeps the record out of the trace headers
        self._errors: list[KafkaError] = []
        self._sealed: set[tuple[str, int]] = set()
        self.headers: list[tuple[str, bytes]] | None = None  # set per batch by tracing: on each unsealed record
        self._tables: dict[str, MemoryTable] = {}  # changelog topic -> its table, told what it stored
        self._stored: dict[tuple[str, int], int] = {}  # (changelog topic, partition) -> last offset stored
        self._tracking: set[MemoryTable] = set()

    def track(self, table: MemoryTable) -> None:
        """Tell ``table`` after each flush the offsets its changelog records were stored at
        (:meth:`MemoryTable.note_stored`), so a partition it keeps across a rebalance is not read again."""
        if table not in self._tracking:
            self._tracking.add(table)
            self._tables[table.changelog_topic] = table

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._errors.append(error)
        elif self._tables and (topic := message.topic()) in self._tables:
            key, offset = (topic, message.partition()), message.offset()
            if offset is not None and offset > self._stored.get(key, -1):
                self._stored[key] = offset

    def produce(
        self, topic: str, key: bytes, value: bytes | None, partition: int | None = None, sealed: bool = False
    ) -> None:
        extra: dict[str, Any] = {} if partition is None else {"partition": partition}
        if sealed and partition is not None and self._seal:
            self._sealed.add((topic, partition))
        if self.headers is not None and not sealed:
            extra["headers"] = self.headers
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, on_delivery=self._delivered, **extra)
                return
            except BufferError:
                self._producer.poll(0.005)

    async def flush(self) -> None:
        with FLUSH_SECONDS.time():
            await self._drain()
            if self._sealed:
                sealed, self._sealed = self._sealed, set()
                for topic, partition in sorted(sealed):
                    self.produce(topic, SEAL_KEY, None, partition)
                await self._drain()
            if self._stored:
                stored, self._stored = self._stored, {}
                for (topic, partition), offset in stored.items():
                    self._tables[topic].note_stored(partition, offset)

    async def _drain(self) -> None:
        while self._producer.flush(0) > 0:
            await asyncio.sleep(0.001)
        if self._errors:
            errors, self._errors = self._errors, []
            raise KafkaException(errors[0])

    def close(self, timeout: float = 10) -> None:
        self._producer.flush(timeout)
