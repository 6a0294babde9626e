"""The one decode step of every topic reader: decode each message with its topic's contract, hand what cannot
be read to a reject callback (with its :class:`~attain.contracts.dead_letters.ErrorCode`), keep the rest.

Nothing is dropped silently: a reader's ``reject`` dead-letters the message (:class:`DeadLetterWriter`),
or, for a reader that is not the topic's owner of rejections (the notifier: the ledger dead-letters the same
snapshot), counts and logs it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from confluent_kafka import Consumer, Message

from attain.contracts.dead_letters import ErrorCode, Refused, topic_source
from attain.platform.avro import SerdeError, contract
from attain.platform.kafka import dead_letter

log = logging.getLogger("attain.consume")

T = TypeVar("T")
M = TypeVar("M")
Reject = Callable[[M, str, ErrorCode], None]


def decoder(topic: str, read: Callable[[Mapping[str, Any]], T],
            check: Callable[[T], None] | None = None) -> Callable[[bytes], T]:
    """Bytes -> the typed record of ``topic``: the contract's Avro decode, then ``read`` (e.g.
    ``EarningsSnapshot.from_avro``), then ``check`` (raises :class:`Refused` for a record the reader refuses).
    Raises ``SerdeError`` for bytes that are not a message of the contract."""
    codec = contract(topic)

    def decode(data: bytes) -> T:
        value = read(codec.decode(data))
        if check is not None:
            check(value)
        return value

    return decode


def decode_each(items: Iterable[M], value_of: Callable[[M], bytes], decode: Callable[[bytes], T],
                reject: Reject[M]) -> list[tuple[T, M]]:
    """(record, item) for each item that decodes; the others go to ``reject`` with why, in order."""
    decoded: list[tuple[T, M]] = []
    for item in items:
        try:
            value = decode(value_of(item))
        except SerdeError as error:
            reject(item, str(error), ErrorCode.UNDECODABLE)
        except Refused as error:
            reject(item, str(error), error.code)
        else:
            decoded.append((value, item))
    return decoded


def take(consumer: Consumer, most: int, timeout: float) -> list[Message]:
    """Up to ``most`` messages, waiting up to ``timeout`` for the first only, then taking what is already fetched.

    ``Consumer.consume(most, timeout)`` returns early only once it has ``most`` messages: below that rate it
    holds every batch for the whole ``timeout``, which a live feed pays on every message.
    """
    first: list[Message] = consumer.consume(1, timeout)
    return first + consumer.consume(most - 1, 0) if first and most > 1 else first


def decode_messages(messages: Iterable[Message], decode: Callable[[bytes], T],
                    reject: Reject[Message]) -> list[tuple[T, Message]]:
    """:func:`decode_each` over a confluent-kafka batch; a consumer error (no message) is logged and skipped."""
    readable = []
    for message in messages:
        if message.error():
            log.warning("consumer error", extra={"error": str(message.error())})
        else:
            readable.append(message)
    return decode_each(readable, lambda message: message.value() or b"", decode, reject)


class DeadLetterWriter:
    """A reject callback that writes each rejected message to ``dlq_topic`` as a dead letter of ``service``
    (key and bytes as received), after ``on_reject`` (metrics, a log line)."""

    def __init__(self, produce: Callable[[str, bytes | None, bytes], object], dlq_topic: str, service: str,
                 on_reject: Callable[[str, ErrorCode], None] | None = None) -> None:
        self._produce = produce
        self._topic = dlq_topic
        self._service = service
        self._on_reject = on_reject

    def write(self, key: bytes | None, original: bytes, reason: str, code: ErrorCode, source: str) -> None:
        if self._on_reject is not None:
            self._on_reject(reason, code)
        self._produce(self._topic, key, dead_letter(original=original, reason=reason, error_code=code,
                                                    source=source, service=self._service))

    def __call__(self, message: Message, reason: str, code: ErrorCode) -> None:
        """Reject a consumed message (the ``reject`` of :func:`decode_messages`)."""
        self.write(message.key(), message.value() or b"", reason, code,
                   topic_source(message.topic(), message.partition(), message.offset()))
