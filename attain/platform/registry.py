"""The Confluent Schema Registry wire format, a per-topic choice beside single-object encoding.

Kafka Connect, ksqlDB and Flink read Avro framed as magic byte ``0x00``, the
writer schema's 4-byte big-endian id in a schema registry, then the body. A
topic named in ``ATTAIN_AVRO_CONFLUENT_TOPICS`` is written that way through
confluent-kafka's own ``AvroSerializer``: the newest ``schemas/<topic>/vN.avsc``
is registered under the topic's value subject (``<topic>-value``, the
TopicNameStrategy), whose compatibility Attain sets to BACKWARD first.

Readers tell the framings apart by the first byte (``0x00`` Confluent, ``0xC3``
single-object), so a topic can switch its writers without breaking its
consumers. A Confluent message's writer schema is fetched by id from the
registry (the client caches it) and resolved to the newest reader schema just
as a single-object message is.

Errors: a message whose schema id the registry does not know, or whose body
does not decode, is a :class:`~attain.platform.avro.SerdeError` (dead-lettered
by the caller); a registry that cannot be reached is :class:`RegistryUnavailable`,
which callers must not dead-let (the message is fine, try again later).
"""

from __future__ import annotations

import io
import json
import threading
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from fastavro import parse_schema, schemaless_reader

from attain.platform.schemas import SerdeError, schemas_dir, topic_folder
from attain.platform.settings import AvroSettings, SchemaRegistrySettings, registry_settings_problem

CONFLUENT_MAGIC = 0
CONFLUENT_HEADER_SIZE = 5
COMPATIBILITY = "BACKWARD"


class RegistryUnavailable(RuntimeError):
    """The schema registry could not answer (network, auth, server error): the message may be fine."""


def value_subject(topic: str) -> str:
    """The TopicNameStrategy subject of a topic's values."""
    return f"{topic}-value"


def client_config(settings: SchemaRegistrySettings) -> dict[str, Any]:
    """confluent-kafka ``SchemaRegistryClient`` configuration from Attain's settings."""
    config: dict[str, Any] = {"url": settings.url, "timeout": settings.timeout_seconds,
                              "max.retries": settings.max_retries}
    if settings.basic_auth_user_info is not None:
        config["basic.auth.user.info"] = settings.basic_auth_user_info.get_secret_value()
    for key, value in (("ssl.ca.location", settings.ssl_ca_location),
                       ("ssl.certificate.location", settings.ssl_certificate_location),
                       ("ssl.key.location", settings.ssl_key_location)):
        if value:
            config[key] = value
    return config


@cache
def settings() -> tuple[AvroSettings, SchemaRegistrySettings]:
    """Both settings, read once from the environment; inconsistent ones raise ``ValueError``."""
    avro, registry = AvroSettings(), SchemaRegistrySettings()
    problem = registry_settings_problem(avro, registry)
    if problem:
        raise ValueError(problem)
    unknown = sorted(topic for topic in avro.confluent_topics if not topic_folder(topic).is_dir())
    if unknown:
        raise ValueError(f"ATTAIN_AVRO_CONFLUENT_TOPICS names {', '.join(unknown)}, which have no contract in "
                         f"{schemas_dir()} (a topic with Avro values, e.g. payouts or earnings)")
    return avro, registry


@cache
def _client(config_json: str) -> Any:
    from confluent_kafka.schema_registry import SchemaRegistryClient

    return SchemaRegistryClient(json.loads(config_json))


def registry_client(registry: SchemaRegistrySettings) -> Any:
    """One ``SchemaRegistryClient`` per registry configuration (it caches schemas by id)."""
    return _client(json.dumps(client_config(registry), sort_keys=True))


def _registry_error(action: str, error: Exception) -> Exception:
    """SerdeError for "no such schema", RegistryUnavailable for everything else."""
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    if isinstance(error, SchemaRegistryError) and error.http_status_code == 404:
        return SerdeError(f"{action}: {error.error_message}")
    detail = error.error_message if isinstance(error, SchemaRegistryError) else f"{type(error).__name__}: {error}"
    return RegistryUnavailable(f"{action}: schema registry unavailable: {detail}")


