"""The Confluent wire format as a per-topic choice: settings, framing dispatch, and errors without a registry.

The round trip through a real registry is tests/integration/test_confluent_registry.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastavro.utils import generate_many
from pydantic import ValidationError

from attain.embedded.ports import free_port
from attain.platform import avro, registry
from attain.platform.avro import MARKER, SerdeError
from attain.platform.settings import AvroSettings, SchemaRegistrySettings


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Settings and contracts re-read from the environment this test sets, and forgotten after it."""
    for name in ("ATTAIN_SCHEMA_REGISTRY_URL", "ATTAIN_AVRO_CONFLUENT_TOPICS"):
        monkeypatch.delenv(name, raising=False)
    registry.settings.cache_clear()
    avro.contract.cache_clear()
    yield monkeypatch
    registry.settings.cache_clear()
    avro.contract.cache_clear()


def _record(topic: str) -> dict:
    return next(iter(generate_many(avro.contract(topic).latest, 1)))


def test_confluent_topics_are_a_comma_separated_list(monkeypatch):
    monkeypatch.setenv("ATTAIN_AVRO_CONFLUENT_TOPICS", " payouts, earnings ,,")
    assert AvroSettings().confluent_topics == frozenset({"payouts", "earnings"})
    monkeypatch.delenv("ATTAIN_AVRO_CONFLUENT_TOPICS")
    assert AvroSettings().confluent_topics == frozenset()


def test_confluent_topics_without_a_registry_url_are_refused(fresh):
    fresh.setenv("ATTAIN_AVRO_CONFLUENT_TOPICS", "payouts")
    with pytest.raises(ValueError, match="ATTAIN_SCHEMA_REGISTRY_URL is not set"):
        avro.contract("payouts")


def test_a_confluent_topic_without_a_contract_is_refused(fresh):
    fresh.setenv("ATTAIN_SCHEMA_REGISTRY_URL", "http://127.0.0.1:1")
    fresh.setenv("ATTAIN_AVRO_CONFLUENT_TOPICS", "payouts,payout")
    with pytest.raises(ValueError, match="names payout, which have no contract"):
        avro.contract("payouts")


def test_registry_url_must_be_http(monkeypatch):
    monkeypatch.setenv("ATTAIN_SCHEMA_REGISTRY_URL", "registry.example.com:8081")
    with pytest.raises(ValidationError, match="http:// or https://"):
        SchemaRegistrySettings()


def test_client_config_carries_auth_and_tls_and_settings_hide_the_password(monkeypatch):
    monkeypatch.setenv("ATTAIN_SCHEMA_REGISTRY_URL", "https://registry.example.com/apis/ccompat/v7/")
    monkeypatch.setenv("ATTAIN_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "attain:s3cret-password")
    monkeypatch.setenv("ATTAIN_SCHEMA_REGISTRY_SSL_CA_LOCATION", "/etc/attain/registry-ca.pem")
    settings = SchemaRegistrySettings()
    assert "s3cret-password" not in repr(settings)
    config = registry.client_config(settings)
    assert config["url"] == "https://registry.example.com/apis/ccompat/v7"
    assert config["basic.auth.user.info"] == "attain:s3cret-password"
    assert config["ssl.ca.location"] == "/etc/attain/registry-ca.pem"
    assert "ssl.key.location" not in config


def test_without_a_registry_topics_stay_single_object_and_a_confluent_message_is_refused_clearly(fresh):
    codec = avro.contract("payouts")
    assert codec.confluent is None and not codec.writes_confluent
    record = _record("payouts")
    encoded = codec.encode(record)
    assert encoded[:2] == MARKER
    confluent_framed = b"\x00" + (7).to_bytes(4, "big") + encoded[10:]
    with pytest.raises(SerdeError, match="no ATTAIN_SCHEMA_REGISTRY_URL"):
        codec.decode(confluent_framed)


def test_only_the_named_topics_are_written_in_the_confluent_format(fresh):
    fresh.setenv("ATTAIN_SCHEMA_REGISTRY_URL", f"http://127.0.0.1:{free_port()}")
    fresh.setenv("ATTAIN_AVRO_CONFLUENT_TOPICS", "payouts")
    assert avro.contract("payouts").writes_confluent
    earnings = avro.contract("earnings")
    assert earnings.confluent is not None and not earnings.writes_confluent  # reads both, writes single-object
    assert earnings.encode(_record("earnings"))[:2] == MARKER
    assert earnings.confluent.subject == "earnings-value"


def test_an_unreachable_registry_is_not_bad_data(fresh):
    """Nothing listens on the port: the message may be fine, so it must not be dead-lettered as undecodable."""
    fresh.setenv("ATTAIN_SCHEMA_REGISTRY_URL", f"http://127.0.0.1:{free_port()}")
    fresh.setenv("ATTAIN_SCHEMA_REGISTRY_MAX_RETRIES", "0")
    fresh.setenv("ATTAIN_AVRO_CONFLUENT_TOPICS", "payouts")
    codec = avro.contract("payouts")
    with pytest.raises(registry.RegistryUnavailable) as decoding:
        codec.decode(b"\x00\x00\x00\x00\x01" + b"\x02")
    assert not isinstance(decoding.value, SerdeError)
    with pytest.raises(registry.RegistryUnavailable):
        codec.encode(_record("payouts"))


@pytest.mark.parametrize("data", [b"", b"\x00\x00\x00", b"\x01\x00\x00\x00\x01\x02"])
def test_a_short_or_foreign_message_is_bad_data(fresh, data):
    fresh.setenv("ATTAIN_SCHEMA_REGISTRY_URL", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(SerdeError):
        avro.contract("payouts").decode(data)
