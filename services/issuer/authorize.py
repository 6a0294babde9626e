"""The issuer's authorization endpoint: a sign-in page and one-time codes for the authorization-code flow.

A public client (the portal) sends the person here with ``response_type=code``, its ``client_id``, a
``redirect_uri`` registered for it (``ATTAIN_ISSUER_REDIRECT_URIS``, compared exactly), ``state`` and a PKCE
``code_challenge`` (S256 only). The person types their password into this page, never into the client; on
success the browser is sent back with a code that is valid once, for ``authorization_code_seconds``, to the
same client and redirect URI, and only with the ``code_verifier`` whose SHA-256 is the challenge (RFC 7636).
A bad client or redirect URI is answered here (400), never by redirecting to an address nobody registered.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

PARAMETERS = ("client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method")


@dataclass(frozen=True)
class Grant:
    """What a code stands for until it is exchanged."""

    client_id: str
    redirect_uri: str
    challenge: str
    user_id: str
    expires: float


class Codes:
    """One-time authorization codes, kept in memory (a restarted issuer forgets them: sign in again)."""

    def __init__(self, lifetime: float) -> None:
        self._lifetime = lifetime
        self._grants: dict[str, Grant] = {}

    def issue(self, client_id: str, redirect_uri: str, challenge: str, user_id: str) -> str:
        now = time.monotonic()
        self._grants = {code: grant for code, grant in self._grants.items() if grant.expires > now}
        code = secrets.token_urlsafe(32)
        self._grants[code] = Grant(client_id, redirect_uri, challenge, user_id, now + self._lifetime)
        return code

    def redeem(self, code: str, client_id: str, redirect_uri: str, verifier: str) -> str:
        """The user id the code was issued to; ValueError (why) for anything else. A code is used once."""
        grant = self._grants.pop(code, None)
        if grant is None or grant.expires < time.monotonic():
            raise ValueError("unknown, used or expired code")
        if grant.client_id != client_id or grant.redirect_uri != redirect_uri:
            raise ValueError("the code was issued to another client or redirect_uri")
        if not hmac.compare_digest(s256(verifier), grant.challenge):
            raise ValueError("code_verifier does not match the code_challenge")
        return grant.user_id


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of a verifier: base64url(SHA-256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def check_request(params: Any, redirect_uris: dict[str, list[str]]) -> str | None:
    """Why an authorization request is refused, or None."""
    client_id, redirect_uri = params.get("client_id", ""), params.get("redirect_uri", "")
    if redirect_uri not in redirect_uris.get(client_id, []):
        return "unknown client_id or a redirect_uri not registered for it"
    if params.get("response_type", "code") != "code":
        return "response_type must be code"
    if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
        return "a PKCE code_challenge with code_challenge_method=S256 is required"
    return None


def redirect_with(params: Any, **answer: str) -> web.HTTPFound:
    """Back to the client's redirect URI with ``answer`` and the client's ``state``."""
    query = urlencode({**answer, "state": params.get("state", "")})
    separator = "&" if "?" in params["redirect_uri"] else "?"
    return web.HTTPFound(f"{params['redirect_uri']}{separator}{query}", headers={"Cache-Control": "no-store"})


def sign_in_page(params: Any, message: str = "", status: int = 200) -> web.Response:
    """The sign-in form; the request's parameters ride along as hidden fields."""
    hidden = "".join(f'<input type="hidden" name="{name}" value="{html.escape(params.get(name, ""))}">'
                     for name in PARAMETERS)
    user = html.escape(params.get("username") or params.get("login_hint") or "")
    alert = f'<p role="alert">{html.escape(message)}</p>' if message else ""
    body = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Sign in to Attain</title>
<style>body{{font-family:system-ui,sans-serif;max-width:24rem;margin:2rem auto;padding:0 1rem;color:#111}}
label,input,button{{display:block;width:100%;font-size:1rem;margin:.3rem 0}}input,button{{padding:.6rem}}
button{{background:#0b5394;color:#fff;border:0;border-radius:.3rem}}[role=alert]{{color:#a00000}}</style></head>
<body><main><h1>Sign in to Attain</h1>{alert}<form method="post" action="authorize">{hidden}
<label for="username">User</label><input id="username" name="username" autocomplete="username" value="{user}" required>
<label for="password">Password</label><input id="password" name="password" type="password"
 autocomplete="current-password" required><button type="submit">Sign in</button></form></main></body></html>"""
    return web.Response(text=body, content_type="text/html", status=status,
                        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                                 "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                                            "frame-ancestors 'none'"})
