"""Portal sessions and pending sign-ins in PostgreSQL (schema ``portal``), shared by every portal process.

A session survives a restart of the portal and works on any replica behind the load balancer; signing out on
one ends it on all. Only a SHA-256 hash of the session id is stored (the id itself, 256 random bits, lives only
in the browser's HttpOnly cookie), so a copy of the table opens no session. A row keeps what the portal needs to
act for the person: the subject and roles of the verified token, the token itself (the ledger is called with
it), the CSRF token and the expiry. The token is sealed (:func:`seal`) under a key derived from the session id:
every service accepts it, so a readable copy (a backup, a replica) would let its reader act as the person until
it expired. A session ends when its lifetime or its token does, whichever comes first; an expired row is deleted
when its cookie comes back, and all expired rows whenever a session opens. Pending sign-ins (the
``state`` of an authorization request and its PKCE verifier, valid 10 minutes, used once) are kept the same way,
so the callback may land on another replica than ``/login``. docs/portal.md, "Sessions", says why not cookies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field

from aiohttp import web
from authlib.common.security import generate_token
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Engine, text

from attain.platform.identity import Identity
from services.portal.readmodel import run_ddl

SESSION_COOKIE = "attain_portal_session"
LOGIN_SECONDS = 600
# The stored token's format, its first characters (a plain JWT never has a colon): "v1:" then base64url of a
# 96-bit nonce and the AES-256-GCM ciphertext with its tag, under HKDF-SHA256(session id). Rows written before
# tokens were sealed (plain text) are deleted at start-up by SCHEMA, and refused as signed out if one appears
# later (an older replica still writing them during a rolling upgrade).
TOKEN_FORMAT = "v1:"
_TOKEN_KEY_INFO = b"attain-portal session token v1"
_NONCE_BYTES = 12
SCHEMA = f"""
CREATE SCHEMA IF NOT EXISTS portal;
CREATE TABLE IF NOT EXISTS portal.sessions (
  id_hash bytea PRIMARY KEY, subject text NOT NULL, identity jsonb NOT NULL, token text NOT NULL,
  csrf text NOT NULL, expires_at double precision NOT NULL);
CREATE INDEX IF NOT EXISTS sessions_expiry ON portal.sessions (expires_at);
DELETE FROM portal.sessions WHERE token NOT LIKE '{TOKEN_FORMAT}%';
CREATE TABLE IF NOT EXISTS portal.sign_ins (
  state_hash bytea PRIMARY KEY, verifier text NOT NULL, expires_at double precision NOT NULL);
"""


def _xor(one: bytes, other: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(one, other, strict=True))


@dataclass
class Session:
    identity: Identity
    token: str
    expires: float
    csrf_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    @property
    def csrf(self) -> str:
        """The CSRF token to write in a page: the secret under a new random mask at every use (BREACH)."""
        mask = secrets.token_bytes(len(self.csrf_secret))
        return base64.urlsafe_b64encode(mask + _xor(mask, self.csrf_secret)).decode()

    def csrf_matches(self, sent: str) -> bool:
        try:
            raw = base64.urlsafe_b64decode(sent.encode())
        except ValueError:
            return False
        half = len(self.csrf_secret)
        return len(raw) == 2 * half and hmac.compare_digest(_xor(raw[:half], raw[half:]), self.csrf_secret)


def digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def _token_cipher(sid: str) -> AESGCM:
    """AES-256-GCM under a key only the session id yields (256 random bits: HKDF needs no salt to spread them)."""
    return AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_TOKEN_KEY_INFO).derive(sid.encode()))


def seal(sid: str, token: str) -> str:
    """``token`` as stored for session ``sid``: the table keeps only the id's hash, so a copy of it opens nothing."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = _token_cipher(sid).encrypt(nonce, token.encode(), TOKEN_FORMAT.encode())
    return TOKEN_FORMAT + base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(sid: str, stored: str) -> str | None:
    """The token :func:`seal` stored for ``sid``; None for another id, a tampered value or a pre-v1 plain token."""
    if not stored.startswith(TOKEN_FORMAT):
        return None
    try:
        raw = base64.urlsafe_b64decode(stored[len(TOKEN_FORMAT):].encode())
        if len(raw) <= _NONCE_BYTES:
            return None
        return _token_cipher(sid).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], TOKEN_FORMAT.encode()).decode()
    except (ValueError, InvalidTag):  # bad base64 or UTF-8 (ValueError), or not sealed for this id
        return None


