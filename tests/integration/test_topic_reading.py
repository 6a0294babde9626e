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


def test_reads_each_partition_from_its_start_offset_and_a_partition_not_named_from_its_beginning(kafka_bootstrap):
    kafka = KafkaSettings(bootstrap=kafka_bootstrap)
    topic = f"test.reading.start.{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka, [topic])
    producer = Producer(producer_config(kafka))
    for partition in (0, 1, 2):
        for n in range(10):
            producer.produce(topic, partition=partition, value=f"{partition}:{n}".encode())
    assert producer.flush(30) == 0

    messages = list(read_until_idle(kafka_bootstrap, topic, idle_seconds=0.5, start={0: 7, 1: 10}))

    by_partition: dict[int, list[int]] = {}
    for message in messages:
        by_partition.setdefault(message.partition(), []).append(message.offset())
    assert by_partition == {0: [7, 8, 9], 2: list(range(10))}  # 1 read to its end already; 2 not named
