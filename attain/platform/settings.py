"""Typed settings shared by every service, read once from the environment."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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
    # How long a broker may hold a fetch that has no data yet. Not Kafka's 500 ms:
    # on Apache Kafka at 500 events/s that made the live feed's p99 0.9 to 1.2 s
    # against 0.34 to 0.43 s at 100 ms, the difference mostly in ingest accepted
    # -> computed (docs/benchmarks.md, "The portal's live feed"), though a fetch
    # returns as soon as records arrive; 100 ms costs an idle consumer 10 fetches
    # a second. Tansu holds every fetch for the whole wait even
    # when records arrive, so the embedded stack sets 20 ms.
    fetch_max_wait_ms: int = 100
    partitions: int = 4
    replication_factor: int = 1
    # Whether a service creates the topics it uses when they are missing (the embedded stack, tests, a
    # laptop broker), or only checks they exist and refuses to start naming the missing ones (a managed
    # cluster, where topics are declared resources: deploy/k8s/base/topics.yaml, docs/operations.md).
    create_topics: bool = False
    # Whether the calculator ends each batch with a one-record "seal" on every changelog partition it wrote
    # (attain.platform.streams.BatchProducer): Tansu reports a wrong high watermark, which makes faust's
    # recovery miss the last batch of state without it. Apache Kafka does not need it; each seal is a second
    # produce round trip per batch.
    seal_changelogs: bool = True
    # Size limits, set deliberately (Kafka's and librdkafka's defaults, said out
    # loud): the largest request of messages a producer sends (librdkafka's
    # message.max.bytes; one message over it fails at once), and the
    # max.message.bytes Attain creates topics with (the largest record batch the
    # broker stores; at least the producer's, so any batch it makes is accepted).
    # No value the calculator writes passes 256 KiB; it checks these at start-up.
    message_max_bytes: int = 1_000_000
    topic_max_message_bytes: int = 1_048_588
    # Security (docs/operations.md, "Kafka security"). Every client takes these through
    # attain.platform.kafka.client_config (confluent-kafka) or
    # attain.platform.streams.broker_credentials (faust/aiokafka).
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    ssl_ca_location: Path | None = None  # PEM CA bundle that signed the brokers' certificates
    ssl_certificate_location: Path | None = None  # PEM client certificate (mutual TLS)
    ssl_key_location: Path | None = None  # its PEM private key
    ssl_key_password: SecretStr | None = None
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN", "OAUTHBEARER"] = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_file: Path | None = None  # a mounted secret file; read each time a client is made
    # OAUTHBEARER by OIDC client credentials: confluent-kafka clients only (faust/aiokafka refuse it)
    sasl_oauthbearer_token_endpoint_url: str | None = None
    sasl_oauthbearer_client_id: str | None = None
    sasl_oauthbearer_client_secret: SecretStr | None = None
    sasl_oauthbearer_client_secret_file: Path | None = None
    sasl_oauthbearer_scope: str | None = None

    @model_validator(mode="after")
    def _security_complete(self) -> KafkaSettings:
        problem = self.security_problem()
        if problem is not None:
            raise ValueError(problem)
        return self

    @property
    def uses_ssl(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def security_problem(self) -> str | None:
        """Why the security settings cannot connect, or None."""
        if (self.ssl_certificate_location is None) != (self.ssl_key_location is None):
            return "ATTAIN_KAFKA_SSL_CERTIFICATE_LOCATION and ATTAIN_KAFKA_SSL_KEY_LOCATION go together (mutual TLS)"
        for name in ("ssl_ca_location", "ssl_certificate_location", "ssl_key_location",
                     "sasl_password_file", "sasl_oauthbearer_client_secret_file"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                return f"ATTAIN_KAFKA_{name.upper()}={path}: no such file"
        if not self.uses_sasl:
            return None
        if self.sasl_mechanism == "OAUTHBEARER":
            missing = [name for name in ("token_endpoint_url", "client_id")
                       if not getattr(self, f"sasl_oauthbearer_{name}")]
            if missing or (self.sasl_oauthbearer_client_secret is None) == (
                    self.sasl_oauthbearer_client_secret_file is None):
                return (f"ATTAIN_KAFKA_SECURITY_PROTOCOL={self.security_protocol} with OAUTHBEARER needs "
                        "ATTAIN_KAFKA_SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL, _CLIENT_ID and one of "
                        "_CLIENT_SECRET or _CLIENT_SECRET_FILE")
            return None
        if not self.sasl_username or (self.sasl_password is None) == (self.sasl_password_file is None):
            return (f"ATTAIN_KAFKA_SECURITY_PROTOCOL={self.security_protocol} with {self.sasl_mechanism} needs "
                    "ATTAIN_KAFKA_SASL_USERNAME and one of ATTAIN_KAFKA_SASL_PASSWORD or "
                    "ATTAIN_KAFKA_SASL_PASSWORD_FILE")
        return None

    def sasl_password_value(self) -> str:
        """The SASL password: the setting, or the mounted file's text (one trailing newline dropped)."""
        return _secret(self.sasl_password, self.sasl_password_file)

    def oauthbearer_client_secret(self) -> str:
        return _secret(self.sasl_oauthbearer_client_secret, self.sasl_oauthbearer_client_secret_file)


def _secret(value: SecretStr | None, file: Path | None) -> str:
    if file is not None:
        return file.read_text().removesuffix("\n").removesuffix("\r")
    return "" if value is None else value.get_secret_value()


class ServiceSettings(BaseSettings):
    """``ATTAIN_*``: what every service process has."""

    model_config = SettingsConfigDict(env_prefix="ATTAIN_")

    log_level: str = "INFO"


class SchemaRegistrySettings(BaseSettings):
    """``ATTAIN_SCHEMA_REGISTRY_*``: a Confluent-compatible schema registry, needed only for
    topics written in the Confluent wire format (see ``AvroSettings``) or to read such messages."""

    model_config = SettingsConfigDict(env_prefix="ATTAIN_SCHEMA_REGISTRY_")

    url: str = ""  # e.g. https://registry.example.com (Apicurio: .../apis/ccompat/v7)
    basic_auth_user_info: SecretStr | None = None  # "user:password"
    ssl_ca_location: str | None = None  # CA bundle that signed the registry's certificate
    ssl_certificate_location: str | None = None  # client certificate (mutual TLS)
    ssl_key_location: str | None = None
    timeout_seconds: float = 10.0
    max_retries: int = 3  # the client's retries (with backoff) of a request that failed in transit

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")


class AvroSettings(BaseSettings):
    """``ATTAIN_AVRO_*``: which topics producers write in the Confluent Schema Registry wire
    format (``ATTAIN_AVRO_CONFLUENT_TOPICS=payouts,earnings``); every other topic is written in
    Avro single-object encoding. Readers accept both framings on every topic."""

    model_config = SettingsConfigDict(env_prefix="ATTAIN_AVRO_")

    confluent_topics: Annotated[frozenset[str], NoDecode] = frozenset()

    @field_validator("confluent_topics", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(topic.strip() for topic in value.split(",") if topic.strip())
        return value


def registry_settings_problem(avro: AvroSettings, registry: SchemaRegistrySettings) -> str | None:
    """Why these settings cannot work together, or None."""
    if avro.confluent_topics and not registry.url:
        return ("ATTAIN_AVRO_CONFLUENT_TOPICS names topics to write in the Confluent format but "
                "ATTAIN_SCHEMA_REGISTRY_URL is not set")
    return None


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