@dataclass
class ConfluentFraming:
    """Confluent wire format for one topic: encode with ``AvroSerializer``, decode by schema id."""

    topic: str
    schema_json: str  # the newest schema as written in schemas/, registered as is
    reader: dict[str, Any]  # the newest schema, parsed
    client: Any
    _serializer: Any = None
    _writers: dict[int, dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def subject(self) -> str:
        return value_subject(self.topic)

    def _ready_serializer(self) -> Any:
        """The serializer, after the subject's compatibility is set (once per process)."""
        with self._lock:
            if self._serializer is None:
                from confluent_kafka.schema_registry.avro import AvroSerializer

                try:
                    self.client.set_compatibility(self.subject, COMPATIBILITY)
                except Exception as error:  # network, auth: nothing written yet, the caller retries
                    raise _registry_error(f"{self.topic}: setting {COMPATIBILITY} on {self.subject}", error) from error
                self._serializer = AvroSerializer(self.client, self.schema_json,
                                                  conf={"auto.register.schemas": True})
            return self._serializer

    def encode(self, record: dict[str, Any]) -> bytes:
        from confluent_kafka.schema_registry.error import SchemaRegistryError
        from confluent_kafka.serialization import MessageField, SerializationContext

        serializer = self._ready_serializer()
        try:
            data: bytes = serializer(record, SerializationContext(self.topic, MessageField.VALUE))
        except SchemaRegistryError as error:
            if error.http_status_code == 409:  # incompatible with the subject's BACKWARD rule
                raise SerdeError(f"{self.topic}: the registry refused schema of {self.subject}: "
                                 f"{error.error_message}") from error
            raise _registry_error(f"{self.topic}: registering {self.subject}", error) from error
        except (TypeError, ValueError) as error:
            raise SerdeError(f"{self.topic}: record does not match the contract: {error}") from error
        except Exception as error:  # the client's transport errors
            raise _registry_error(f"{self.topic}: registering {self.subject}", error) from error
        return data

    def writer_schema(self, schema_id: int) -> dict[str, Any]:
        known = self._writers.get(schema_id)
        if known is not None:
            return known
        try:
            registered = self.client.get_schema(schema_id)
        except Exception as error:
            raise _registry_error(f"{self.topic}: schema id {schema_id}", error) from error
        if (registered.schema_type or "AVRO") != "AVRO":
            raise SerdeError(f"{self.topic}: schema id {schema_id} is {registered.schema_type}, not Avro")
        try:
            parsed: Any = parse_schema(json.loads(registered.schema_str))
        except Exception as error:  # not JSON, or not a valid Avro schema
            raise SerdeError(f"{self.topic}: schema id {schema_id} is not a valid Avro schema: {error}") from error
        if not isinstance(parsed, dict):
            raise SerdeError(f"{self.topic}: schema id {schema_id} is not an Avro record schema")
        self._writers[schema_id] = parsed
        return parsed

    def decode(self, data: bytes) -> dict[str, Any]:
        if len(data) < CONFLUENT_HEADER_SIZE or data[0] != CONFLUENT_MAGIC:
            raise SerdeError(f"{self.topic}: not a Confluent Schema Registry message (bad magic byte)")
        schema_id = int.from_bytes(data[1:CONFLUENT_HEADER_SIZE], "big")
        writer = self.writer_schema(schema_id)
        try:
            record: Any = schemaless_reader(io.BytesIO(data[CONFLUENT_HEADER_SIZE:]), writer, self.reader)
        except Exception as error:  # fastavro raises many types on corrupt bodies or unresolvable schemas
            raise SerdeError(f"{self.topic}: corrupt Avro body (schema id {schema_id}): {error}") from error
        if not isinstance(record, dict):
            raise SerdeError(f"{self.topic}: schema id {schema_id} does not decode to a record")
        return record


def framing(topic: str, schema_json: str, reader: dict[str, Any]) -> tuple[ConfluentFraming | None, bool]:
    """The Confluent framing for ``topic`` (None without a registry) and whether producers write it."""
    avro, registry = settings()
    if not registry.url:
        return None, False
    codec = ConfluentFraming(topic, schema_json, reader, registry_client(registry))
    return codec, topic in avro.confluent_topics
