"""ingest's doors against forged, wrong and weak credentials, on the real broker with Attain's own issuer
as a real process: refused (401/403) and nothing published; the right client token and the signed
webhook still work; over the rate limit, 429 with Retry-After."""

from __future__ import annotations

import time
import uuid

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

from attain.embedded.issuer import EmbeddedIssuer
from attain.platform import topics
from services.ingest.signatures import sign
from services.issuer.directory import mint_token
from tests.integration.ingest_support import ingest_server
from tests.integration.salesforce_support import changes_with_prefix, read_topic

SECRET = "whsec-auth-test-secret-of-at-least-32-bytes"


def event(record_id: str) -> dict:
    return {"event_id": f"{record_id}-e", "record_id": record_id, "object_type": "Opportunity",
            "change_type": "UPDATE", "commit_timestamp": "2026-01-15T10:00:00Z",
            "fields": {"amount": "1000000.00", "owner_id": "rep-1", "is_won": True}}


def forged_tokens(issuer: EmbeddedIssuer) -> dict[str, tuple[str | None, int]]:
    """What a caller who may not publish could send, and the status it must get."""
    now = int(time.time())
    stranger = ec.generate_private_key(ec.SECP256R1())
    claims = {"iss": issuer.url, "sub": "attain-ingest-client", "aud": "attain", "iat": now, "exp": now + 600,
              "scope": "ingest:write"}

    def minted(**overrides: object) -> str:
        return mint_token(issuer.data_dir, str(overrides.pop("iss", issuer.url)), str(overrides.pop("aud", "attain")),
                          "attain-ingest-client", **overrides)  # type: ignore[arg-type]

    return {
        "no token": (None, 401),
        "not a bearer token": ("Basic YWRtaW46YWRtaW4=", 401),
        "expired": (f"Bearer {minted(lifetime_seconds=-120, scope='ingest:write')}", 401),
        "wrong issuer": (f"Bearer {minted(iss='http://127.0.0.1:1/evil', scope='ingest:write')}", 401),
        "wrong audience": (f"Bearer {minted(aud='payroll', scope='ingest:write')}", 401),
        "unknown key": (f"Bearer {jwt.encode(claims, stranger, algorithm='ES256', headers={'kid': 'stranger'})}",
                        401),
        "alg none": (f"Bearer {jwt.encode(claims, None, algorithm='none')}", 401),
        "a rep's token": (f"Bearer {issuer.sign_in('ae-in-01')}", 403),
        "dlq:replay only": (f"Bearer {minted(scope='dlq:replay')}", 403),
    }


def test_every_door_refuses_bad_credentials_and_publishes_nothing(kafka_bootstrap, ingest_issuer):
    prefix = f"006A{uuid.uuid4().hex[:8].upper()}"
    refusals = {}
    with ingest_server(kafka_bootstrap, ingest_issuer.url, webhook_secrets=SecretStr(SECRET)) as url, \
            httpx.Client(base_url=url, timeout=30) as client:
        for number, (case, (header, expected)) in enumerate(forged_tokens(ingest_issuer).items()):
            headers = {"Authorization": header} if header else {}
            record = f"{prefix}{number:02d}"
            answers = [
                client.post("/v1/events", json=[event(record)], headers=headers),
                client.post("/v1/backfill", headers=headers, json={"file": "h.csv", "rows": [
                    {"line": 2, "item": event(record), "original_b64": ""}]}),
            ]
            refusals[case] = [(a.status_code, a.headers.get("WWW-Authenticate")) for a in answers]
            assert all(a.status_code == expected for a in answers), (case, [a.text for a in answers])
            assert "error" in answers[0].json() and "dead_lettered" not in answers[0].json()
        # the replay door needs dlq:replay: the ingest client's token is not enough
        writer = ingest_issuer.client_token("attain-ingest-client")
        replay = client.post("/v1/dlq/replay", json={"topic": topics.CRM_CHANGES_DLQ, "positions": ["0:0"]},
                             headers={"Authorization": f"Bearer {writer}"})
        assert replay.status_code == 403 and "dlq:replay" in replay.json()["error"]
        assert client.post("/v1/dlq/replay", json={"topic": topics.CRM_CHANGES_DLQ, "positions": ["0:0"]}
                           ).status_code == 401

        # nothing published, nothing dead-lettered: crm.changes and its DLQ read to their ends
        assert changes_with_prefix(kafka_bootstrap, prefix) == []
        assert read_topic(kafka_bootstrap, topics.CRM_CHANGES_DLQ, lambda d: prefix.encode() in d["original"]) == []
        assert refusals["no token"][0] == (401, 'Bearer realm="attain-ingest"')

        # the right client token: accepted as before; the signed webhook needs no token, a bad signature is 401
        good = client.post("/v1/events", json=[event(f"{prefix}OK")], headers={"Authorization": f"Bearer {writer}"})
        assert good.status_code == 202 and good.json()["accepted"] == 1
        body = f'[{{"event_id": "{prefix}WH-e", "record_id": "{prefix}WH", "object_type": "Opportunity", ' \
               '"change_type": "UPDATE", "commit_timestamp": "2026-01-15T10:00:00Z", "fields": {}}]'
        signed = client.post("/v1/webhooks/crm", content=body,
                             headers={"X-Attain-Signature": sign(body.encode(), SECRET, int(time.time()))})
        assert signed.status_code == 202, signed.text
        forged = client.post("/v1/webhooks/crm", content=body.replace("WH", "WF"),
                             headers={"X-Attain-Signature": sign(body.encode(), SECRET, int(time.time())),
                                      "Authorization": f"Bearer {writer}"})  # a token does not replace a signature
        assert forged.status_code == 401
    assert sorted(r["record_id"] for r in changes_with_prefix(kafka_bootstrap, prefix)) == [
        f"{prefix}OK", f"{prefix}WH"]


def test_over_the_rate_limit_the_answer_is_429_with_retry_after_per_credential_and_per_sender(
        kafka_bootstrap, ingest_issuer):
    writer = {"Authorization": f"Bearer {ingest_issuer.client_token('attain-ingest-client')}"}
    operator = {"Authorization": f"Bearer {ingest_issuer.client_token('attain-operator')}"}
    with ingest_server(kafka_bootstrap, ingest_issuer.url, webhook_secrets=SecretStr(SECRET),
                       rate_per_credential="3/minute", rate_per_address="2/minute") as url, \
            httpx.Client(base_url=url, timeout=30) as client:
        statuses = [client.post("/v1/events", json=[], headers=writer).status_code for _ in range(4)]
        assert statuses == [202, 202, 202, 429]
        limited = client.post("/v1/backfill", json={"file": "h.csv", "rows": []}, headers=writer)
        assert limited.status_code == 429 and "rate limit" in limited.json()["error"]
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        # another credential has its own allowance
        assert client.post("/v1/events", json=[], headers=operator).status_code == 202
        # webhook senders (no token) are counted per address, signed or not
        body = b"[]"
        webhook = [client.post("/v1/webhooks/crm", content=body,
                               headers={"X-Attain-Signature": sign(body, SECRET, int(time.time()))}).status_code
                   for _ in range(3)]
        assert webhook == [202, 202, 429]
