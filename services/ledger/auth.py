"""Who is calling the ledger, and how often: OpenID Connect bearer tokens -> Principal, a rate limit per credential.

Tokens are verified by :class:`attain.platform.identity.TokenVerifier` (``ATTAIN_AUTH_*``: the issuer's
discovery and JWKS, RS256/ES256, issuer, audience, expiry; HS256 only with the dev-only
``ATTAIN_AUTH_DEV_HS256_SECRET``). The HTTP and gRPC APIs share one :class:`LedgerGuard`.
The rate limit (``ATTAIN_LEDGER_RATE_LIMIT``, e.g. ``300/minute``) counts per token subject with the
``limits`` library's moving window, in memory (one ledger process; each replica counts its own callers).
"""

from __future__ import annotations

import asyncio
import math
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from attain.ledger.access import Principal
from attain.platform.identity import AuthError, AuthSettings, Identity, TokenVerifier
from services.ledger.config import LedgerSettings

__all__ = ["AuthError", "LedgerGuard", "NotAPerson", "principal_of"]


class NotAPerson(Exception):
    """A valid token without a person's role (a machine client): the ledger serves people only (403)."""


def principal_of(identity: Identity) -> Principal:
    return Principal(identity.subject, identity.roles, identity.regions)


class LedgerGuard:
    """Authenticates a bearer header and counts the caller's requests against the rate limit."""

    def __init__(self, settings: LedgerSettings, verifier: TokenVerifier | None = None,
                 auth: AuthSettings | None = None) -> None:
        self._refusal = ""
        if verifier is None:
            try:
                verifier = TokenVerifier(auth or AuthSettings())
            except AuthError as error:  # no identity provider configured: every call is refused with 401
                self._refusal = str(error)
        self._verifier = verifier
        self._limit: RateLimitItem | None = parse(settings.rate_limit) if settings.rate_limit else None
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def principal(self, header: str | None) -> Principal:
        """The caller behind an ``Authorization`` header value.

        :class:`AuthError` (401) without valid credentials; :class:`NotAPerson` (403) for a machine token.
        """
        if self._verifier is None:
            raise AuthError(self._refusal)
        identity = await asyncio.to_thread(self._verifier.verify_header, header)  # a JWKS fetch blocks
        if not identity.roles:
            raise NotAPerson(f"{identity.subject} holds no role: the ledger serves people (rep, manager, admins)")
        return principal_of(identity)

    def retry_after(self, principal: Principal) -> int | None:
        """None when the caller may go on; else the seconds until its window has room again."""
        if self._limit is None or self._limiter.hit(self._limit, "ledger", principal.user_id):
            return None
        reset = self._limiter.get_window_stats(self._limit, "ledger", principal.user_id).reset_time
        return max(1, math.ceil(reset - time.time()))
