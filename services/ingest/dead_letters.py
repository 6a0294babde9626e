"""Inspect and re-drive dead letters (``attain dlq list|show|replay``).

A dead letter keeps the original bytes, so replay runs them through the same validation and
normalisation again, after the fix (a mapping entry, a corrected sender). The re-driven
records carry their original event ids, so replaying twice adds nothing downstream; one
that fails again lands on the DLQ again with the new reason. Salesforce payloads (Avro)
are decoded again with their schema, fetched from Salesforce (``salesforce/redrive.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from attain.contracts.crm_changes import UNPARSEABLE, parse_json
from attain.contracts.dead_letters import DeadLetter, ErrorCode
from attain.platform.avro import SerdeError, contract
from attain.platform.reading import read_until_idle
from attain.platform.settings import KafkaSettings
from services.ingest.backfill import csv_rows


@dataclass(frozen=True)
class StoredLetter:
    """A dead letter as read back from its topic, at its position there."""

    partition: int
    offset: int
    letter: DeadLetter

    @property
    def position(self) -> str:
        return f"{self.partition}:{self.offset}"


def read_dead_letters(kafka: KafkaSettings | str, topic: str, idle_seconds: float = 1.5,
                      start: Mapping[int, int] | None = None) -> Iterator[StoredLetter]:
    """Every dead letter on ``topic`` from the beginning (or each partition from its offset in ``start``, as
    :func:`~attain.platform.reading.read_until_idle`), without committing anything; a message that is not
    one is shown as a dead letter of its own (``unreadable_envelope``, its bytes as the original)."""
    for message in read_until_idle(kafka, topic, idle_seconds=idle_seconds, timeout=120, group="attain-dlq-cli",
                                   start=start):
        value, partition, offset = message.value() or b"", message.partition(), message.offset()
        assert partition is not None and offset is not None  # set on every consumed message
        try:
            letter = DeadLetter.from_avro(contract(topic).decode(value))
        except SerdeError as error:
            letter = DeadLetter(original=value, reason=f"not a DLQ envelope: {error}",
                                error_code=ErrorCode.UNREADABLE_ENVELOPE.value, source="", service="", rejected_at=0)
        yield StoredLetter(partition, offset, letter)


def select(letters: Iterable[StoredLetter], *, error_code: str | None = None, source_prefix: str | None = None,
           positions: Iterable[str] = ()) -> list[StoredLetter]:
    wanted = set(positions)
    return [
        letter for letter in letters
        if (not wanted or letter.position in wanted)
        and (error_code is None or letter.letter.error_code == error_code)
        and (source_prefix is None or letter.letter.source.startswith(source_prefix))
    ]


def replayable_item(stored: StoredLetter) -> Any:
    """The canonical item the original bytes stand for; raises ValueError saying why not."""
    source, original = stored.letter.source, stored.letter.original
    if source.startswith("salesforce:"):
        raise ValueError("a Salesforce Avro payload: re-driven with its schema by services.ingest.salesforce.redrive")
    if ".csv:" in source:
        rows = list(csv_rows(original.decode()))
        if len(rows) != 1:
            raise ValueError("the original is not one CSV row under its header")
        return rows[0].item
    try:
        return parse_json(original)
    except ValueError:
        return {UNPARSEABLE: "the original is still not JSON"}


def printable(original: bytes, limit: int = 4000) -> str:
    try:
        text = original.decode()
    except UnicodeDecodeError:
        return "hex:" + original[:limit].hex()
    return text[:limit]
