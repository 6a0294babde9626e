"""The embedded issuer's files: signing keys (``keys/``) and who may sign in (``identities.json``).

Keys are EC P-256 (ES256), created by ``cryptography``; the newest is the signer
and every key in ``keys/`` is published in the JWKS, so after a rotation tokens
signed with the previous key stay valid until they expire. Passwords and client
secrets are stored as scrypt hashes (``hashlib.scrypt``) with a random salt.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from attain.platform.identity import check_roles, check_scopes

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def hash_secret(secret: str) -> dict[str, str]:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)
    return {"salt": salt.hex(), "hash": digest.hex()}


def secret_matches(secret: str, stored: dict[str, str]) -> bool:
    digest = hashlib.scrypt(secret.encode(), salt=bytes.fromhex(stored["salt"]), **_SCRYPT)
    return hmac.compare_digest(digest.hex(), stored["hash"])


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = ECAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": "ES256"}


def create_key(data_dir: Path) -> str:
    """Add a new signing key; it signs from now on. Returns its key id."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    kid = hashlib.sha256(public).hexdigest()[:16]
    existing = sorted((data_dir / "keys").glob("*.pem"))
    serial = int(existing[-1].stem.split("-")[0]) + 1 if existing else 1
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    write_private(data_dir / "keys" / f"{serial:04d}-{kid}.pem", pem)
    return kid


def load_keys(data_dir: Path) -> list[SigningKey]:
    """Every key, oldest first; the last one signs."""
    keys = []
    for path in sorted((data_dir / "keys").glob("*.pem")):
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        keys.append(SigningKey(path.stem.split("-", 1)[1], private))
    return keys


@dataclass(frozen=True)
class User:
    user_id: str
    roles: frozenset[str]
    regions: frozenset[str]
    password: dict[str, str]


@dataclass(frozen=True)
class Client:
    client_id: str
    scopes: frozenset[str]
    secret: dict[str, str]


@dataclass(frozen=True)
class Directory:
    users: dict[str, User]
    clients: dict[str, Client]

    @classmethod
    def load(cls, data_dir: Path) -> Directory:
        data = json.loads((data_dir / "identities.json").read_text())
        users = {name: User(name, check_roles(spec["roles"]), frozenset(spec.get("regions", [])),
                            spec["password"]) for name, spec in data.get("users", {}).items()}
        clients = {name: Client(name, check_scopes(spec["scopes"]), spec["secret"])
                   for name, spec in data.get("clients", {}).items()}
        return cls(users, clients)


def initialise(data_dir: Path, users: dict[str, dict[str, Any]], clients: dict[str, list[str]]) -> dict[str, str]:
    """Create the first signing key and the directory; returns each user's and client's new secret.

    ``users``: user id -> {"roles": [...], "regions": [...]}; ``clients``: client id -> scopes.
    Roles and scopes are checked against Attain's closed sets. The secrets are
    shown once and kept only as hashes.
    """
    issued: dict[str, str] = {}
    document: dict[str, Any] = {"users": {}, "clients": {}}
    for user_id, spec in users.items():
        password = secrets.token_urlsafe(18)
        issued[user_id] = password
        document["users"][user_id] = {"roles": sorted(check_roles(spec["roles"])),
                                      "regions": sorted(spec.get("regions", [])),
                                      "password": hash_secret(password)}
    for client_id, scopes in clients.items():
        secret = secrets.token_urlsafe(32)
        issued[client_id] = secret
        document["clients"][client_id] = {"scopes": sorted(check_scopes(scopes)), "secret": hash_secret(secret)}
    write_private(data_dir / "identities.json", json.dumps(document, indent=2).encode())
    if not list((data_dir / "keys").glob("*.pem")):
        create_key(data_dir)
    return issued


def mint_token(data_dir: Path, issuer: str, audience: str, subject: str, lifetime_seconds: int = 3600,
               **claims: Any) -> str:
    """A token signed with the issuer's current key, for whoever holds the key files (tests, operators).

    Roles and scopes are checked against the closed sets, as the services will.
    """
    check_roles(claims.get("roles", []))
    check_scopes(str(claims.get("scope", "")).split())
    key = load_keys(data_dir)[-1]
    now = int(time.time())
    body = {"iss": issuer, "sub": subject, "aud": audience, "iat": now, "nbf": now, "exp": now + lifetime_seconds,
            "jti": uuid.uuid4().hex, **claims}
    return jwt.encode(body, key.private_key, algorithm="ES256", headers={"kid": key.kid})
