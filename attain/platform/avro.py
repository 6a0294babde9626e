"""Avro contracts from ``schemas/`` and their serde.

Every topic value is Avro. Each topic has a folder ``schemas/<topic>/`` of
versions ``v1.avsc``, ``v2.avsc``...; producers write the newest, consumers read
any version (writer schema found by fingerprint, resolved to the newest reader).

Framing is Avro *single-object encoding* (marker ``C3 01`` + the writer
schema's 8-byte CRC-64-AVRO fingerprint, little-endian + the body), so a
message names its own schema without a registry. The full spec:
https://avro.apache.org/docs/1.11.1/specification/#single-object-encoding

Messages written before 2026-12 carry the fingerprint's bytes in the reverse
(big-endian) order, which the Apache Avro Java library cannot read. Readers
still accept that legacy framing (each schema is registered under both byte
orders; a CRC-64 whose reversed bytes equal another schema's fingerprint is
checked for at load time), so data already on a topic stays readable, while
every producer writes the standard one.

A topic may instead be written in the Confluent Schema Registry wire format
(``ATTAIN_AVRO_CONFLUENT_TOPICS``; see ``attain.platform.registry``). Readers
tell the framings apart by the first byte (``0x00`` Confluent, ``0xC3``
single-object) on every topic, so a topic can switch without breaking consumers.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint, to_parsing_canonical_form

from attain.platform.registry import ConfluentFraming, framing
from attain.platform.schemas import SerdeError, topic_folder

MARKER = b"\xc3\x01"
HEADER_SIZE = 10


def schema_fingerprint(parsed: dict[str, Any]) -> bytes:
    """The CRC-64-AVRO fingerprint of a parsed schema, little-endian as framed.

    fastavro's hex digest already lists the bytes little-endian (as Java's
    ``SchemaNormalization.parsingFingerprint("CRC-64-AVRO", ...)`` does).
    """
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))


def legacy_fingerprint(parsed: dict[str, Any]) -> bytes:
    """The fingerprint as Attain framed it before 2026-12: the same eight bytes, reversed."""
    return schema_fingerprint(parsed)[::-1]


@dataclass(frozen=True)
class Contract:
    """All versions of one topic's value schema."""

    topic: str
    versions: tuple[dict[str, Any], ...]  # parsed, oldest first
    by_fingerprint: dict[bytes, dict[str, Any]]
    # Confluent wire format: decodes 0x00-framed messages when a registry is configured,
    # and encodes when the topic is one of ATTAIN_AVRO_CONFLUENT_TOPICS.
    confluent: ConfluentFraming | None = None
    writes_confluent: bool = False

    @property
    def latest(self) -> dict[str, Any]:
        return self.versions[-1]

    @cached_property
    def header(self) -> bytes:
        """Marker and newest version's fingerprint, computed once: the fingerprint is
        a pure-Python CRC over the canonical schema and cost ~0.3 ms a message."""
        return MARKER + schema_fingerprint(self.latest)

    def encode(self, record: dict[str, Any]) -> bytes:
        if self.writes_confluent and self.confluent is not None:
            return self.confluent.encode(record)
        return self.encode_single_object(record)

    def encode_single_object(self, record: dict[str, Any]) -> bytes:
        buffer = io.BytesIO()
        buffer.write(self.header)
        schemaless_writer(buffer, self.latest, record)
        return buffer.getvalue()

    def decode(self, data: bytes) -> dict[str, Any]:
        if data[:1] == b"\x00":
            if self.confluent is None:
                raise SerdeError(f"{self.topic}: a Confluent Schema Registry message (magic byte 0) "
                                 "but no ATTAIN_SCHEMA_REGISTRY_URL is set to resolve its schema id")
            return self.confluent.decode(data)
        if len(data) < HEADER_SIZE or data[:2] != MARKER:
            raise SerdeError(f"{self.topic}: not an Avro single-object message (bad marker)")
        writer = self.by_fingerprint.get(bytes(data[2:HEADER_SIZE]))
        if writer is None:
            raise SerdeError(
                f"{self.topic}: unknown writer schema fingerprint {bytes(data[2:10]).hex()}"
            )
        try:
            record: dict[str, Any] = schemaless_reader(
                io.BytesIO(data[HEADER_SIZE:]), writer, self.latest
            )
        except Exception as error:  # fastavro raises many types on corrupt bodies
            raise SerdeError(f"{self.topic}: corrupt Avro body: {error}") from error
        return record


def load_schema_file(path: Path) -> dict[str, Any]:
    parsed: dict[str, Any] = parse_schema(json.loads(path.read_text()))
    return parsed


def version_files(topic_dir: Path) -> list[Path]:
    """``v1.avsc``, ``v2.avsc``... in version order."""
    return sorted(topic_dir.glob("v*.avsc"), key=lambda p: int(p.stem[1:]))


@cache
def contract(topic: str) -> Contract:
    """The contract for ``topic`` (``*.dlq`` topics share the ``dlq`` contract)."""
    files = version_files(topic_folder(topic))
    if not files:
        raise SerdeError(f"no schema for topic {topic!r} in {topic_folder(topic)}")
    versions = tuple(load_schema_file(path) for path in files)
    by_fingerprint = {legacy_fingerprint(v): v for v in versions}
    standard = {schema_fingerprint(v): v for v in versions}
    clash = by_fingerprint.keys() & standard.keys()
    if any(by_fingerprint[key] is not standard[key] for key in clash):
        raise SerdeError(f"{topic}: a legacy fingerprint equals another version's fingerprint")
    by_fingerprint.update(standard)
    latest_json = json.dumps(json.loads(files[-1].read_text()))
    confluent, writes_confluent = framing(topic, latest_json, versions[-1])
    return Contract(topic, versions, by_fingerprint, confluent, writes_confluent)
