"""The dead-letter contract (topics ``*.dlq``, schemas/dlq): :class:`DeadLetter` and every :class:`ErrorCode`."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from attain.contracts.wire import to_millis


class ErrorCode(StrEnum):
    """Why a record was dead-lettered: the ``error_code`` of every dead letter any service writes.

    The values are the wire text (unchanged), so operators' filters (``attain dlq list --error-code``)
    keep working. The core names the refusals of a change it cannot credit with the same text
    (``CreditingError.code``); a unit test holds the two together.
    """

    # ingest
    INVALID_JSON = "invalid_json"  # a body or line that is not JSON
    VALIDATION_ERROR = "validation_error"  # a canonical event the contract refuses (names the field)
    UNKNOWN_SCHEMA = "unknown_schema"  # a Salesforce event whose schema Salesforce does not give
    UNKNOWN_OBJECT_TYPE = "unknown_object_type"  # a Salesforce object no mapping names
    UNEXPECTED_EVENT_SHAPE = "unexpected_event_shape"  # a Salesforce event no reader expected
    # any reader of a topic
    UNDECODABLE = "undecodable"  # bytes that are not a message of the topic's contract
    UNREADABLE_ENVELOPE = "unreadable_envelope"  # a DLQ message that is not a dead letter (``attain dlq``)
    # calculator: the core's refusals of one change, and a rep whose update failed
    UNCREDITABLE = "uncreditable"
    OUT_OF_BOUNDS = "out_of_bounds"
    NEGATIVE_AMOUNT = "negative_amount"
    ERROR = "error"  # an unexpected error crediting one change
    REP_UPDATE_FAILED = "rep_update_failed"
    # ledger
    INVALID_SNAPSHOT = "invalid_snapshot"  # a snapshot whose money cannot be booked
    REJECTED = "rejected"  # the ledger database refused the snapshot's values
    # notifier: a notification no retry could deliver (the channel named in the source)
    DELIVERY_FAILED = "delivery_failed"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record some service rejected, with why (schemas/dlq/v1.avsc).

    ``error_code`` is text on the wire; a service writes an :class:`ErrorCode`, a reader may meet any text.
    """

    original: bytes
    reason: str
    error_code: str
    source: str
    service: str
    rejected_at: int  # epoch milliseconds

    @classmethod
    def now(cls, *, original: bytes, reason: str, error_code: ErrorCode, source: str, service: str) -> DeadLetter:
        """A dead letter rejected now; a reason text UTF-8 cannot carry (a lone surrogate) stays readable."""
        return cls(original, reason.encode("utf-8", "backslashreplace").decode(), str(error_code), source, service,
                   int(time.time() * 1000))

    def to_avro(self) -> dict[str, Any]:
        return {"original": self.original, "reason": self.reason, "error_code": self.error_code,
                "source": self.source, "service": self.service, "rejected_at": self.rejected_at}

    @classmethod
    def from_avro(cls, record: Mapping[str, Any]) -> DeadLetter:
        return cls(bytes(record["original"]), record["reason"], record["error_code"], record["source"],
                   record["service"], to_millis(record["rejected_at"]))


class Refused(ValueError):
    """A record that decodes but that its reader refuses; ``code`` says why (it is dead-lettered with it)."""

    def __init__(self, reason: str, code: ErrorCode) -> None:
        super().__init__(reason)
        self.code = code


def topic_source(topic: str | None, partition: int | None, offset: int | None) -> str:
    """The ``source`` of a dead letter of a consumed message: ``topic:<name>/<partition>/<offset>``."""
    return f"topic:{topic}/{partition}/{offset}"
