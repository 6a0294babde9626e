"""Calling ingest as a machine: a client-credentials token, then ``POST`` to its doors.

Used by ``attain ingest backfill``, ``attain dlq replay`` and ``attain run``. The token comes
ready-made (``--token`` / ``ATTAIN_TOKEN``) or is fetched from the issuer's token endpoint (named
by its OpenID discovery document) with a client id and a secret read from a file, so the secret
never sits on a command line.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8081"


class CredentialError(Exception):
    """No usable credentials for ingest: the message says what to pass."""


def fetch_client_token(issuer: str, client_id: str, secret: str, timeout: float = 10) -> str:
    """An access token by the client-credentials grant at ``issuer``'s token endpoint."""
    try:
        discovery = httpx.get(issuer.rstrip("/") + "/.well-known/openid-configuration", timeout=timeout)
        discovery.raise_for_status()
        answer = httpx.post(str(discovery.json()["token_endpoint"]), data={"grant_type": "client_credentials"},
                            auth=(client_id, secret), timeout=timeout)
    except (httpx.HTTPError, KeyError, ValueError) as error:
        raise CredentialError(f"could not reach the issuer {issuer}: {error}") from None
    if answer.status_code != 200:
        raise CredentialError(f"the issuer {issuer} refused client {client_id!r}: {answer.status_code} "
                              f"{answer.text[:200]}")
    return str(answer.json()["access_token"])


def resolve_token(token: str | None, client_id: str | None, secret_file: Path | None, issuer: str | None) -> str:
    if token:
        return token.strip()
    if client_id:
        if secret_file is None or issuer is None:
            raise CredentialError("--client-id needs --client-secret-file and --issuer (or ATTAIN_AUTH_ISSUER)")
        try:
            secret = secret_file.read_text().strip()
        except OSError as error:
            raise CredentialError(f"cannot read the client secret: {error}") from None
        return fetch_client_token(issuer, client_id, secret)
    raise CredentialError("ingest needs a client-credentials token: pass --token (or set ATTAIN_TOKEN), "
                          "or --client-id with --client-secret-file and --issuer (or ATTAIN_AUTH_ISSUER)")


def exact_json(value: Any) -> bytes:
    """``value`` as JSON with every finite Decimal written as the number it is (``100.10`` stays
    ``100.10``: ingest reads numbers back as exact decimals), not as a float or as text."""
    nonce = uuid.uuid4().hex  # a marker no input text can guess

    def mark(item: Any) -> Any:
        if isinstance(item, Decimal) and item.is_finite():
            return f"{nonce}:{item}"
        if isinstance(item, dict):
            return {key: mark(inner) for key, inner in item.items()}
        if isinstance(item, list | tuple):
            return [mark(inner) for inner in item]
        return item

    text = json.dumps(mark(value), default=str, separators=(",", ":"))
    return re.sub(f'"{nonce}:([^"]*)"', lambda number: number.group(1), text).encode()


@dataclass
class IngestClient:
    url: str
    token: str
    timeout: float = 120
    max_waits: int = 5  # 429 answers waited out (Retry-After) before giving up

    def post(self, path: str, body: Any) -> httpx.Response:
        """POST ``body`` as JSON; a 429 (nothing was published) is retried after its Retry-After."""
        with httpx.Client(timeout=self.timeout) as client:
            for _ in range(self.max_waits):
                response = client.post(f"{self.url.rstrip('/')}{path}", content=exact_json(body),
                                       headers={"Authorization": f"Bearer {self.token}",
                                                "Content-Type": "application/json"})
                if response.status_code != 429:
                    return response
                time.sleep(min(60, float(response.headers.get("Retry-After", "1"))))
            return response


class ReplayRefused(Exception):
    """Ingest answered a replay request with something else than 200: its status and reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def request_replay(url: str, token: str, topic: str, positions: list[str]) -> dict[str, Any]:
    """Ask ingest to re-drive the dead letters at ``positions`` of ``topic`` (``POST /v1/dlq/replay``): its answer
    (``replayed``, ``rejected``, ``skipped``, per-letter ``results``), or :class:`ReplayRefused`. The one replay
    call of ``attain dlq replay`` and the portal's period-close board; ``httpx.HTTPError`` when ingest is not
    reachable."""
    response = IngestClient(url, token).post("/v1/dlq/replay", {"topic": topic, "positions": positions})
    if response.status_code != 200:
        raise ReplayRefused(response.status_code, response.text[:500])
    outcome: dict[str, Any] = response.json()
    return outcome


def default_url() -> str:
    return os.environ.get("ATTAIN_INGEST_URL", DEFAULT_URL)
