"""Bearer tokens (JWT, HS256) -> :class:`~attain.ledger.access.Principal`.

Claims: ``sub`` (user id = rep id for reps), ``roles`` (list), ``regions`` (list, admins), ``aud``, ``exp``.
"""

from __future__ import annotations

import time

import jwt

from attain.ledger.access import Principal


class AuthError(Exception):
    """No usable bearer token; the message says why (never echoes the token)."""


def principal_from_header(header: str | None, secret: str | None, audience: str) -> Principal:
    if secret is None:
        raise AuthError("the ledger API has no ATTAIN_LEDGER_JWT_SECRET configured")
    if not header or not header.startswith("Bearer "):
        raise AuthError("send Authorization: Bearer <token>")
    try:
        claims = jwt.decode(header[7:], secret, algorithms=["HS256"], audience=audience,
                            options={"require": ["sub", "exp", "aud"]})
    except jwt.PyJWTError as error:
        raise AuthError(f"invalid token: {error}") from None
    return Principal(str(claims["sub"]), frozenset(claims.get("roles", [])), frozenset(claims.get("regions", [])))


def issue_token(secret: str, audience: str, user_id: str, roles: list[str], regions: list[str] | None = None,
                lifetime_seconds: int = 3600) -> str:
    """A token for tests, the demo and scripts; production tokens come from the customer's IdP."""
    now = int(time.time())
    claims = {"sub": user_id, "roles": roles, "regions": regions or [], "aud": audience, "iat": now,
              "exp": now + lifetime_seconds}
    return jwt.encode(claims, secret, algorithm="HS256")
