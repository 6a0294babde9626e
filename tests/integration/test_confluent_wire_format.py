"""The Confluent Schema Registry wire format on a real broker, through the Confluent REST API.

Attain writes ``payouts`` and ``earnings`` through confluent-kafka's AvroSerializer; the
schema is registered under ``<topic>-value`` whose compatibility is set to BACKWARD; Attain
reads the messages back; a consumer Attain did not write (Apache Avro Java, resolving each
schema id at the registry as a Kafka Connect converter does) reads them too; and a topic that
switches framing midway (single-object messages, then Confluent ones) reads through.

The registry is Apicurio Registry 2.4.2.Final, a real one (its Confluent-compatible API, built
from Maven Central by tests/integration/apicurio/server.py), which also enforces BACKWARD.
Registry credentials are checked against franz-go's ``srfake`` (tests/integration/srfake/server.py),
an emulation of the Confluent API with Basic auth (Apicurio runs here without authentication).
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from fastavro import parse_schema
from fastavro.utils import generate_many

from attain.platform import avro, registry
from attain.platform.avro import MARKER, SerdeError
from tests.integration.apicurio.server import apicurio
from tests.integration.java_avro import confluent_round_trip
from tests.integration.srfake.server import schema_registry
from tests.polling import deadline_in

COUNT = 8
USER_INFO = "payroll-reader:registry-password-for-tests"  # the emulation refuses requests without it


@pytest.fixture(scope="module")
def registry_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with apicurio(tmp_path_factory.mktemp("apicurio") / "apicurio.log") as url:
        yield url


def _use_registry(monkeypatch: pytest.MonkeyPatch, url: str, user_info: str = "") -> None:
    monkeypatch.setenv("ATTAIN_SCHEMA_REGISTRY_URL", url)
    if user_info:
        monkeypatch.setenv("ATTAIN_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", user_info)
    monkeypatch.setenv("ATTAIN_AVRO_CONFLUENT_TOPICS", "payouts,earnings")
    registry.settings.cache_clear()
    avro.contract.cache_clear()


@pytest.fixture
def confluent(registry_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Producers write payouts and earnings in the Confluent format to the real registry."""
    _use_registry(monkeypatch, registry_url)
    yield registry_url
    registry.settings.cache_clear()
    avro.contract.cache_clear()


@pytest.fixture
def emulated_with_auth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The same settings against the srfake emulation, which demands Basic credentials."""
    with schema_registry(tmp_path / "srfake.log", USER_INFO) as url:
        _use_registry(monkeypatch, url, USER_INFO)
        yield url
    registry.settings.cache_clear()
    avro.contract.cache_clear()


def _get(url: str, user_info: str = "") -> dict:
    headers = {"Authorization": "Basic " + base64.b64encode(user_info.encode()).decode()} if user_info else {}
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        document: dict = json.load(response)
        return document


def _read_all(bootstrap: str, topic: str, count: int) -> list[bytes]:
    """Partition 0 of ``topic`` from the beginning, by assignment (no group join to wait for)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"confluent-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    values: list[bytes] = []
    try:
        deadline = deadline_in(60)
        while len(values) < count and time.monotonic() < deadline:
            values += [m.value() for m in consumer.consume(count - len(values), 0.5) if m.error() is None]
    finally:
        consumer.close()
    return values


def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for index, value in enumerate(values):
        producer.produce(topic, key=str(index).encode(), value=value, partition=0)
    assert producer.flush(30) == 0


