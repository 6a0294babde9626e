"""TLS and SASL against a real Apache Kafka: a SASL_SSL listener (SCRAM-SHA-512) beside the PLAINTEXT one.

The broker's CA and certificate are made here (tests/tls_support.py) and the SCRAM user is
written into the storage when it is formatted. Every client is configured from ``KafkaSettings`` the way
the services configure theirs: confluent-kafka through ``client_config`` (and ``producer_config``),
faust/aiokafka through the calculator's ``stream_app`` and its ``broker_credentials``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaConnectionError
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from attain.embedded.apache_kafka import ApacheKafka, SaslSslListener
from attain.embedded.ports import free_ports
from attain.platform.kafka import admin_client, ensure_topics, producer_config
from attain.platform.reading import read_until_idle
from attain.platform.settings import KafkaSettings
from attain.platform.streams import stream_app
from tests.polling import budget, wait_until
from tests.tls_support import make_tls_files

USER = "attain-calculator"


class SecureKafka:
    def __init__(self, broker: ApacheKafka, ca: Path, password_file: Path) -> None:
        self.broker, self.ca, self.password_file = broker, ca, password_file

    def settings(self, **changes: Any) -> KafkaSettings:
        """What a service would read from ATTAIN_KAFKA_* to reach the SASL_SSL listener."""
        values: dict[str, Any] = {
            "bootstrap": self.broker.sasl_ssl_bootstrap, "security_protocol": "SASL_SSL",
            "ssl_ca_location": self.ca, "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": USER,
            "sasl_password_file": self.password_file, "partitions": 1}
        values.update(changes)
        return KafkaSettings(**values)


@pytest.fixture(scope="module")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureKafka]:
    folder = tmp_path_factory.mktemp("secure-kafka")
    tls = make_tls_files(folder / "tls")
    password = secrets.token_urlsafe(24)
    password_file = folder / "sasl-password"  # as a mounted Kubernetes secret: the value and a newline
    password_file.write_text(password + "\n")
    listener = SaslSslListener(tls.keystore, {USER: password})
    with ApacheKafka(folder / "broker", sasl_ssl=listener) as broker:
        broker.start(timeout=budget(90))
        yield SecureKafka(broker, tls.ca, password_file)


def test_confluent_kafka_clients_round_trip_over_sasl_ssl(secure_kafka: SecureKafka) -> None:
    settings = secure_kafka.settings()
    topic = f"secure.confluent.{uuid.uuid4().hex[:8]}"
    ensure_topics(settings, [topic], timeout=budget(30))  # the AdminClient, over SASL_SSL
    producer = Producer(producer_config(settings))
    producer.produce(topic, key=b"rep-1", value=b"over TLS with SCRAM-SHA-512")
    assert producer.flush(budget(30)) == 0

    messages = list(read_until_idle(settings, topic, idle_seconds=0, timeout=budget(30)))

    assert [(m.key(), m.value()) for m in messages] == [(b"rep-1", b"over TLS with SCRAM-SHA-512")]


def test_the_stream_app_round_trips_over_sasl_ssl(secure_kafka: SecureKafka, tmp_path: Path) -> None:
    settings = secure_kafka.settings()
    topic = f"secure.faust.{uuid.uuid4().hex[:8]}"
    ensure_topics(settings, [topic], timeout=budget(30))
    app = stream_app("attain-secure-test", settings, web_host="127.0.0.1", web_port=free_ports(1)[0],
                     data_dir=str(tmp_path))
    auth = credentials_to_aiokafka_auth(app.conf.broker_credentials)
    assert auth["security_protocol"] == "SASL_SSL" and auth["sasl_mechanism"] == "SCRAM-SHA-512"

    async def round_trip() -> list[tuple[bytes, bytes]]:
        producer = app.producer  # faust's aiokafka producer, made from the app's settings
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"rep-2", b"from faust", partition=None, timestamp=None,
                                         headers=None)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.bootstrap, auto_offset_reset="earliest",
                                    group_id=f"secure-{uuid.uuid4().hex[:8]}", **auth)
        await consumer.start()
        try:
            batch = await consumer.getmany(timeout_ms=int(budget(30) * 1000), max_records=1)
        finally:
            await consumer.stop()
        return [(record.key, record.value) for records in batch.values() for record in records]

    assert asyncio.run(round_trip()) == [(b"rep-2", b"from faust")]


def _client_error(config: dict[str, Any], code: int) -> tuple[KafkaError, AdminClient]:
    """The first error of ``code`` a client reports while it connects to its bootstrap server, and the client."""
    errors: list[KafkaError] = []
    admin = admin_client(config["bootstrap.servers"], **{**config, "error_cb": errors.append})

    def reported() -> list[KafkaError]:
        admin.poll(0.1)  # serves the error callbacks
        return [error for error in errors if error.code() == code]

    wait_until(reported, timeout=30, what=f"the client to report error {code}", interval=0)
    return reported()[0], admin


def test_a_wrong_password_is_refused_with_a_clear_error(secure_kafka: SecureKafka, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password")
    settings = secure_kafka.settings(sasl_password_file=wrong)
    config = producer_config(settings)

    error, _ = _client_error(config, KafkaError._AUTHENTICATION)

    assert "SCRAM-SHA-512" in error.str() and "invalid credentials" in error.str(), error.str()


def test_the_stream_app_with_a_wrong_password_is_refused(
        secure_kafka: SecureKafka, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password")
    app = stream_app("attain-secure-wrong", secure_kafka.settings(sasl_password_file=wrong), web_host="127.0.0.1",
                     web_port=free_ports(1)[0], data_dir=str(tmp_path))

    async def start() -> None:
        try:
            await app.producer.start()
        finally:
            await app.producer.stop()

    with caplog.at_level(logging.ERROR, logger="aiokafka"), pytest.raises(KafkaConnectionError):
        asyncio.run(asyncio.wait_for(start(), budget(30)))

    assert any("SaslAuthenticationFailed" in record.getMessage() and "invalid credentials" in record.getMessage()
               for record in caplog.records), [record.getMessage() for record in caplog.records]


def test_a_plaintext_client_cannot_use_the_sasl_ssl_port(secure_kafka: SecureKafka) -> None:
    settings = secure_kafka.settings(security_protocol="PLAINTEXT")
    config = producer_config(settings)
    assert config["security.protocol"] == "plaintext" and "sasl.username" not in config

    error, admin = _client_error(config, KafkaError._ALL_BROKERS_DOWN)  # the broker hangs up at once

    assert "brokers are down" in error.str(), error.str()
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=2)  # and no metadata is ever had through that port
