"""Every topic contract, checked against Apache Avro Java on a real broker, in both directions.

Attain writes messages; Java (BinaryMessageDecoder with every schema version of the
topic) reads each one and writes it back with its own BinaryMessageEncoder; Attain
reads Java's messages and must find the very records it wrote.
"""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, Producer
from fastavro.utils import generate_many

from attain.platform.avro import HEADER_SIZE, MARKER, contract, legacy_fingerprint
from attain.platform.schemas import schemas_dir
from tests.integration.java_avro import round_trip

TOPICS = ["crm.changes", "earnings", "payouts", "payouts.control", "crm.changes.dlq"]
COUNT = 12


def _read_all(bootstrap: str, topic: str, count: int) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"interop-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    values: list[bytes] = []
    try:
        for _ in range(120):
            for message in consumer.consume(count, 1.0):
                if message.error() is None:
                    values.append(message.value())
            if len(values) >= count:
                break
    finally:
        consumer.close()
    return values


@pytest.mark.parametrize("topic", TOPICS)
def test_java_reads_what_attain_writes_and_attain_reads_what_java_writes(kafka_bootstrap, topic):
    codec = contract(topic)
    records = list(generate_many(codec.latest, COUNT))
    sent = [codec.encode(record) for record in records]
    in_topic, out_topic = f"interop.{uuid.uuid4().hex[:8]}.in", f"interop.{uuid.uuid4().hex[:8]}.out"
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for index, value in enumerate(sent):
        producer.produce(in_topic, key=str(index).encode(), value=value, partition=0)
    assert producer.flush(30) == 0

    folder = "dlq" if topic.endswith(".dlq") else topic
    java_lines = round_trip(kafka_bootstrap, schemas_dir() / folder, in_topic, out_topic, COUNT)
    assert java_lines[-1] == f"decoded {COUNT} of {COUNT}"

    from_java = _read_all(kafka_bootstrap, out_topic, COUNT)
    assert len(from_java) == COUNT
    assert [codec.decode(value) for value in from_java] == [codec.decode(value) for value in sent]
    # Java framed them itself: same header as Attain's, so both sides agree on the fingerprint bytes.
    assert {value[:HEADER_SIZE] for value in from_java} == {MARKER + sent[0][2:HEADER_SIZE]}


def test_messages_in_the_legacy_framing_stay_readable():
    """Before 2026-12 Attain wrote the fingerprint's bytes reversed; such data must still decode."""
    codec = contract("payouts")
    record = next(iter(generate_many(codec.latest, 1)))
    standard = codec.encode(record)
    legacy = MARKER + legacy_fingerprint(codec.latest) + standard[HEADER_SIZE:]
    assert legacy != standard
    assert codec.decode(legacy) == codec.decode(standard)
