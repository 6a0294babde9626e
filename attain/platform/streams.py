"""faust-streaming, configured one way for every stream processor (and its benchmark).

Three things differ from a plain ``faust.App``:

- :meth:`StreamApp.batch_agent`: a topic whose records go to a handler a whole
  fetch at a time, straight from the consumer, instead of one by one through
  faust's conductor, queues and streams (see its docstring for why);

- the consumer's fetch max wait comes from :class:`KafkaSettings` (faust
  hard-codes 1,500 ms; Tansu answers a waiting fetch only when the wait runs out,
  so each hop through faust could add up to 1.5 s there);
- :class:`BatchProducer`: outputs and changelog records go through
  confluent-kafka, flushed once per batch. faust's own send path costs about
  150 µs a message on this machine (its Table write: 4,300 events/s against
  12,500 without), most of a 10,000 events/s budget.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import faust
from confluent_kafka import KafkaError, KafkaException, Message, Producer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from prometheus_client import Gauge, Histogram

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
        self.batch_handlers: dict[str, BatchHandler] = {}

    def batch_agent(self, channel: Any) -> Callable[[BatchHandler], BatchHandler]:
        """Register ``handler(messages)`` for every record of ``channel``'s topic.

        The consumer hands each fetch's records of the topic to the handler in
        offset order per partition, from its own fetch loop, and acks them (so
        their offsets may be committed) only when the handler returns. Everything
        else faust does stays: the consumer group, partition assignment, table
        recovery from changelogs, offset commits, the web server.

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
                self.batch_handlers[topic] = handler
            return handler

        return register


def stream_app(
    app_id: str, kafka: KafkaSettings, *, web_host: str, web_port: int, data_dir: str,
    max_poll_records: int | None = None,
) -> StreamApp:
    """A faust app on ``kafka`` with in-memory tables recovered from changelogs."""
    app = StreamApp(
        app_id,
        broker=[f"kafka://{host}" for host in kafka.bootstrap.split(",")],
        store="memory://",
        datadir=data_dir,
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        broker_session_timeout=kafka.session_timeout_ms / 1000,
        broker_heartbeat_interval=kafka.heartbeat_interval_ms / 1000,
        broker_rebalance_timeout=kafka.rebalance_timeout_ms / 1000,
        broker_commit_interval=0.5,
        consumer_auto_offset_reset="earliest",
        broker_max_poll_records=max_poll_records,
        web_host=web_host,
        web_port=web_port,
        web_in_thread=False,
        table_standby_replicas=0,
        key_serializer="raw",  # keys and values are bytes: the stages encode their own
        value_serializer="raw",
    )
    wait_ms = kafka.fetch_max_wait_ms

    class ConsumerThread(AIOKafkaConsumerThread):  # type: ignore[misc]
        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_max_wait_ms = wait_ms  # read when the consumer starts its fetcher
            return consumer

    class Consumer(AIOKafkaConsumer):  # type: ignore[misc]
        def _new_consumer_thread(self) -> ConsumerThread:
            return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

        async def getmany(self, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
            """faust's fetch, minus the records of batch agents' topics: those go to their handler."""
            handlers = app.batch_handlers
            batches: dict[str, list[Any]] = {}
            async for tp, message in super().getmany(timeout):
                if tp.topic in handlers:
                    batches.setdefault(tp.topic, []).append(message)
                else:
                    yield tp, message
            for topic, messages in batches.items():
                # One fetch's records share a generation (faust's getmany stops at a
                # change). Records fetched before a reassignment are left unacked:
                # the new assignment starts from the committed offsets, so they are
                # read again. Compare each fetch's own generation, not the one when
                # the call began: a call made during a rebalance waits for it to end
                # and then returns records of the new generation, which are valid.
                if not self.flow_active or messages[0].generation_id != app.consumer_generation_id:
                    return
                await self._handle_batch(handlers[topic], messages)

        async def _handle_batch(self, handler: BatchHandler, messages: list[Any]) -> None:
            unacked = self._unacked_messages
            unacked.update(messages)  # a rebalance waits for these (faust's wait_empty)
            partitions = {message.tp for message in messages}
            inbound = app.monitor.stream_inbound_time  # faust's stuck-stream check reads it
            for tp in partitions:
                inbound[tp] = time.monotonic()
            try:
                await handler(messages)
            except asyncio.CancelledError:  # the worker is stopping: the batch stays unacked
                unacked.difference_update(messages)
                raise
            except Exception as error:
                log.exception("batch handler failed; crashing so the batch is read again",
                              extra={"topic": messages[0].topic, "records": len(messages)})
                unacked.difference_update(messages)
                await app.crash(error)
                raise
            read_offset = self._read_offset
            for message in messages:
                tp, offset = message.tp, message.offset
                last = read_offset[tp]
                if last is not None and offset - last > 1:
                    # faust counts skipped offsets as done (compaction, transaction
                    # markers); on these topics a skip of more than a marker means
                    # records went missing between fetches, so say so.
                    if offset - last > 2:
                        log.warning("offsets skipped between fetches", extra={
                            "topic": tp.topic, "partition": tp.partition, "from": last + 1, "to": offset - 1})
                    await self._add_gap(tp, last + 1, offset)
                read_offset[tp] = offset
                self.ack(message)
            for tp in partitions:
                highwater = self.highwater(tp)
                if highwater is not None:
                    CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, highwater - read_offset[tp] - 1))
            LAST_BATCH.labels(messages[0].topic).set_to_current_time()

        def on_buffer_full(self, tp: Any) -> None:
            """Keep fetching a partition whose stream buffer is under pressure.

            faust stops fetching such a partition and resumes it from a callback
            when the buffer drains. In restart tests that callback never came: the
            restarted calculator processed two big batches of its backlog, then
            never fetched one or more partitions again (3 runs of 4 on Apache Kafka,
            seen on Tansu too). Without the pause, a full buffer still bounds
            memory: faust then waits on the queue's blocking put. The calculator
            now reads through batch agents, which have no stream buffer; this
            still governs apps with faust streams (the bench's baseline B).
            """

    app.transport.Consumer = Consumer
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
    per batch, and compaction removes it.
    """

    def __init__(self, kafka: KafkaSettings, **overrides: Any) -> None:
        self._producer = Producer(producer_config(kafka, **{"linger.ms": 2, **overrides}))
        self._errors: list[KafkaError] = []
        self._sealed: set[tuple[str, int]] = set()

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._errors.append(error)

    def produce(
        self, topic: str, key: bytes, value: bytes | None, partition: int | None = None, sealed: bool = False
    ) -> None:
        extra = {} if partition is None else {"partition": partition}
        if sealed and partition is not None:
            self._sealed.add((topic, partition))
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

    async def _drain(self) -> None:
        while self._producer.flush(0) > 0:
            await asyncio.sleep(0.001)
        if self._errors:
            errors, self._errors = self._errors, []
            raise KafkaException(errors[0])

    def close(self, timeout: float = 10) -> None:
        self._producer.flush(timeout)
