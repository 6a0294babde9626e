"""Portal sessions live in the portal's database: a sign-in on one portal process is honoured by a second one on
the same database and by the first after a restart; a sign-in may start on one replica and come back to the
other; signing out on one ends the session on both; an expired session is refused and purged. The person's token is
stored sealed for the session id alone, a session ends with its token, and a row from before sealing (a plain
token) is signed out. Real processes: two portals (``python -m services.portal``), Attain's issuer, the broker and
PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from subprocess import Popen

import httpx
import jwt
import pytest
from sqlalchemy import Engine, text

from attain.embedded._process import log_tail, spawn, terminate
from attain.embedded.issuer import EmbeddedIssuer
from attain.embedded.ports import free_port
from attain.platform.identity import AuthSettings, TokenVerifier
from services.issuer.directory import mint_token
from services.portal.auth import open_session
from services.portal.sessions import Sessions, ensure_tables, unseal
from tests.conftest import REPO
from tests.polling import budget, wait_until

USER = "comp-admin"  # a person whose home page needs no ledger: the test is about sessions only


class Portal:
    def __init__(self, folder: Path, env: dict[str, str], port: int) -> None:
        self.folder, self.env, self.port = folder, {**env, "ATTAIN_PORTAL_PORT": str(port)}, port
        self.url = f"http://127.0.0.1:{port}"
        self.process: Popen[bytes] | None = None
        self.starts = 0

    def _live(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"the portal exited: {log_tail(self.log)}")
        try:
            return urllib.request.urlopen(f"{self.url}/health/live", timeout=2).status == 200
        except OSError:
            return False

    def start(self) -> None:
        self.starts += 1
        self.log = self.folder / f"portal-{self.port}-{self.starts}.log"
        self.process = spawn([sys.executable, "-m", "services.portal"], self.log, env=self.env, cwd=REPO)
        wait_until(self._live, timeout=60, what=f"the portal on {self.port}", interval=0.2)

    def stop(self) -> None:
        if self.process is not None:
            terminate(self.process, grace=15)
            self.process = None


@pytest.fixture(scope="module")
def portals(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str,
            database_url: str) -> Iterator[tuple[Portal, Portal, EmbeddedIssuer]]:
    folder = tmp_path_factory.mktemp("portal-sessions")
    first, second = free_port(), free_port()
    public = f"http://127.0.0.1:{first}"  # one public address, as behind a load balancer
    issuer = EmbeddedIssuer(folder / "issuer", env={
        "ATTAIN_ISSUER_REDIRECT_URIS": json.dumps({"attain-portal": [f"{public}/auth/callback"]})})
    issuer.start()
    env = {**os.environ, "ATTAIN_KAFKA_BOOTSTRAP": kafka_bootstrap, "ATTAIN_PORTAL_DATABASE_URL": database_url,
           "ATTAIN_PORTAL_PUBLIC_URL": public, "ATTAIN_PORTAL_GROUP_ID": f"portal-sessions-{uuid.uuid4().hex[:8]}",
           "ATTAIN_PORTAL_LEDGER_URL": f"http://127.0.0.1:{free_port()}", "ATTAIN_AUTH_ISSUER": issuer.url}
    a, b = Portal(folder, env, first), Portal(folder, env, second)
    try:
        a.start()
        b.start()
        yield a, b, issuer
    finally:
        a.stop()
        b.stop()
        issuer.stop()


def authorize(issuer: EmbeddedIssuer, start: Portal) -> tuple[httpx.Client, str]:
    """A browser at ``start``'s /login signs in at the issuer as USER: its client and the callback URL it got."""
    client = httpx.Client(timeout=10, follow_redirects=False)
    to_issuer = client.get(f"{start.url}/login", params={"login_hint": USER})
    assert to_issuer.status_code == 302, to_issuer.text[:300]
    page = client.get(to_issuer.headers["location"])
    form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page.text))
    back = client.post(f"{issuer.url}/authorize", data={**form, "username": USER, "password": issuer.init()[USER]})
    assert back.status_code == 302, back.text[:300]
    return client, back.headers["location"]


def sign_in(issuer: EmbeddedIssuer, start: Portal, finish: Portal) -> str:
    """Sign in as USER: /login on ``start``, the issuer's form, the callback on ``finish``; the session cookie."""
    client, callback = authorize(issuer, start)
    try:
        signed = client.get(callback.replace(start.url, finish.url, 1))  # the balancer may pick the other
        assert signed.status_code == 302 and signed.headers["location"] == "/", signed.text[:300]
        return str(client.cookies["attain_portal_session"])
    finally:
        client.close()


def with_cookie(cookie: str) -> dict[str, str]:
    return {"Cookie": f"attain_portal_session={cookie}"}


def signed_in(portal: Portal, cookie: str) -> bool:
    """Whether ``portal`` opens USER's home for a browser that sends only this session cookie."""
    home = httpx.get(f"{portal.url}/", headers=with_cookie(cookie), timeout=10)
    assert home.status_code in (200, 302), home.text[:300]
    return home.status_code == 200 and "Sign out" in home.text


