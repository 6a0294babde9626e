"""Kafka clients (confluent-kafka) configured one way for every service."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from attain.contracts.dead_letters import DeadLetter, ErrorCode
from attain.platform.avro import contract
from attain.platform.settings import KafkaSettings

log = logging.getLogger("attain.kafka")

# Same key -> same partition as Java and aiokafka (faust) clients: murmur2.
PARTITIONER = "murmur2_random"
# librdkafka's own log lines go through Python logging (so they come out as the service's JSON lines),
# not straight to stderr in librdkafka's format.
CLIENT_LOG = logging.getLogger("attain.kafka.client")


def client_config(settings: KafkaSettings | str, **overrides: Any) -> dict[str, Any]:
    """The one map from :class:`KafkaSettings` to a confluent-kafka client's configuration: the
    bootstrap servers, the log, TLS and SASL. Every Producer, Consumer and AdminClient starts from it
    (``producer_config`` and ``consumer_config`` add theirs). A bare bootstrap string takes the rest
    of the settings from ``ATTAIN_KAFKA_*``."""
    settings = kafka_settings(settings)
    config: dict[str, Any] = {"bootstrap.servers": settings.bootstrap, "logger": CLIENT_LOG,
                              "security.protocol": settings.security_protocol.lower()}
    if settings.uses_ssl:
        key_password = None if settings.ssl_key_password is None else settings.ssl_key_password.get_secret_value()
        config.update({key: str(value) for key, value in (
            ("ssl.ca.location", settings.ssl_ca_location),
            ("ssl.certificate.location", settings.ssl_certificate_location),
            ("ssl.key.location", settings.ssl_key_location),
            ("ssl.key.password", key_password),
        ) if value is not None})
    if settings.uses_sasl:
        config["sasl.mechanism"] = settings.sasl_mechanism
        if settings.sasl_mechanism == "OAUTHBEARER":
            config.update({
                "sasl.oauthbearer.method": "oidc",
                "sasl.oauthbearer.token.endpoint.url": settings.sasl_oauthbearer_token_endpoint_url,
                "sasl.oauthbearer.client.id": settings.sasl_oauthbearer_client_id,
                "sasl.oauthbearer.client.secret": settings.oauthbearer_client_secret(),
            })
            if settings.sasl_oauthbearer_scope:
                config["sasl.oauthbearer.scope"] = settings.sasl_oauthbearer_scope
        else:
            config.update({"sasl.username": settings.sasl_username,
                           "sasl.password": settings.sasl_password_value()})
    config.update(overrides)
    return config


def kafka_settings(settings: KafkaSettings | str) -> KafkaSettings:
    """``settings``, or for a bare bootstrap string the ``ATTAIN_KAFKA_*`` settings with that bootstrap."""
    return settings if isinstance(settings, KafkaSettings) else KafkaSettings(bootstrap=settings)


def admin_client(settings: KafkaSettings | str, **overrides: Any) -> AdminClient:
    """An AdminClient on :func:`client_config`."""
    return AdminClient(client_config(settings, **overrides))


def producer_config(settings: KafkaSettings, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        **client_config(settings),
        "partitioner": PARTITIONER,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "none",
        "message.max.bytes": settings.message_max_bytes,
    }
    config.update(overrides)
    return config


def topic_config(settings: KafkaSettings) -> dict[str, str]:
    """The configuration Attain creates its topics with (besides cleanup.policy)."""
    return {"max.message.bytes": str(settings.topic_max_message_bytes)}


def consumer_config(settings: KafkaSettings, group_id: str, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        **client_config(settings),
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": settings.session_timeout_ms,
        "heartbeat.interval.ms": settings.heartbeat_interval_ms,
        "partition.assignment.strategy": "range",
        "fetch.wait.max.ms": settings.fetch_max_wait_ms,
    }
    config.update(overrides)
    return config


def ensure_topics(
    settings: KafkaSettings, topics: Iterable[str], compacted: Iterable[str] = (), timeout: float = 30
) -> None:
    """Create missing topics with the configured partitions; existing ones are left alone."""
    compacted_set = set(compacted)
    ensure_topic_specs(settings, [
        (name, settings.partitions,
         {**topic_config(settings), **({"cleanup.policy": "compact"} if name in compacted_set else {})})
        for name in topics], timeout)


def ensure_topic_specs(settings: KafkaSettings, specs: Iterable[tuple[str, int, dict[str, str]]],
                       timeout: float = 30) -> list[str]:
    """Create the missing topics of ``specs`` (name, partitions, config), for topics whose partitions or
    config differ from :func:`ensure_topics`' (one-partition logs, compacted or never-expiring topics).
    Returns the names it created."""
    admin = admin_client(settings)
    existing = set(admin.list_topics(timeout=timeout).topics)
    wanted = [NewTopic(name, num_partitions=partitions, replication_factor=settings.replication_factor,
                       config=config) for name, partitions, config in specs if name not in existing]
    if not wanted:
        return []
    for name, future in admin.create_topics(wanted, operation_timeout=timeout).items():
        try:
            future.result()
        except KafkaException as error:
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise RuntimeError(f"could not create topic {name}: {error}") from error
    _wait_for_topics(admin, [t.topic for t in wanted], timeout)
    return [t.topic for t in wanted]


class MissingTopicsError(RuntimeError):
    """Topics a service needs are not on the cluster, and it may not create them."""

    def __init__(self, message: str, missing: Sequence[str]) -> None:
        super().__init__(message)
        self.missing = list(missing)


def missing_topics(settings: KafkaSettings, names: Iterable[str], timeout: float = 30) -> list[str]:
    """The topics of ``names`` the cluster does not have, sorted."""
    admin = admin_client(settings)
    existing = admin.list_topics(timeout=timeout).topics
    return sorted({name for name in names if name not in existing or existing[name].error is not None})


def provide_topics(
    settings: KafkaSettings, topics: Iterable[str], compacted: Iterable[str] = (), timeout: float = 30
) -> None:
    """A service's start-up step: create missing topics when ``create_topics`` is on (the embedded
    profile), otherwise check they all exist and raise :class:`MissingTopicsError` naming the missing."""
    names = list(topics)
    if settings.create_topics:
        ensure_topics(settings, names, compacted, timeout)
        return
    missing = missing_topics(settings, names, timeout)
    if missing:
        raise MissingTopicsError(
            f"topics missing on {settings.bootstrap}: {', '.join(missing)}; declare them (deploy/k8s/base/"
            "topics.yaml, docs/operations.md \"Topics and retention\") or set ATTAIN_KAFKA_CREATE_TOPICS=true "
            "to let the service create them", missing)


class MessageLimitError(RuntimeError):
    """A producer or topic size limit is below what a service may write."""


def check_message_limits(
    settings: KafkaSettings, names: Iterable[str], needed: int, timeout: float = 30
) -> dict[str, int | None]:
    """Check that a service writing messages of up to ``needed`` bytes to topics ``names`` can.

    The producer's message.max.bytes must be at least ``needed``, and each
    existing topic's max.message.bytes at least the producer's (a producer
    batches many small messages into one record batch up to its limit). Raises
    :class:`MessageLimitError` saying which limit to raise. Returns each topic's
    limit as the broker describes it, or None for a topic it did not describe
    (missing yet, or a broker without DescribeConfigs, such as Tansu 0.6:
    then only the configured values are checked, and a warning says so).
    """
    if settings.message_max_bytes < needed:
        raise MessageLimitError(
            f"ATTAIN_KAFKA_MESSAGE_MAX_BYTES={settings.message_max_bytes} is below the {needed} bytes a "
            f"message may take: raise it to at least {needed}")
    if settings.topic_max_message_bytes < settings.message_max_bytes:
        raise MessageLimitError(
            f"ATTAIN_KAFKA_TOPIC_MAX_MESSAGE_BYTES={settings.topic_max_message_bytes} is below "
            f"ATTAIN_KAFKA_MESSAGE_MAX_BYTES={settings.message_max_bytes}: topics created with it would "
            f"reject the producer's batches")
    admin = admin_client(settings)
    existing = set(admin.list_topics(timeout=timeout).topics)
    limits: dict[str, int | None] = dict.fromkeys(names)
    wanted = [ConfigResource(ConfigResource.Type.TOPIC, name) for name in limits if name in existing]
    unanswered: list[str] = []
    for resource, future in (admin.describe_configs(wanted, request_timeout=timeout).items() if wanted else ()):
        try:
            entry = future.result(timeout=timeout).get("max.message.bytes")
        except Exception as error:  # any failure to describe leaves the topic unchecked
            unanswered.append(f"{resource.name} ({error})")
            continue
        if entry is None or entry.value is None:
            unanswered.append(f"{resource.name} (no max.message.bytes)")
            continue
        limits[resource.name] = int(entry.value)
    too_small = {name: limit for name, limit in limits.items()
                 if limit is not None and limit < settings.message_max_bytes}
    if too_small:
        raise MessageLimitError(
            "topics accept smaller messages than the producer may send (ATTAIN_KAFKA_MESSAGE_MAX_BYTES="
            f"{settings.message_max_bytes}; values up to {needed} bytes): "
            + ", ".join(f"{name} max.message.bytes={limit}" for name, limit in sorted(too_small.items()))
            + f"; raise each topic's max.message.bytes to at least {settings.message_max_bytes}")
    if unanswered:
        log.warning("broker did not describe topic size limits; only the configured ones are checked",
                    extra={"topics": unanswered})
    return limits


def _wait_for_topics(admin: AdminClient, names: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        metadata = admin.list_topics(timeout=timeout).topics
        if all(name in metadata and not metadata[name].error for name in names):
            return
        time.sleep(0.1)
    raise TimeoutError(f"topics {names} not visible after {timeout}s")


class AsyncProducer:
    """A confluent-kafka producer whose deliveries are awaitable.

    A background thread polls for delivery reports and resolves each message's
    future on the event loop, so a caller can answer "accepted" only once the
    broker has the message.
    """

    def __init__(self, config: dict[str, Any], loop: asyncio.AbstractEventLoop) -> None:
        self._config = config
        self._producer = Producer(config)
        self._loop = loop
        self._closing = threading.Event()
        self._poller = threading.Thread(target=self._poll_loop, name="producer-poll", daemon=True)
        self._poller.start()

    def _poll_loop(self) -> None:
        while not self._closing.is_set():
            self._producer.poll(0.05)

    def produce(self, topic: str, value: bytes, key: bytes | None = None) -> asyncio.Future[Message]:
        future: asyncio.Future[Message] = self._loop.create_future()

        def delivered(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                self._loop.call_soon_threadsafe(_fail, future, KafkaException(error))
            else:
                self._loop.call_soon_threadsafe(_succeed, future, message)

        while True:
            try:
                self._producer.produce(topic, value=value, key=key, on_delivery=delivered)
                return future
            except BufferError:
                self._producer.poll(0.01)

    def produce_all(self, topic: str, messages: Sequence[tuple[bytes | None, bytes]],
                    headers: list[tuple[str, bytes]] | None = None) -> asyncio.Future[int]:
        """Send (key, value) pairs, each with ``headers`` if given; one future, resolved with their count once
        the broker has every one (or failed with the first error). Cheaper than a future per message at high
        rates."""
        future: asyncio.Future[int] = self._loop.create_future()
        if not messages:
            future.set_result(0)
            return future
        remaining = [len(messages)]
        lock = threading.Lock()

        def delivered(error: KafkaError | None, _message: Message) -> None:
            if error is not None:
                self._loop.call_soon_threadsafe(_fail, future, KafkaException(error))
                return
            with lock:
                remaining[0] -= 1
                finished = remaining[0] == 0
            if finished:
                self._loop.call_soon_threadsafe(_succeed, future, len(messages))

        extra = {} if headers is None else {"headers": headers}
        for key, value in messages:
            while True:
                try:
                    self._producer.produce(topic, value=value, key=key, on_delivery=delivered, **extra)
                    break
                except BufferError:
                    self._producer.poll(0.01)
        return future

    def renew(self) -> None:
        """Swap in a fresh client; what the old one still held fails (purged), so nobody is told "accepted".

        For an idempotent producer that cannot deliver although the broker answers: after a broker lost its
        state (a memory broker restarted, a new cluster at the old address) it never acknowledges again.
        """
        old, self._producer = self._producer, Producer(self._config)
        old.purge()
        old.flush(1)  # serves the purged messages' delivery reports: their futures fail

    def close(self, timeout: float = 10) -> None:
        self._producer.flush(timeout)
        self._closing.set()
        self._poller.join()


def produce_when_room(producer: Producer, topic: str, value: bytes, key: bytes | None = None, **extra: Any) -> None:
    """``producer.produce``, waiting while the client's local queue is full (``BufferError``) instead of failing:
    a full queue says the broker is slow, not that the message is wrong, so nothing should be dropped for it."""
    while True:
        try:
            producer.produce(topic, value=value, key=key, **extra)
            return
        except BufferError:
            producer.poll(0.01)


def _succeed(future: asyncio.Future[Any], message: Any) -> None:
    if not future.done():
        future.set_result(message)


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


def dead_letter(
    *, original: bytes, reason: str, error_code: ErrorCode, source: str, service: str
) -> bytes:
    """Encode a DLQ envelope (schemas/dlq) for a rejected input."""
    return contract("dlq").encode(DeadLetter.now(
        original=original, reason=reason, error_code=error_code, source=source, service=service).to_avro())
