"""Who is calling: OpenID Connect bearer tokens -> :class:`Identity`, the same way at every door.

People sign in at an OpenID Connect provider (the customer's, or Attain's own
embedded issuer, ``services/issuer``); machines get tokens by the client-credentials
grant. Every service validates them the same way: the issuer's discovery document
names its JWKS; keys are fetched by PyJWT's :class:`jwt.PyJWKClient` and fetched
again when a token names a key id not seen yet (so a rotated key is accepted
without a restart); only asymmetric algorithms (RS256, ES256) unless HS256 is
switched on as a dev-only setting; issuer, audience, expiry and not-before are
checked with a small clock-skew leeway.

Roles and scopes are closed sets: a token that claims one Attain does not know
is refused, so a typo in an identity provider's mapping fails loudly instead of
granting nothing (or something) silently.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# People's roles. An admin's reach is limited by the regions claim ("*" = all).
ROLES = frozenset({"rep", "manager", "comp_admin", "finance", "admin"})
ADMIN_ROLES = frozenset({"comp_admin", "finance", "admin"})
# Machine callers' scopes (client credentials).
SCOPES = frozenset({
    "ingest:write",  # POST /v1/events, attain ingest backfill
    "dlq:replay",  # attain dlq replay
})
ASYMMETRIC_ALGORITHMS = ("RS256", "ES256")
MIN_HS256_SECRET_BYTES = 32


class AuthError(Exception):
    """No usable credentials: the message says why, and never echoes the token."""


@dataclass(frozen=True)
class Identity:
    """A verified caller: a person (roles) or a machine (scopes)."""

    subject: str
    roles: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()  # admins' regions; "*" is every region
    scopes: frozenset[str] = frozenset()
    issuer: str = ""
    # The OIDC client the token was issued to (its ``azp`` claim; "" when absent): a door that admits people only
    # from one front end (ingest's replay, from the portal) tells a portal sign-in from any other way to a token.
    client: str = ""

    @property
    def is_admin(self) -> bool:
        return bool(self.roles & ADMIN_ROLES)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class AuthSettings(BaseSettings):
    """``ATTAIN_AUTH_*``: how every service validates bearer tokens."""

    model_config = SettingsConfigDict(env_prefix="ATTAIN_AUTH_")

    issuer: str | None = None  # e.g. https://login.example.com/realms/attain; discovery is read from it
    jwks_url: str | None = None  # only when the provider has no discovery document
    audience: str = "attain"
    leeway_seconds: int = 60
    subject_claim: str = "sub"  # the user or client id; Keycloak, for example: preferred_username
    roles_claim: str = "roles"  # dotted path into the claims, e.g. realm_access.roles
    regions_claim: str = "regions"
    scope_claim: str = "scope"  # space-separated (RFC 8693/9068) or a list
    # A token naming an unknown key id makes the verifier fetch the JWKS again, at most this often
    # (so a flood of made-up key ids cannot turn into a flood of requests to the identity provider).
    jwks_refresh_cooldown_seconds: float = 10.0
    # Development only: accept HS256 tokens signed with this shared secret. Off by default.
    dev_hs256_secret: SecretStr | None = None


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _strings(value: Any, name: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return frozenset(value)
    raise AuthError(f"claim {name!r} must be a list of strings")


def check_roles(roles: Iterable[str]) -> frozenset[str]:
    """``roles`` as a set, or :class:`AuthError` naming any role Attain does not know.

    >>> sorted(check_roles(["rep", "manager"]))
    ['manager', 'rep']
    >>> check_roles(["wizard"])
    Traceback (most recent call last):
    ...
    attain.platform.identity.AuthError: unknown role 'wizard'; known roles: admin, comp_admin, finance, manager, rep
    """
    given = frozenset(roles)
    for role in sorted(given - ROLES):
        raise AuthError(f"unknown role {role!r}; known roles: {', '.join(sorted(ROLES))}")
    return given


def check_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """``scopes`` as a set, or :class:`AuthError` naming any scope Attain does not know."""
    given = frozenset(scopes) - {"openid", "profile", "email"}  # OIDC's own scopes carry no rights here
    for scope in sorted(given - SCOPES):
        raise AuthError(f"unknown scope {scope!r}; known scopes: {', '.join(sorted(SCOPES))}")
    return given


def identity_from_claims(claims: Mapping[str, Any], settings: AuthSettings) -> Identity:
    subject = _claim(claims, settings.subject_claim)
    if not isinstance(subject, str) or not subject:
        raise AuthError(f"token has no subject (claim {settings.subject_claim!r})")
    return Identity(
        subject=subject,
        roles=check_roles(_strings(_claim(claims, settings.roles_claim), settings.roles_claim)),
        regions=_strings(_claim(claims, settings.regions_claim), settings.regions_claim),
        scopes=check_scopes(_strings(_claim(claims, settings.scope_claim), settings.scope_claim)),
        issuer=str(claims.get("iss", "")),
        client=str(claims.get("azp") or ""),
    )


def _fetch_json(url: str, timeout: float = 5.0) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - configured https/http URL
        document: dict[str, Any] = json.load(response)
    return document


class TokenVerifier:
    """Validates bearer tokens against one OpenID Connect issuer (thread-safe; blocking I/O on a key miss)."""

    def __init__(self, settings: AuthSettings) -> None:
        if settings.issuer is None and settings.dev_hs256_secret is None:
            raise AuthError("no identity provider configured: set ATTAIN_AUTH_ISSUER "
                            "(or ATTAIN_AUTH_DEV_HS256_SECRET for development only)")
        secret = settings.dev_hs256_secret.get_secret_value() if settings.dev_hs256_secret else None
        if secret is not None and len(secret.encode()) < MIN_HS256_SECRET_BYTES:
            raise AuthError(f"ATTAIN_AUTH_DEV_HS256_SECRET must be at least {MIN_HS256_SECRET_BYTES} bytes")
        self._settings = settings
        self._secret = secret
        self._jwks: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()

    def _keys(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._jwks is None:
                url = self._settings.jwks_url
                if url is None:
                    assert self._settings.issuer is not None
                    discovery = _fetch_json(self._settings.issuer.rstrip("/") + "/.well-known/openid-configuration")
                    if discovery.get("issuer") != self._settings.issuer:
                        raise AuthError("the issuer's discovery document names another issuer")
                    url = str(discovery["jwks_uri"])
                # PyJWKClient fetches the key set again when a token's kid is unknown: rotation needs no restart.
                self._jwks = jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=5,
                                             cooldown_duration=self._settings.jwks_refresh_cooldown_seconds)
            return self._jwks

    def verify(self, token: str) -> Identity:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise AuthError(f"invalid token: {error}") from None
        algorithm = header.get("alg")
        options = {"require": ["exp", "iat", "aud"]}
        common: dict[str, Any] = {"audience": self._settings.audience, "leeway": self._settings.leeway_seconds}
        try:
            if algorithm == "HS256" and self._secret is not None:
                claims = jwt.decode(token, self._secret, algorithms=["HS256"], options=options, **common)
            elif algorithm in ASYMMETRIC_ALGORITHMS and self._settings.issuer is not None:
                try:
                    key = self._keys().get_signing_key_from_jwt(token)
                except (jwt.PyJWKClientError, OSError) as error:
                    raise AuthError(f"token signed by an unknown key: {error}") from None
                claims = jwt.decode(token, key.key, algorithms=list(ASYMMETRIC_ALGORITHMS),
                                    issuer=self._settings.issuer, options={"require": [*options["require"], "iss"]},
                                    **common)
            else:
                raise AuthError(f"token algorithm {algorithm!r} is not accepted")
        except jwt.PyJWTError as error:
            raise AuthError(f"invalid token: {error}") from None
        return identity_from_claims(claims, self._settings)

    def verify_header(self, header: str | None) -> Identity:
        """The identity behind an ``Authorization: Bearer <token>`` header value."""
        if not header or not header.startswith("Bearer ") or not header[7:].strip():
            raise AuthError("send Authorization: Bearer <token>")
        return self.verify(header[7:].strip())


