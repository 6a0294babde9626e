"""``read_until_idle``: every message a topic holds, on a real broker."""

from __future__ import annotations

import uuid

from confluent_kafka import Producer

from attain.platform.kafka import ensure_topics, producer_config
from attain.platform.reading import read_until_idle
from attain.platform.settings import KafkaSettings


def test_reads_every_message_of_every_partition_in_order_and_nothing_of_a_missing_topic(kafka_bootstrap):
    kafka = KafkaSettings(bootstrap=kafka_bootstrap)
    topic = f"test.reading.{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka, [topic])
    producer = Producer(producer_config(kafka))
    for batch in range(3):  # several record batches per partition, the last ones just before reading
        for n in range(20):
            producer.produce(topic, key=f"k{n}".encode(), value=f"{batch}:{n}".encode())
        assert producer.flush(30) == 0

    messages = list(read_until_idle(kafka_bootstrap, topic, idle_seconds=0.5))

    assert sorted(message.value().decode() for message in messages) == sorted(
        f"{batch}:{n}" for batch in range(3) for n in range(20))
    by_partition: dict[int, list[int]] = {}
    for message in messages:
        by_partition.setdefault(message.partition(), []).append(message.offset())
    assert len(by_partition) > 1
    assert all(offsets == list(range(len(offsets))) for offsets in by_partition.values())
    assert list(read_until_idle(kafka_bootstrap, f"test.reading.missing.{uuid.uuid4().hex[:8]}")) == []
