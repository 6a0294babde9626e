"""Typed settings shared by every service, read once from the environment."""

from __future__ import annotations

import logging
from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

# Shared secrets (HMAC keys: the ledger's HS256 token secret, webhook signing secrets) must carry at
# least 256 bits; a shorter one is refused at start-up.
MIN_SECRET_BYTES = 32


def check_secret(name: str, value: str) -> str:
    """Return ``value`` if it is long enough, else raise ``ValueError`` saying what to do (never the value)."""
    length = len(value.encode())
    if length < MIN_SECRET_BYTES:
        raise ValueError(
            f"{name} is {length} bytes; a secret must be at least {MIN_SECRET_BYTES} bytes "
            "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return value


class KafkaSettings(BaseSettings):
    """``ATTAIN_KAFKA_*``. Defaults suit the embedded broker and small clusters."""

    model_config = SettingsConfigDict(env_prefix="ATTAIN_KAFKA_")

    bootstrap: str = "127.0.0.1:9092"
    # Short group timeouts: Tansu holds a group join for about half the session
    # timeout (23 s with client defaults, 3 s at 6 s), and tests restart members.
    session_timeout_ms: int = 6000
    heartbeat_interval_ms: int = 1000
    # How long a rebalance waits for the group's members to rejoin (faust's
    # broker_rebalance_timeout). A member that was SIGKILLed never rejoins, so a
    # restart can wait this long (seen: 2 min with faust's 60 s default on Apache
    # Kafka); the embedded stack sets 10 s.
    rebalance_timeout_ms: int = 60000
    # How long a broker may hold a fetch that has no data yet. 500 ms is Kafka's
    # default; Tansu holds every fetch for the whole wait even when records
    # arrive, so the embedded stack sets 20 ms (each consumer hop adds up to it).
    fetch_max_wait_ms: int = 500
    partitions: int = 4
    replication_factor: int = 1
    # Size limits, set deliberately (Kafka's and librdkafka's defaults, said out
    # loud): the largest request of messages a producer sends (librdkafka's
    # message.max.bytes; one message over it fails at once), and the
    # max.message.bytes Attain creates topics with (the largest record batch the
    # broker stores; at least the producer's, so any batch it makes is accepted).
    # No value the calculator writes passes 256 KiB; it checks these at start-up.
    message_max_bytes: int = 1_000_000
    topic_max_message_bytes: int = 1_048_588


class ServiceSettings(BaseSettings):
    """``ATTAIN_*``: what every service process has."""

    model_config = SettingsConfigDict(env_prefix="ATTAIN_")

    log_level: str = "INFO"


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def load_settings(kind: type[SettingsT]) -> SettingsT:
    """``kind()`` from the environment; invalid settings stop the service with one clear log line and exit 2."""
    try:
        return kind()
    except ValidationError as error:
        problems = [f"{'.'.join(str(p) for p in e['loc']) or kind.__name__}: {e['msg']}" for e in error.errors()]
        logging.getLogger("attain.settings").critical(
            "refusing to start: invalid settings", extra={"problems": problems}
        )
        raise SystemExit(2) from None
