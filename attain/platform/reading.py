"""Read a whole topic once: ``read_until_idle``, the one loop for "every message so far".

Used where a service or tool needs a topic's contents up to now rather than a stream: the
dead letters (``attain dlq``, ingest's replay door), the Salesforce replay positions, the
calculator's lineage records. It reads with a throwaway consumer group and commits nothing.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

from attain.platform.kafka import client_config
from attain.platform.settings import KafkaSettings


def read_until_idle(kafka: KafkaSettings | str, topic: str, *, idle_seconds: float = 1.0, timeout: float = 30,
                    partitions: Sequence[int] | None = None, group: str = "attain-reader") -> Iterator[Message]:
    """Every message on ``topic`` from the beginning, in each partition's order.

    Reads each partition to the high watermark it had when reading started, then on until no
    message arrived for ``idle_seconds``: some brokers (Tansu) report a high watermark that trails
    their log, and a reader stopping there would miss the newest messages. ``idle_seconds=0``
    stops at the watermarks. Raises ``TimeoutError`` when the watermarks are not reached within
    ``timeout`` seconds. A topic that does not exist has no messages. ``partitions``: read only
    these (default: every partition the broker lists); ``group``: the prefix of the throwaway group id.
    ``kafka``: the settings, or a bootstrap string (then the rest comes from ``ATTAIN_KAFKA_*``).
    """
    consumer = Consumer(client_config(kafka, **{"group.id": f"{group}-{uuid.uuid4()}",
                                                "enable.auto.commit": False, "auto.offset.reset": "earliest"}))
    try:
        if partitions is None:
            metadata = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
            partitions = [] if metadata is None else list(metadata.partitions)
        ends: dict[int, int] = {}
        for partition in partitions:
            low, high = watermarks(consumer, TopicPartition(topic, partition), timeout)
            if high > low:
                ends[partition] = high
        if not partitions or (not ends and idle_seconds <= 0):
            return
        consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING) for partition in partitions])
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
