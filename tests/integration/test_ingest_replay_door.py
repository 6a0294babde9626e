"""ingest's replay door, which the ingress serves to the internet: a person's token opens it only when it was
issued to the portal (``azp``), and replays run one at a time off the pool that verifies every door's tokens,
so they cannot hold up ``POST /v1/events``. Real broker, Attain's issuer as a real process."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from attain.embedded.issuer import EmbeddedIssuer
from attain.platform import topics
from services.issuer.authorize import s256
from tests.integration.ingest_support import ingest_server
from tests.polling import budget, wait_until

PORTAL, OTHER = "attain-portal", "attain-reports"
CALLBACK = "http://127.0.0.1:9/auth/callback"  # never called: the code is read from the redirect
NOWHERE = {"topic": topics.CRM_CHANGES_DLQ, "positions": ["0:999999999"]}  # no letter there: nothing re-driven


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedIssuer]:
    folder: Path = tmp_path_factory.mktemp("replay-door-issuer")
    with EmbeddedIssuer(folder, env={"ATTAIN_ISSUER_REDIRECT_URIS": json.dumps({PORTAL: [CALLBACK],
                                                                                 OTHER: [CALLBACK]})}) as running:
        yield running


def signed_in_at(issuer: EmbeddedIssuer, client_id: str, user: str) -> dict[str, str]:
    """``user``'s token from the authorization-code flow of ``client_id`` (what the portal's sign-in gets)."""
    verifier = secrets.token_urlsafe(48)
    back = httpx.post(f"{issuer.url}/authorize", data={
        "client_id": client_id, "redirect_uri": CALLBACK, "state": "s", "code_challenge": s256(verifier),
        "code_challenge_method": "S256", "username": user, "password": issuer.init()[user]})
    assert back.status_code == 302, back.text[:300]
    code = parse_qs(urlsplit(back.headers["location"]).query)["code"][0]
    token = issuer.token(grant_type="authorization_code", code=code, client_id=client_id, redirect_uri=CALLBACK,
                         code_verifier=verifier)
    return {"Authorization": f"Bearer {token}"}


def test_a_comp_admins_token_opens_the_replay_door_only_when_issued_to_the_portal(kafka_bootstrap, issuer):
    refused = {
        "password grant (names no client)": {"Authorization": f"Bearer {issuer.sign_in('comp-admin')}"},
        "another client's sign-in": signed_in_at(issuer, OTHER, "comp-admin"),
        "minted for another client": {"Authorization": "Bearer " + issuer.mint(
            "comp-admin", roles=["comp_admin"], regions=["*"], azp="attain-cli")},
    }
    with ingest_server(kafka_bootstrap, issuer.url) as url, httpx.Client(base_url=url, timeout=60) as client:
        for case, headers in refused.items():
            answer = client.post("/v1/dlq/replay", json=NOWHERE, headers=headers)
            assert answer.status_code == 403, (case, answer.text)
        portal = client.post("/v1/dlq/replay", json=NOWHERE, headers=signed_in_at(issuer, PORTAL, "comp-admin"))
        assert portal.status_code == 200, portal.text
        assert portal.json()["replayed"] == 0 and portal.json()["skipped"][0]["position"] == "0:999999999"
        # a rep signed in at the portal is still no comp admin
        rep = client.post("/v1/dlq/replay", json=NOWHERE, headers=signed_in_at(issuer, PORTAL, "ae-in-01"))
        assert rep.status_code == 403


def test_replays_run_one_at_a_time_and_never_hold_up_posting_events(kafka_bootstrap, issuer):
    """Forty replays at once, the first held while it reads: the others are told to retry (429), and an event is
    accepted meanwhile. Before, every replay took a thread of the pool that verifies tokens, and the event's token
    check waited behind them."""
    reading, release = threading.Semaphore(0), threading.Event()

    def held() -> None:
        reading.release()
        release.wait(120)

    admin = signed_in_at(issuer, PORTAL, "comp-admin")
    writer = {"Authorization": f"Bearer {issuer.client_token('attain-ingest-client')}"}
    with ingest_server(kafka_bootstrap, issuer.url, before_reading=held) as url, \
            httpx.Client(base_url=url, timeout=120) as client, ThreadPoolExecutor(40) as callers:
        try:
            replays = [callers.submit(client.post, "/v1/dlq/replay", json=NOWHERE, headers=admin) for _ in range(40)]
            assert reading.acquire(timeout=budget(60)), "no replay started reading"
            event = client.post("/v1/events", json=[], headers=writer, timeout=budget(20))  # a generous budget
            assert event.status_code == 202, event.text
            wait_until(lambda: sum(r.done() for r in replays) == 39, 60, "the other replays answered")
            done = {r for r in replays if r.done()}
            assert [r.result().status_code for r in done] == [429] * 39
            assert all("another dead-letter replay" in r.result().json()["error"] for r in done)
        finally:
            release.set()
        (running,) = set(replays) - done
        assert running.result().status_code == 200
        assert reading.acquire(timeout=0) is False  # only the one replay read the topic
