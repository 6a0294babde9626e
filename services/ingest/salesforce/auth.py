"""OAuth 2.0 access tokens for the Pub/Sub API: JWT bearer flow and client-credentials flow.

The token rides on every call as metadata (``accesstoken``, ``instanceurl``, ``tenantid``).
Salesforce tokens carry no expiry; a token is refreshed when it is older than the
configured age or when the API answers UNAUTHENTICATED. Tokens, keys and secrets are never
logged (``AccessToken``'s repr hides the token).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import jwt

from services.ingest import metrics

log = logging.getLogger("attain.ingest.salesforce")
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class AuthError(RuntimeError):
    """Salesforce refused to issue a token; the message has its error, never the secret."""


@dataclass(frozen=True)
class AccessToken:
    token: str = field(repr=False)
    instance_url: str
    tenant_id: str
    obtained_at: float

    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("accesstoken", self.token), ("instanceurl", self.instance_url), ("tenantid", self.tenant_id))


class TokenSource:
    """Hands out the current token and refreshes it once however many callers saw it fail."""

    def __init__(self, flow: str, login_url: str, client_id: str, *, username: str = "",
                 private_key: str | None = None, client_secret: str | None = None,
                 max_age_seconds: float = 3600.0, http: httpx.AsyncClient | None = None) -> None:
        if flow == "jwt" and not (client_id and username and private_key):
            raise AuthError("the JWT bearer flow needs client_id, username and a private key file")
        if flow == "client_credentials" and not (client_id and client_secret):
            raise AuthError("the client-credentials flow needs client_id and a client secret")
        self._flow = flow
        self._token_url = login_url.rstrip("/") + "/services/oauth2/token"
        self._audience = login_url.rstrip("/")
        self._client_id = client_id
        self._username = username
        self._private_key = private_key
        self._client_secret = client_secret
        self._max_age = max_age_seconds
        self._http = http or httpx.AsyncClient(timeout=30)
        self._current: AccessToken | None = None
        self._lock = asyncio.Lock()

    async def token(self) -> AccessToken:
        current = self._current
        if current is not None and time.monotonic() - current.obtained_at < self._max_age:
            return current
        return await self.refresh(current)

    async def refresh(self, stale: AccessToken | None) -> AccessToken:
        """A new token, unless another caller already replaced ``stale``."""
        async with self._lock:
            if self._current is not None and self._current is not stale:
                return self._current
            try:
                self._current = await self._request()
            except Exception:
                metrics.TOKEN_REFRESHES.labels(self._flow, "failed").inc()
                raise
            metrics.TOKEN_REFRESHES.labels(self._flow, "ok").inc()
            log.info("salesforce access token obtained",
                     extra={"flow": self._flow, "instance_url": self._current.instance_url})
            return self._current

    async def _request(self) -> AccessToken:
        if self._flow == "jwt":
            form = {"grant_type": JWT_GRANT, "assertion": self._assertion()}
        else:
            form = {"grant_type": "client_credentials", "client_id": self._client_id,
                    "client_secret": self._client_secret or ""}
        response = await self._http.post(self._token_url, data=form)
        body = _json_or_empty(response)
        if response.status_code != 200 or "access_token" not in body:
            raise AuthError(f"{self._token_url} answered {response.status_code}: "
                            f"{body.get('error', '?')}: {body.get('error_description', '')}")
        return AccessToken(body["access_token"], body["instance_url"], _org_id(body), time.monotonic())

    def _assertion(self) -> str:
        now = int(time.time())
        claims = {"iss": self._client_id, "sub": self._username, "aud": self._audience, "exp": now + 180}
        return jwt.encode(claims, self._private_key or "", algorithm="RS256")

    async def close(self) -> None:
        await self._http.aclose()


def _json_or_empty(response: httpx.Response) -> dict[str, str]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _org_id(body: dict[str, str]) -> str:
    """The org id from the identity URL ``.../id/<org id>/<user id>``."""
    parts = body.get("id", "").rstrip("/").split("/")
    return parts[-2] if len(parts) >= 2 else ""


def read_private_key(path: Path | None) -> str | None:
    return path.read_text() if path is not None else None
