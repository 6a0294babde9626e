"""Topic and producer size limits are set deliberately and checked at start-up, on a real broker."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic  # the typed home of NewTopic (admin re-exports it implicitly)

from attain.platform.kafka import MessageLimitError, check_message_limits, ensure_topics, producer_config
from attain.platform.settings import KafkaSettings
from services.calculator.app import MESSAGE_BYTES_NEEDED


def _name(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


def test_topics_are_created_with_the_configured_limit_and_the_check_reads_it(kafka_bootstrap: str) -> None:
    settings = KafkaSettings(bootstrap=kafka_bootstrap, topic_max_message_bytes=2_000_000)
    plain, compacted, missing = _name("limits-plain"), _name("limits-compacted"), _name("limits-missing")
    ensure_topics(settings, [plain, compacted], compacted=[compacted])
    limits = check_message_limits(settings, [plain, compacted, missing], MESSAGE_BYTES_NEEDED)
    # Tansu 0.6 describes a topic's configs as created (it does not enforce max.message.bytes)
    assert limits == {plain: 2_000_000, compacted: 2_000_000, missing: None}
    assert producer_config(settings)["message.max.bytes"] == settings.message_max_bytes


def test_a_topic_that_takes_less_than_the_producer_sends_fails_the_check_by_name(kafka_bootstrap: str) -> None:
    settings = KafkaSettings(bootstrap=kafka_bootstrap)
    small, fine = _name("limits-small"), _name("limits-fine")
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    futures = admin.create_topics([NewTopic(small, 1, 1, config={"max.message.bytes": "300000"})])
    futures[small].result(timeout=30)
    ensure_topics(settings, [fine])
    with pytest.raises(MessageLimitError, match=f"{small} max.message.bytes=300000") as raised:
        check_message_limits(settings, [fine, small], MESSAGE_BYTES_NEEDED)
    assert fine not in str(raised.value)


def test_configured_limits_below_what_the_calculator_writes_fail_before_any_broker_call() -> None:
    unreachable = "127.0.0.1:1"
    with pytest.raises(MessageLimitError, match="ATTAIN_KAFKA_MESSAGE_MAX_BYTES=200000 is below"):
        check_message_limits(KafkaSettings(bootstrap=unreachable, message_max_bytes=200_000), [], MESSAGE_BYTES_NEEDED)
    with pytest.raises(MessageLimitError, match="ATTAIN_KAFKA_TOPIC_MAX_MESSAGE_BYTES=500000 is below"):
        check_message_limits(KafkaSettings(bootstrap=unreachable, topic_max_message_bytes=500_000), [],
                             MESSAGE_BYTES_NEEDED)
