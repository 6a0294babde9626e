"""Sign-in as an OpenID Connect client (authorization code + PKCE, by Authlib), sessions and CSRF.

The portal never sees a password: ``/login`` sends the browser to the issuer's authorization endpoint with a
PKCE challenge and a ``state`` bound to a short-lived cookie; ``/auth/callback`` checks the state against that
cookie, exchanges the code (with the verifier) for the person's token, verifies the token like every other
service (attain/platform/identity.py) and opens a server-side session, stored in the portal's database
(services/portal/sessions.py) so that it survives restarts and works on every replica. The session cookie holds
only a random id (HttpOnly, SameSite=Lax, Secure when the portal is served over https). Every form post carries the
session's CSRF token (a hidden field, or the ``X-CSRF-Token`` header for htmx) and, when the browser sends an
``Origin``, the portal's own; anything else is refused with 403. Pages are served compressed, so the token is
never written as it is: each rendering gets a fresh random mask (``Session.csrf``), which keeps a secret in a
compressed page from being guessed byte by byte through the compressed size (BREACH).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlparse

import httpx
import jwt
from aiohttp import web
from authlib.integrations.httpx_client import AsyncOAuth2Client

from attain.platform.identity import AuthError, TokenVerifier
from services.portal.sessions import LOGIN_SECONDS, SESSION_COOKIE, Session, Sessions

LOGIN_COOKIE = "attain_portal_login"
__all__ = ["LOGIN_COOKIE", "LOGIN_SECONDS", "SESSION_COOKIE", "OidcClient", "Session", "Sessions", "cookie_options",
           "csrf_refusal", "open_session"]


class OidcClient:
    """The issuer's endpoints (from its discovery document) and the code exchange."""

    def __init__(self, issuer: str, client_id: str, redirect_uri: str, browser_issuer: str | None) -> None:
        self._issuer = issuer.rstrip("/")
        self._browser_issuer = (browser_issuer or issuer).rstrip("/")
        self._client_id = client_id
        self.redirect_uri = redirect_uri
        self._discovery: dict[str, Any] | None = None

    async def discovery(self) -> dict[str, Any]:
        if self._discovery is None:
            async with httpx.AsyncClient(timeout=5) as client:
                response = await client.get(f"{self._issuer}/.well-known/openid-configuration")
                response.raise_for_status()
                self._discovery = response.json()
        return self._discovery

    def _client(self) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(client_id=self._client_id, redirect_uri=self.redirect_uri,
                                 code_challenge_method="S256", token_endpoint_auth_method="none", timeout=10)

    async def authorization_url(self, state: str, verifier: str, login_hint: str | None) -> str:
        endpoint = str((await self.discovery())["authorization_endpoint"])
        if self._browser_issuer != self._issuer and endpoint.startswith(self._issuer):
            endpoint = self._browser_issuer + endpoint[len(self._issuer):]
        extra = {"login_hint": login_hint} if login_hint else {}
        async with self._client() as client:
            url, _ = client.create_authorization_url(endpoint, state=state, code_verifier=verifier, **extra)
        return str(url)

    async def exchange(self, code: str, verifier: str) -> str:
        """The access token for a code; raises on any refusal."""
        endpoint = str((await self.discovery())["token_endpoint"])
        async with self._client() as client:
            token = await client.fetch_token(endpoint, grant_type="authorization_code", code=code,
                                             code_verifier=verifier)
        return str(token["access_token"])


def cookie_options(secure: bool, max_age: int) -> dict[str, Any]:
    return {"httponly": True, "samesite": "Lax", "secure": secure, "path": "/", "max_age": max_age}


def token_expiry(token: str) -> float:
    """The ``exp`` claim of a token the verifier has just accepted (it requires one), read without checking again."""
    return float(jwt.decode(token, options={"verify_signature": False})["exp"])


async def open_session(sessions: Sessions, verifier: TokenVerifier, token: str, lifetime: int) -> tuple[str, Session]:
    """A session for a token the portal verified (AuthError for any token it would not accept).

    It ends with the token if that comes first: a session acts only with the token, so one outliving it would be a
    signed-in page whose every ledger call fails.
    """
    identity = await asyncio.to_thread(verifier.verify, token)
    if not identity.roles:
        raise AuthError("a machine token cannot sign in to the portal")
    session = Session(identity, token, min(time.time() + lifetime, token_expiry(token)))
    return await asyncio.to_thread(sessions.open, session), session


def csrf_refusal(request: web.Request, session: Session, form: Any, base_url: str) -> str | None:
    """Why a state-changing request is refused (None: it carries this session's CSRF token from our origin)."""
    origin = request.headers.get("Origin")
    ours = urlparse(base_url)
    if origin is not None and origin != f"{ours.scheme}://{ours.netloc}":
        return "the request comes from another origin"
    sent = str(form.get("csrf") or request.headers.get("X-CSRF-Token") or "")
    if not sent or not session.csrf_matches(sent):
        return "missing or wrong CSRF token: reload the page and try again"
    return None
