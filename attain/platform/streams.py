"""faust-streaming, configured one way for every stream processor (and its benchmark).

Two things differ from a plain ``faust.App``:

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
from typing import Any

import faust
from confluent_kafka import KafkaError, KafkaException, Message, Producer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer

from attain.platform.kafka import producer_config
from attain.platform.settings import KafkaSettings


def stream_app(
    app_id: str, kafka: KafkaSettings, *, web_host: str, web_port: int, data_dir: str
) -> faust.App:
    """A faust app on ``kafka`` with in-memory tables recovered from changelogs."""
    app = faust.App(
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

        def on_buffer_full(self, tp: Any) -> None:
            """Keep fetching a partition whose stream buffer is under pressure.

            faust stops fetching such a partition and resumes it from a callback
            when the buffer drains. In restart tests that callback never came: the
            restarted calculator processed two big batches of its backlog, then
            never fetched one or more partitions again (3 runs of 4 on Apache Kafka,
            seen on Tansu too). Without the pause, a full buffer still bounds
            memory: faust then waits on the queue's blocking put.
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
