"""Webhook signatures: HMAC-SHA256 over the timestamp and the exact body (pure).

Header ``X-Attain-Signature: t=<unix seconds>,v1=<hex>`` where
``v1 = hex(HMAC-SHA256(secret, f"{t}." + body))``. Several ``v1=`` entries are allowed
(and several secrets configured) so a secret can be rotated without downtime; a
timestamp outside the tolerance is refused so a captured request cannot be replayed later.

>>> sign(b'{"a":1}', "k", 1_700_000_000)
't=1700000000,v1=1b6ad1bc9bf48c52ce01939866d5877c6cc4e87ddad27e16673cb8c4964394a3'
>>> verify(b'{"a":1}', sign(b'{"a":1}', "k", 1_700_000_000), ["k"], now=1_700_000_100)
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

HEADER = "X-Attain-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """Why a webhook request is not authentic; ``reason`` is a bounded metric label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def sign(body: bytes, secret: str, timestamp: int) -> str:
    return f"t={timestamp},v1={_digest(body, secret, timestamp)}"


def verify(body: bytes, header: str | None, secrets: Sequence[str], now: int,
           tolerance: int = DEFAULT_TOLERANCE_SECONDS) -> None:
    """Return if one signature matches one secret; raise SignatureError saying what is wrong."""
    if not header:
        raise SignatureError("missing", f"no {HEADER} header; sign the body (see docs/ingest.md)")
    timestamp, signatures = _parse(header)
    if abs(now - timestamp) > tolerance:
        raise SignatureError("stale", f"{HEADER} timestamp {timestamp} is more than {tolerance}s from now ({now})")
    for secret in secrets:
        expected = _digest(body, secret, timestamp)
        if any(hmac.compare_digest(expected, candidate) for candidate in signatures):
            return
    raise SignatureError("mismatch", f"{HEADER} does not match the body with any configured secret")


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            signatures.append(value.lower())
    if timestamp is None or not signatures:
        raise SignatureError("malformed", f"{HEADER} must look like t=<unix seconds>,v1=<hex hmac-sha256>")
    return timestamp, signatures


def _digest(body: bytes, secret: str, timestamp: int) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