def test_a_session_works_on_both_replicas_survives_a_restart_and_ends_on_both(portals, engine: Engine):
    a, b, issuer = portals
    cookie = sign_in(issuer, a, b)  # started on one replica, finished on the other
    assert signed_in(a, cookie) and signed_in(b, cookie)
    with engine.connect() as connection:  # only the hash of the id is stored
        rows = connection.execute(text("SELECT id_hash, subject FROM portal.sessions")).all()
    assert (hashlib.sha256(cookie.encode()).digest(), USER) in [(bytes(r.id_hash), r.subject) for r in rows]
    assert all(cookie.encode() not in bytes(r.id_hash) for r in rows)

    a.stop()
    a.start()
    assert signed_in(a, cookie)  # the restarted process knows it

    page = httpx.get(f"{b.url}/", headers=with_cookie(cookie), timeout=10).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf, page[:500]
    out = httpx.post(f"{b.url}/logout", data={"csrf": csrf.group(1)}, headers=with_cookie(cookie), timeout=10)
    assert out.status_code == 302 and out.headers["location"] == "/signed-out"
    assert not signed_in(a, cookie) and not signed_in(b, cookie)
    assert httpx.get(f"{a.url}/", headers=with_cookie(cookie), timeout=10).headers["location"] == "/login"


def test_an_expired_session_is_refused_and_purged(portals, engine: Engine):
    a, b, issuer = portals
    cookie = sign_in(issuer, a, a)
    assert signed_in(b, cookie)
    digest = hashlib.sha256(cookie.encode()).digest()
    with engine.begin() as connection:  # its lifetime ran out
        connection.execute(text("UPDATE portal.sessions SET expires_at = extract(epoch FROM now()) - 1 "
                                "WHERE id_hash = :h"), {"h": digest})

    fresh = sign_in(issuer, b, b)  # opening a session purges the expired ones
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM portal.sessions WHERE id_hash = :h"),
                                  {"h": digest}).scalar_one() == 0
    assert not signed_in(a, cookie) and not signed_in(b, cookie)
    assert signed_in(a, fresh)


def test_a_sign_in_state_is_used_once(portals):
    a, b, issuer = portals
    client, callback = authorize(issuer, a)
    try:
        assert client.get(callback).headers["location"] == "/"  # signed in
        replay = client.get(callback.replace(a.url, b.url, 1))  # the same state again, on the other replica
        assert replay.status_code == 400
    finally:
        client.close()


def stored(engine: Engine, cookie: str) -> tuple[str, float] | None:
    """The session row of ``cookie``: its stored token and expiry (None: no row)."""
    with engine.connect() as connection:
        row = connection.execute(text("SELECT token, expires_at FROM portal.sessions WHERE id_hash = :h"),
                                 {"h": hashlib.sha256(cookie.encode()).digest()}).one_or_none()
    return None if row is None else (str(row.token), float(row.expires_at))


def test_the_token_is_stored_sealed_for_its_session_id_alone(portals, engine: Engine):
    a, b, issuer = portals
    one, other = sign_in(issuer, a, b), sign_in(issuer, b, a)
    row, other_row = stored(engine, one), stored(engine, other)
    assert row is not None and other_row is not None
    token = unseal(one, row[0])
    assert token is not None and token.count(".") == 2  # the cookie's id opens its own row: the issuer's JWT
    for part in token.split("."):
        assert part not in row[0]  # nothing of it readable in the table
    assert unseal(other, row[0]) is None and unseal(one, other_row[0]) is None
    with engine.connect() as connection:  # no row of the table holds a token in the clear
        assert connection.execute(text("SELECT count(*) FROM portal.sessions WHERE token LIKE 'eyJ%' "
                                       "OR token NOT LIKE 'v1:%'")).scalar_one() == 0
    # the issuer's tokens live an hour, sessions 8 h: the session ends with the token
    assert row[1] == jwt.decode(token, options={"verify_signature": False})["exp"]
    assert signed_in(a, one) and signed_in(b, other)


def test_a_session_ends_when_its_token_expires(portals, engine: Engine):
    a, b, issuer = portals
    lifetime = int(budget(8))  # long enough to see it signed in first
    token = mint_token(issuer.data_dir, issuer.url, "attain", USER, lifetime_seconds=lifetime,
                       roles=["comp_admin"], regions=["*"])
    sessions, verifier = Sessions(engine), TokenVerifier(AuthSettings(issuer=issuer.url, audience="attain"))
    cookie, _ = asyncio.run(open_session(sessions, verifier, token, 8 * 3600))
    row = stored(engine, cookie)
    assert row is not None and row[1] == jwt.decode(token, options={"verify_signature": False})["exp"]
    assert signed_in(a, cookie)

    wait_until(lambda: not signed_in(b, cookie), timeout=lifetime + 30, what="the session to end with its token")
    assert stored(engine, cookie) is None  # refused and deleted at once
    assert not signed_in(a, cookie)


def test_a_row_stored_before_tokens_were_sealed_is_signed_out(portals, engine: Engine):
    a, b, issuer = portals
    old, purged, kept = (sign_in(issuer, a, b) for _ in range(3))
    for cookie in (old, purged):  # as the previous version wrote them: the plain token
        row = stored(engine, cookie)
        assert row is not None
        with engine.begin() as connection:
            connection.execute(text("UPDATE portal.sessions SET token = :t WHERE id_hash = :h"),
                               {"t": unseal(cookie, row[0]), "h": hashlib.sha256(cookie.encode()).digest()})

    home = httpx.get(f"{b.url}/", headers=with_cookie(old), timeout=10)  # an older replica's row seen by a newer
    assert home.status_code == 302 and home.headers["location"] == "/login"  # signed out, not an error
    assert stored(engine, old) is None

    ensure_tables(engine)  # what a portal runs at start-up: no plain token is left in the table
    assert stored(engine, purged) is None
    assert signed_in(a, kept) and signed_in(b, kept)
