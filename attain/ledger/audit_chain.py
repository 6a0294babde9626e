"""The audit log's hash chain: each record's hash covers its content and the previous hash.

``record_hash = SHA-256(previous_hash || canonical JSON of the record)``; the first
record chains to :data:`GENESIS`. Editing, deleting or reordering any record
breaks every hash after it, which :func:`verify_chain` reports.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

GENESIS = "0" * 64


def canonical(record: Mapping[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8, decimals as text: one byte string per record.

    >>> canonical({"b": 1, "a": Decimal("1.50")})
    b'{"a":"1.50","b":1}'
    """
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_text).encode()


def _text(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    raise TypeError(f"{type(value).__name__} is not allowed in an audit record")


def chain_hash(previous_hash: str, record: Mapping[str, Any]) -> str:
    """The hash of ``record`` chained to ``previous_hash`` (hex).

    >>> chain_hash(GENESIS, {"a": 1})[:12]
    'fc6cee09194d'
    """
    return hashlib.sha256(previous_hash.encode() + canonical(record)).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    sequence: int
    reason: str


def verify_chain(rows: Iterable[tuple[int, Mapping[str, Any], str, str]]) -> list[ChainBreak]:
    """Check ``(sequence, record, previous_hash, record_hash)`` rows in sequence order.

    Returns every break found (empty when the chain is intact).
    """
    breaks: list[ChainBreak] = []
    expected_previous = GENESIS
    expected_sequence: int | None = None
    for sequence, record, previous_hash, record_hash in rows:
        if expected_sequence is not None and sequence != expected_sequence:
            breaks.append(ChainBreak(sequence, f"sequence jumps from {expected_sequence - 1}: a record is missing"))
        if previous_hash != expected_previous:
            breaks.append(ChainBreak(sequence, "previous_hash does not match the record before it"))
        if chain_hash(previous_hash, record) != record_hash:
            breaks.append(ChainBreak(sequence, "record_hash does not match its content: the record was edited"))
        expected_previous, expected_sequence = record_hash, sequence + 1
    return breaks
