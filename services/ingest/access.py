"""Who may post to ingest, and how often.

Machine callers (``POST /v1/events``, ``/v1/backfill``, ``/v1/dlq/replay``) send a
client-credentials bearer token from the identity provider, verified by the shared
:class:`attain.platform.identity.TokenVerifier`; each door names the scope it needs. The
signed webhook keeps its HMAC signature instead. Every door is rate-limited: per token
subject, and per remote address for the webhook (whose senders have no token), with a
moving window from the ``limits`` library; over the limit the answer is 429 with
``Retry-After``.
"""

from __future__ import annotations

import asyncio
import math
import time

from aiohttp import web
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from attain.platform.identity import AuthError, Identity, TokenVerifier
from services.ingest import metrics

# Who may re-drive dead letters with their own token besides a dlq:replay client: comp admins (and admins) of
# every region, from the portal's period-close board (a dead letter is not placed in a region before it parses),
# with a token issued to the portal (see Door).
REPLAYING_PEOPLE = frozenset({"comp_admin", "admin"})


class RateLimit:
    """At most ``rate`` requests (``"100/second"``, ``"600/minute"``; empty = unlimited) per key."""

    def __init__(self, rate: str, kind: str) -> None:
        self._item: RateLimitItem | None = parse(rate) if rate.strip() else None
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._kind = kind

    async def check(self, key: str) -> web.Response | None:
        """None if ``key`` may go on, else the 429 answer to send."""
        if self._item is None or await self._limiter.hit(self._item, self._kind, key):
            return None
        stats = await self._limiter.get_window_stats(self._item, self._kind, key)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        metrics.RATE_LIMITED.labels(self._kind).inc()
        return web.json_response(
            {"error": f"rate limit of {self._item} per {self._kind} reached; retry in {retry_after}s"},
            status=429, headers={"Retry-After": str(retry_after)})


class Door:
    """Authenticates a request's bearer token, checks its scope, then its rate.

    ``portal_client``: the only client whose people's tokens a door open to ``people`` takes. The ingress serves
    ingest to the internet, so a person's token got any other way (another client of the identity provider, a
    password grant that names no client) must not open the replay door: only the portal's sign-in does."""

    def __init__(self, verifier: TokenVerifier | None, per_credential: RateLimit, portal_client: str) -> None:
        self._verifier = verifier
        self._rate = per_credential
        self._portal_client = portal_client

    async def admit(self, request: web.Request, scope: str, *, people: frozenset[str] = frozenset()
                    ) -> Identity | web.Response:
        """The caller, or the answer refusing it (401 no valid token, 403 wrong scope, 429 too often).

        ``people``: roles whose holders may also pass this door with their own token, when their regions are
        every region ("*") and the token was issued to the portal (its ``azp``): the replay door admits a comp
        admin at the portal (docs/security.md)."""
        if self._verifier is None:
            return web.json_response({"error": "no identity provider configured: set ATTAIN_AUTH_ISSUER"},
                                     status=503)
        try:
            # blocking only when the token names a key not seen yet (a JWKS fetch)
            identity = await asyncio.to_thread(self._verifier.verify_header, request.headers.get("Authorization"))
        except AuthError as error:
            metrics.AUTH_FAILURES.labels("unauthenticated").inc()
            return web.json_response({"error": str(error)}, status=401,
                                     headers={"WWW-Authenticate": 'Bearer realm="attain-ingest"'})
        person = bool(identity.roles & people) and "*" in identity.regions and identity.client == self._portal_client
        if not identity.has_scope(scope) and not person:
            metrics.AUTH_FAILURES.labels("forbidden").inc()
            return web.json_response({"error": f"{identity.subject} lacks the scope {scope!r}"}, status=403)
        refused = await self._rate.check(identity.subject)
        return refused if refused is not None else identity
