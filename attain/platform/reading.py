"""Read a whole topic once: ``read_until_idle``, the one loop for "every message so far".

Used where a service or tool needs a topic's contents up to now rather than a stream: the
dead letters (``attain dlq``, ingest's replay door), the Salesforce replay positions, the
calculator's lineage records; the portal's board reads on from where its last read stopped
(``start``). It reads with a throwaway consumer group and commits nothing.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping, Sequence

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

from attain.platform.kafka import client_config
from attain.platform.settings import KafkaSettings


def read_until_idle(kafka: KafkaSettings | str, topic: str, *, idle_seconds: float = 1.0, timeout: float = 30,
                    partitions: Sequence[int] | None = None, group: str = "attain-reader",
                    start: Mapping[int, int] | None = None) -> Iterator[Message]:
    """Every message on ``topic`` from the beginning, in each partition's order.

    Reads each partition to the high watermark it had when reading started, then on until no
    message arrived for ``idle_seconds``: some brokers (Tansu) report a high watermark that trails
    their log, and a reader stopping there would miss the newest messages. ``idle_seconds=0``
    stops at the watermarks. Raises ``TimeoutError`` when the watermarks are not reached within
    ``timeout`` seconds. A topic that does not exist has no messages. ``partitions``: read only
    these (default: every partition the broker lists); ``group``: the prefix of the throwaway group id.
    ``kafka``: the settings, or a bootstrap string (then the rest comes from ``ATTAIN_KAFKA_*``).
    ``start``: partition -> the offset to read it from, for a reader that keeps what it read before (the
    portal's board) and wants only what came since; an offset below the partition's low watermark (those
    messages deleted) reads from the low watermark; a partition not named reads from its beginning.
    """
    consumer = _throwaway_consumer(kafka, group)
    first = dict(start or {})
    try:
        if partitions is None:
            partitions = _listed_partitions(consumer, topic, timeout)
        ends: dict[int, int] = {}
        for partition in partitions:
            low, high = watermarks(consumer, TopicPartition(topic, partition), timeout)
            if partition in first:
                first[partition] = max(first[partition], low)
            if high > first.get(partition, low):
                ends[partition] = high
        if not partitions or (not ends and idle_seconds <= 0):
            return
        consumer.assign([TopicPartition(topic, partition, first.get(partition, OFFSET_BEGINNING))
                         for partition in partitions])
        started = idle_since = time.monotonic()
        while (ends or time.monotonic() - idle_since < idle_seconds) and time.monotonic() - started < timeout:
            message = consumer.poll(0.2)
            if message is None or message.error():
                continue
            idle_since = time.monotonic()
            at, offset = message.partition(), message.offset()
            if at is not None and offset is not None and offset + 1 >= ends.get(at, 0):
                ends.pop(at, None)
            yield message
        if ends:
            raise TimeoutError(f"could not read {topic} partitions {sorted(ends)} to their end in {timeout}s")
    finally:
        consumer.close()


def low_watermarks(kafka: KafkaSettings | str, topic: str, *, timeout: float = 30,
                   group: str = "attain-reader") -> dict[int, int]:
    """Each partition's low watermark: its oldest offset still held, every message below it deleted (retention,
    a delete-records). A reader keeping something per message it read drops what is below (the portal's board).
    A topic that does not exist has no partitions."""
    consumer = _throwaway_consumer(kafka, group)
    try:
        return {partition: watermarks(consumer, TopicPartition(topic, partition), timeout)[0]
                for partition in _listed_partitions(consumer, topic, timeout)}
    finally:
        consumer.close()


def _throwaway_consumer(kafka: KafkaSettings | str, group: str) -> Consumer:
    """A consumer of a group of its own that commits nothing: reading here never moves anyone's position."""
    return Consumer(client_config(kafka, **{"group.id": f"{group}-{uuid.uuid4()}",
                                            "enable.auto.commit": False, "auto.offset.reset": "earliest"}))


def _listed_partitions(consumer: Consumer, topic: str, timeout: float) -> list[int]:
    metadata = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
    return [] if metadata is None else list(metadata.partitions)


def watermarks(consumer: Consumer, partition: TopicPartition, timeout: float) -> tuple[int, int]:
    """The partition's (low, high) watermarks, waiting out a just-created topic whose leader is not elected
    yet (Apache Kafka answers NOT_LEADER_FOR_PARTITION or LEADER_NOT_AVAILABLE for a moment)."""
    retrying = Retrying(retry=retry_if_exception(_leader_not_ready), stop=stop_after_delay(timeout),
                        wait=wait_exponential(multiplier=0.05, max=1.0), reraise=True)
    low, high = retrying(consumer.get_watermark_offsets, partition, timeout=timeout)
    return int(low), int(high)


def _leader_not_ready(error: BaseException) -> bool:
    return isinstance(error, KafkaException) and error.args[0].code() in (
        KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE, KafkaError.UNKNOWN_TOPIC_OR_PART)
