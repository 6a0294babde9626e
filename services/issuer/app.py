"""Issuer entrypoint: OpenID Connect discovery, JWKS and an OAuth 2.0 token endpoint, plus health and metrics.

Grants: ``password`` (people: the demo's sample users) and ``client_credentials``
(machines: ingest clients, replay tools). Tokens are JWTs signed ES256 with the
newest key in ``<data_dir>/keys``; the JWKS lists every key there, so rotating
(``attain issuer rotate``) needs no restart of the issuer or of any service.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections import defaultdict, deque
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import Counter

from attain.platform.http import add_operational_routes
from attain.platform.service import Running, run_service
from services.issuer.authorize import Codes, check_request, redirect_with, sign_in_page
from services.issuer.config import IssuerSettings
from services.issuer.directory import Directory, SigningKey, User, load_keys, mint_token, secret_matches

log = logging.getLogger("attain.issuer")
TOKENS = Counter("attain_issuer_tokens_total", "Tokens issued", ["grant"])
MISSING = "username and password are required"
FAILURES = Counter("attain_issuer_sign_in_failures_total", "Refused token requests", ["reason"])


class _Files:
    """The keys and directory, re-read when the files change (a rotation or a new user needs no restart)."""

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._stamp: tuple[Any, ...] = ()
        self.keys: list[SigningKey] = []
        self.directory = Directory({}, {})

    def refresh(self) -> None:
        paths = sorted((self._data_dir / "keys").glob("*.pem")) + [self._data_dir / "identities.json"]
        stamp = tuple((path.name, path.stat().st_mtime_ns) for path in paths if path.exists())
        if stamp != self._stamp:
            self.keys = load_keys(self._data_dir)
            self.directory = Directory.load(self._data_dir)
            self._stamp = stamp


class Lockout:
    """Locks a user out after repeated failed sign-ins within a window."""

    def __init__(self, failures: int, window: float, duration: float) -> None:
        self._limit, self._window, self._duration = failures, window, duration
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._locked_until: dict[str, float] = {}

    def locked_for(self, user: str, now: float) -> float:
        return max(0.0, self._locked_until.get(user, 0.0) - now)

    def failed(self, user: str, now: float) -> None:
        recent = self._failures[user]
        recent.append(now)
        while recent and recent[0] < now - self._window:
            recent.popleft()
        if len(recent) >= self._limit:
            self._locked_until[user] = now + self._duration
            recent.clear()

    def succeeded(self, user: str) -> None:
        self._failures.pop(user, None)


def _oauth_error(error: str, description: str, status: int = 400) -> web.Response:
    FAILURES.labels(error).inc()
    return web.json_response({"error": error, "error_description": description}, status=status,
                             headers={"Cache-Control": "no-store"})


def build_app(settings: IssuerSettings) -> web.Application:
    files = _Files(settings.data_dir)
    files.refresh()
    issuer = settings.public_url()
    lockout = Lockout(settings.lockout_failures, settings.lockout_window_seconds, settings.lockout_seconds)
    app = web.Application(client_max_size=64 * 1024)

    codes = Codes(settings.authorization_code_seconds)

    def sign(subject: str, claims: dict[str, Any]) -> str:
        return mint_token(settings.data_dir, issuer, settings.audience, subject,
                          settings.token_lifetime_seconds, **claims)

    async def discovery(_: web.Request) -> web.Response:
        return web.json_response({
            "issuer": issuer,
            "jwks_uri": f"{issuer}/jwks.json",
            "token_endpoint": f"{issuer}/token",
            "authorization_endpoint": f"{issuer}/authorize",
            "grant_types_supported": ["authorization_code", "password", "client_credentials"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "subject_types_supported": ["public"],
            "response_types_supported": ["code", "token"],
        })

    async def jwks(_: web.Request) -> web.Response:
        files.refresh()
        return web.json_response({"keys": [key.public_jwk() for key in files.keys]},
                                 headers={"Cache-Control": "max-age=60"})

    def client_credentials(request: web.Request, form: Any) -> tuple[str | None, str | None]:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None, None
            return client_id, secret
        return form.get("client_id"), form.get("client_secret")

    async def check_password(username: Any, password: Any) -> tuple[User | None, str]:
        """The user, or None and why: the password sign-in of the token endpoint and the sign-in page."""
        if not isinstance(username, str) or not isinstance(password, str) or not username:
            return None, MISSING
        now = time.monotonic()
        locked = lockout.locked_for(username, now)
        if locked:
            log.warning("sign-in refused: account locked", extra={"user_id": username})
            return None, f"too many failed sign-ins; try again in {int(locked) + 1} s"
        user = files.directory.users.get(username)
        matches = await asyncio.to_thread(secret_matches, password, user.password) if user else False
        if user is None or not matches:
            lockout.failed(username, now)
            log.warning("sign-in failed", extra={"user_id": username})
            return None, "unknown user or wrong password"
        lockout.succeeded(username)
        return user, ""

    def person_token(user: User, grant: str, client_id: str | None = None) -> str:
        """``client_id``: the client the sign-in was for, named in ``azp`` as Keycloak does. Only the
        authorization-code flow knows it (the code is bound to a client and its registered redirect URI); the
        password grant authenticates no client, so its tokens name none."""
        TOKENS.labels(grant).inc()
        client = {"azp": client_id} if client_id else {}
        return sign(user.user_id, {"roles": sorted(user.roles), "regions": sorted(user.regions), **client})

    async def authorize_page(request: web.Request) -> web.Response:
        refused = check_request(request.query, settings.redirect_uris)
        if refused:
            FAILURES.labels("invalid_authorization_request").inc()
            return web.Response(text=f"authorization request refused: {refused}", status=400)
        return sign_in_page(request.query)

    async def authorize_sign_in(request: web.Request) -> web.Response:
        form = await request.post()
        refused = check_request(form, settings.redirect_uris)
        if refused:
            FAILURES.labels("invalid_authorization_request").inc()
            return web.Response(text=f"authorization request refused: {refused}", status=400)
        files.refresh()
        user, why = await check_password(form.get("username"), form.get("password"))
        if user is None:
            FAILURES.labels("invalid_grant").inc()
            return sign_in_page(form, why, status=401)
        code = codes.issue(str(form["client_id"]), str(form["redirect_uri"]), str(form["code_challenge"]),
                           user.user_id)
        raise redirect_with(form, code=code)

    async def token(request: web.Request) -> web.Response:
        if request.content_type != "application/x-www-form-urlencoded":
            return _oauth_error("invalid_request", "send application/x-www-form-urlencoded")
        form = await request.post()
        files.refresh()
        grant = form.get("grant_type")
        if grant == "password":
            user, refused = await check_password(form.get("username"), form.get("password"))
            if user is None:
                return _oauth_error("invalid_request" if refused == MISSING else "invalid_grant", refused)
            access = person_token(user, "password")
        elif grant == "authorization_code":
            code_client = str(form.get("client_id", ""))
            try:
                user_id = codes.redeem(str(form.get("code", "")), code_client,
                                       str(form.get("redirect_uri", "")), str(form.get("code_verifier", "")))
            except ValueError as error:
                return _oauth_error("invalid_grant", str(error))
            found = files.directory.users.get(user_id)
            if found is None:
                return _oauth_error("invalid_grant", "the user no longer exists")
            access = person_token(found, "authorization_code", code_client)
        elif grant == "client_credentials":
            client_id, secret = client_credentials(request, form)
            client = files.directory.clients.get(client_id or "")
            matches = await asyncio.to_thread(secret_matches, secret or "", client.secret) if client else False
            if client is None or not matches:
                log.warning("client authentication failed", extra={"client_id": client_id})
                return _oauth_error("invalid_client", "unknown client or wrong secret", status=401)
            TOKENS.labels("client_credentials").inc()
            access = sign(client.client_id, {"scope": " ".join(sorted(client.scopes)), "client_id": client.client_id})
        else:
            return _oauth_error("unsupported_grant_type",
                                "grant_type must be authorization_code, password or client_credentials")
        return web.json_response({"access_token": access, "token_type": "Bearer",
                                  "expires_in": settings.token_lifetime_seconds},
                                 headers={"Cache-Control": "no-store"})

    app.router.add_get("/.well-known/openid-configuration", discovery)
    app.router.add_get("/jwks.json", jwks)
    app.router.add_post("/token", token)
    app.router.add_get("/authorize", authorize_page)
    app.router.add_post("/authorize", authorize_sign_in)
    add_operational_routes(app, lambda: (bool(files.keys), "signing" if files.keys else "no signing key"))
    return app


async def build() -> Running:
    settings = IssuerSettings()
    if not list((settings.data_dir / "keys").glob("*.pem")):
        raise SystemExit(f"no signing key in {settings.data_dir}/keys: run `attain issuer init {settings.data_dir}`")
    return Running(build_app(settings), settings.host, settings.port, "issuer listening",
                   {"issuer": settings.public_url()})


def main() -> None:
    run_service("issuer", build)