def ensure_tables(engine: Engine) -> None:
    """Create the tables and delete rows holding a plain token (idempotent, under the portal's schema lock)."""
    run_ddl(engine, SCHEMA)


def _identity_json(identity: Identity) -> str:
    return json.dumps({"roles": sorted(identity.roles), "regions": sorted(identity.regions),
                       "scopes": sorted(identity.scopes), "issuer": identity.issuer})


def _identity_of(subject: str, stored: dict[str, object]) -> Identity:
    def names(key: str) -> frozenset[str]:
        value = stored.get(key) or []
        assert isinstance(value, list)
        return frozenset(str(v) for v in value)

    return Identity(subject, names("roles"), names("regions"), names("scopes"), str(stored.get("issuer") or ""))


class Sessions:
    """Server-side sessions by random id, in the portal's database (the cookie holds the id, the table its hash)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def open(self, session: Session) -> str:
        sid = secrets.token_urlsafe(32)
        with self._engine.begin() as connection:
            connection.execute(text("DELETE FROM portal.sessions WHERE expires_at <= :now"), {"now": time.time()})
            connection.execute(text(
                "INSERT INTO portal.sessions (id_hash, subject, identity, token, csrf, expires_at) "
                "VALUES (:h, :s, CAST(:i AS jsonb), :t, :c, :e)"),
                {"h": digest(sid), "s": session.identity.subject, "i": _identity_json(session.identity),
                 "t": seal(sid, session.token), "c": base64.urlsafe_b64encode(session.csrf_secret).decode(),
                 "e": session.expires})
        return sid

    def of(self, request: web.Request) -> Session | None:
        """The session of the request's cookie; None, and the row deleted, once it expired or cannot be opened."""
        sid = request.cookies.get(SESSION_COOKIE)
        if not sid:
            return None
        with self._engine.connect() as connection:
            row = connection.execute(text(
                "SELECT subject, identity, token, csrf, expires_at FROM portal.sessions WHERE id_hash = :h"),
                {"h": digest(sid)}).one_or_none()
        if row is None:
            return None
        token = unseal(sid, row.token) if row.expires_at > time.time() else None
        if token is None:  # its lifetime or its token ran out, or it was stored unsealed: signed out
            self.close(request)
            return None
        return Session(_identity_of(row.subject, row.identity), token, row.expires_at,
                       base64.urlsafe_b64decode(row.csrf.encode()))

    def close(self, request: web.Request) -> None:
        sid = request.cookies.get(SESSION_COOKIE)
        if sid:
            with self._engine.begin() as connection:
                connection.execute(text("DELETE FROM portal.sessions WHERE id_hash = :h"), {"h": digest(sid)})

    def start_login(self) -> tuple[str, str]:
        state, verifier = generate_token(32), generate_token(64)
        now = time.time()
        with self._engine.begin() as connection:
            connection.execute(text("DELETE FROM portal.sign_ins WHERE expires_at <= :now"), {"now": now})
            connection.execute(text("INSERT INTO portal.sign_ins (state_hash, verifier, expires_at) "
                                    "VALUES (:h, :v, :e)"), {"h": digest(state), "v": verifier,
                                                             "e": now + LOGIN_SECONDS})
        return state, verifier

    def finish_login(self, state: str) -> str | None:
        """The PKCE verifier of a pending sign-in (once, on any replica), or None."""
        if not state:
            return None
        with self._engine.begin() as connection:
            verifier = connection.execute(text(
                "DELETE FROM portal.sign_ins WHERE state_hash = :h RETURNING verifier, expires_at"),
                {"h": digest(state)}).one_or_none()
        return str(verifier.verifier) if verifier is not None and verifier.expires_at > time.time() else None