@pytest.mark.parametrize("topic", ["payouts", "earnings"])
def test_confluent_framed_topic_reads_back_in_attain_and_in_java(kafka_bootstrap, confluent, topic):
    codec = avro.contract(topic)
    assert codec.writes_confluent and codec.confluent is not None
    records = list(generate_many(codec.latest, COUNT))
    sent = [codec.encode(record) for record in records]

    # The wire format: magic byte 0 and the id under which the registry holds the contract in <topic>-value.
    assert {value[0] for value in sent} == {0}
    assert len({value[1:5] for value in sent}) == 1
    schema_id = int.from_bytes(sent[0][1:5], "big")
    lookup = urllib.request.Request(f"{confluent}/subjects/{topic}-value", method="POST",
                                    data=json.dumps({"schema": codec.confluent.schema_json}).encode(),
                                    headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
    with urllib.request.urlopen(lookup, timeout=10) as response:
        assert json.load(response)["id"] == schema_id
    assert json.loads(_get(f"{confluent}/schemas/ids/{schema_id}")["schema"]) == json.loads(codec.confluent.schema_json)
    assert _get(f"{confluent}/config/{topic}-value")["compatibilityLevel"] == "BACKWARD"

    in_topic, out_topic = f"confluent.{uuid.uuid4().hex[:8]}.in", f"confluent.{uuid.uuid4().hex[:8]}.out"
    _produce(kafka_bootstrap, in_topic, sent)
    received = _read_all(kafka_bootstrap, in_topic, COUNT)
    assert received == sent
    expected = [codec.decode(value) for value in received]
    assert [record["rep_id"] for record in expected] == [record["rep_id"] for record in records]

    java_lines = confluent_round_trip(kafka_bootstrap, confluent, in_topic, out_topic, COUNT)
    assert java_lines[-1] == f"decoded {COUNT} of {COUNT}"
    assert all(f" id={schema_id} " in line for line in java_lines[:-1])
    from_java = _read_all(kafka_bootstrap, out_topic, COUNT)
    assert {value[:2] for value in from_java} == {MARKER}  # Java re-framed them single-object
    assert [codec.decode(value) for value in from_java] == expected


def test_a_topic_switching_from_single_object_to_confluent_reads_through(kafka_bootstrap, confluent):
    codec = avro.contract("payouts")
    records = list(generate_many(codec.latest, 6))
    values = [codec.encode_single_object(record) for record in records[:3]] + [codec.encode(r) for r in records[3:]]
    assert [value[:1] for value in values] == [b"\xc3"] * 3 + [b"\x00"] * 3
    topic = f"confluent.{uuid.uuid4().hex[:8]}.mixed"
    _produce(kafka_bootstrap, topic, values)
    decoded = [codec.decode(value) for value in _read_all(kafka_bootstrap, topic, 6)]
    assert [record["payout_id"] for record in decoded] == [record["payout_id"] for record in records]
    # The same record reads the same whichever framing carried it.
    assert codec.decode(codec.encode(records[0])) == decoded[0]


def test_an_unknown_schema_id_is_bad_data(confluent):
    codec = avro.contract("payouts")
    body = codec.encode(next(iter(generate_many(codec.latest, 1))))[5:]
    with pytest.raises(SerdeError, match="schema id 987654"):
        codec.decode(b"\x00" + (987654).to_bytes(4, "big") + body)


def test_the_registry_refuses_a_schema_that_breaks_backward_compatibility(confluent):
    """Attain sets BACKWARD on the subject; the registry, not Attain, then refuses a breaking schema."""
    codec = avro.contract("payouts")
    first = codec.encode(next(iter(generate_many(codec.latest, 1))))  # registers the contract, sets BACKWARD
    assert codec.confluent is not None

    def framing(extra_field: dict) -> registry.ConfluentFraming:
        schema = json.loads(codec.confluent.schema_json)
        schema["fields"] = [*schema["fields"], extra_field]
        return registry.ConfluentFraming("payouts", json.dumps(schema), parse_schema(schema), codec.confluent.client)

    record = next(iter(generate_many(codec.latest, 1)))
    with pytest.raises(SerdeError, match="refused"):
        framing({"name": "no_default", "type": "string"}).encode({**record, "no_default": "x"})
    # A field with a default is a backward-compatible change: registered as a new id, and still
    # readable by a reader that knows only the older contract.
    evolved = framing({"name": "with_default", "type": "string", "default": ""}).encode({**record, "with_default": "y"})
    assert evolved[1:5] != first[1:5]
    assert codec.decode(evolved)["payout_id"] == record["payout_id"]


def test_registry_credentials_are_sent_and_a_refused_one_is_not_bad_data(emulated_with_auth, monkeypatch):
    """Basic credentials reach the registry; a refused credential must not dead-letter good messages."""
    codec = avro.contract("payouts")
    record = next(iter(generate_many(codec.latest, 1)))
    message = codec.encode(record)
    assert message[0] == 0 and codec.decode(message)["payout_id"] == record["payout_id"]
    assert _get(f"{emulated_with_auth}/config/payouts-value", USER_INFO)["compatibilityLevel"] == "BACKWARD"

    monkeypatch.setenv("ATTAIN_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "payroll-reader:wrong-password")
    monkeypatch.setenv("ATTAIN_SCHEMA_REGISTRY_MAX_RETRIES", "0")
    registry.settings.cache_clear()
    avro.contract.cache_clear()
    with pytest.raises(registry.RegistryUnavailable):
        avro.contract("payouts").decode(message)


def _read_keys(bootstrap: str, topic: str, prefix: str, count: int) -> dict[str, bytes]:
    """Values of ``topic`` whose key starts with ``prefix``, from every partition, by assignment."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"confluent-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    found: dict[str, bytes] = {}
    try:
        deadline = deadline_in(60)
        while len(found) < count and time.monotonic() < deadline:
            for message in consumer.consume(100, 0.5):
                if message.error() is None and message.key().decode().startswith(prefix):
                    found[message.key().decode()] = message.value()
    finally:
        consumer.close()
    return found


def test_the_ledger_publishes_approved_payouts_in_the_confluent_format(engine, kafka_bootstrap, confluent):
    """The real payouts path: the approving transaction encodes the lines through the registry into the
    outbox, the relay publishes them, and they read back by schema id."""
    from attain.platform import topics
    from attain.platform.kafka import ensure_topics, producer_config
    from attain.platform.settings import KafkaSettings
    from services.ledger.db import apply_snapshots
    from services.ledger.payouts import OutboxRelay
    from services.ledger.period_service import lock_period
    from tests.integration.test_ledger_periods import approve_all, snapshot

    ensure_topics(KafkaSettings(bootstrap=kafka_bootstrap), [topics.PAYOUTS])
    apply_snapshots(engine, [snapshot("CF1", 1, "250.00", plan="cf"), snapshot("CF2", 1, "75.50", plan="cf")])
    lock_period(engine, "cf", "2026-Q1", "prep-1")
    approve_all(engine, "cf", "2026-Q1")
    relay = OutboxRelay(engine, Producer(producer_config(KafkaSettings(bootstrap=kafka_bootstrap))))
    relay.publish_pending()
    published = _read_keys(kafka_bootstrap, topics.PAYOUTS, "cf/", 2)
    assert sorted(published) == ["cf/2026-Q1/CF1/INR", "cf/2026-Q1/CF2/INR"]
    assert {value[0] for value in published.values()} == {0}
    codec = avro.contract(topics.PAYOUTS)
    lines = {key: codec.decode(value) for key, value in published.items()}
    assert lines["cf/2026-Q1/CF1/INR"]["amount"] == "250.00"
    assert lines["cf/2026-Q1/CF2/INR"]["amount"] == "75.50"
