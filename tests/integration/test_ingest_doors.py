"""Webhook, backfill and DLQ replay against the real broker: accepted means in Kafka, rejected means in the DLQ."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from attain.platform import topics
from attain.platform.kafka import AsyncProducer, ensure_topics, producer_config
from attain.platform.settings import KafkaSettings
from cli.main import build_parser, main
from services.ingest.app import build_app
from services.ingest.commands import dlq_command, ingest_backfill
from services.ingest.config import IngestSettings
from services.ingest.publisher import Publisher
from services.ingest.signatures import sign
from tests.integration.ingest_support import ingest_server
from tests.integration.salesforce_support import changes_with_prefix, read_topic

SECRET = "whsec-test-secret-of-at-least-32-bytes"


def event(record_id: str, **overrides):
    return {"event_id": f"{record_id}-e", "record_id": record_id, "object_type": "Opportunity",
            "change_type": "UPDATE", "commit_timestamp": "2026-01-15T10:00:00Z",
            "fields": {"amount": "10.00", "owner_id": "rep-1"}, **overrides}


def post_webhook(bootstrap: str, requests: list[tuple[bytes, dict[str, str]]]) -> list[tuple[int, dict]]:
    async def run() -> list[tuple[int, dict]]:
        kafka = KafkaSettings(bootstrap=bootstrap)
        ensure_topics(kafka, [topics.CRM_CHANGES, topics.CRM_CHANGES_DLQ])
        producer = AsyncProducer(producer_config(kafka), asyncio.get_running_loop())
        secrets = SecretStr(f"old-secret-still-accepted-for-rotation,{SECRET}")
        app = build_app(Publisher(producer), IngestSettings(webhook_secrets=secrets))
        answers = []
        async with TestClient(TestServer(app)) as client:
            for body, headers in requests:
                response = await client.post("/v1/webhooks/crm", data=body, headers=headers)
                answers.append((response.status, await response.json()))
        producer.close()
        return answers

    return asyncio.run(run())


def test_a_signed_webhook_batch_is_published_and_a_bad_signature_is_refused_without_publishing(kafka_bootstrap):
    prefix = f"006W{uuid.uuid4().hex[:8].upper()}"
    good = json.dumps([event(f"{prefix}1"), event(f"{prefix}2"), event(f"{prefix}3", object_type="Invoice")]).encode()
    forged = json.dumps([event(f"{prefix}9")]).encode()
    now = int(time.time())
    answers = post_webhook(kafka_bootstrap, [
        (good, {"X-Attain-Signature": sign(good, SECRET, now), "Content-Type": "application/json"}),
        (forged, {"X-Attain-Signature": sign(forged, "guessed", now)}),
        (forged, {}),
        (forged, {"X-Attain-Signature": sign(forged, SECRET, now - 3600)}),
    ])
    (status, body), *refused = answers
    assert status == 207 and (body["accepted"], body["rejected"]) == (2, 1)
    assert "object_type: 'Invoice'" in body["results"][2]["error"]
    assert [a[0] for a in refused] == [401, 401, 401]
    assert "does not match" in refused[0][1]["error"] and "no X-Attain-Signature" in refused[1][1]["error"]
    assert "more than 300s" in refused[2][1]["error"]
    records = changes_with_prefix(kafka_bootstrap, prefix)
    assert sorted(r["record_id"] for r in records) == [f"{prefix}1", f"{prefix}2"]
    assert {r["source"] for r in records} == {"webhook"}
    letters = read_topic(kafka_bootstrap, topics.CRM_CHANGES_DLQ, lambda d: prefix.encode() in d["original"])
    assert [(d["error_code"], d["source"]) for d in letters] == [("validation_error", "webhook#2")]


def test_backfill_publishes_good_rows_dead_letters_bad_rows_with_their_line_and_dlq_replay_redrives(
        kafka_bootstrap, ingest_issuer, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ATTAIN_TOKEN", raising=False)
    prefix = f"006B{uuid.uuid4().hex[:8].upper()}"
    csv_file = tmp_path / f"history-{prefix}.csv"
    csv_file.write_text(
        "event_id,record_id,object_type,commit_timestamp,owner_id,amount,is_won\n"
        f"{prefix}-1,{prefix}1,Opportunity,2026-01-15T10:00:00Z,rep-1,100.10,true\n"
        f"{prefix}-2,{prefix}2,Opportunity,not-a-time,rep-1,5,false\n"
        f"{prefix}-3,{prefix}3,Opportunity,1768471200000,rep-2,7.5,true\n"
        f"{prefix}-4,{prefix}4\n")
    writer = ingest_issuer.client_token("attain-ingest-client")  # ingest:write only
    with ingest_server(kafka_bootstrap, ingest_issuer.url) as url:
        # refused without credentials, and with a person's token (no scope): nothing published
        with pytest.raises(SystemExit) as done:
            main(["ingest", "backfill", str(csv_file), "--url", url])
        assert done.value.code == 2 and "needs a client-credentials token" in capsys.readouterr().err
        assert ingest_backfill(csv_file, url, ingest_issuer.sign_in("ae-in-01"), None, None) == 1
        assert "ingest refused the backfill (403)" in capsys.readouterr().out
        assert changes_with_prefix(kafka_bootstrap, prefix) == []

        assert ingest_backfill(csv_file, url, writer, None, None) == 4  # partly rejected
        out = capsys.readouterr().out
        assert f"{csv_file}:3: commit_timestamp: 'not-a-time'" in out and f"{csv_file}:5:" in out
        assert "2 accepted, 2 rejected" in out
        assert sorted(r["record_id"] for r in changes_with_prefix(kafka_bootstrap, prefix)) == [
            f"{prefix}1", f"{prefix}3"]
        letters = read_topic(kafka_bootstrap, topics.CRM_CHANGES_DLQ,
                             lambda d: d["source"].startswith(f"backfill:{csv_file.name}:"))
        assert sorted(d["source"] for d in letters) == [f"backfill:{csv_file.name}:3", f"backfill:{csv_file.name}:5"]
        assert {d["original"].split(b"\n")[0] for d in letters} == {  # each row kept under its CSV header
            b"event_id,record_id,object_type,commit_timestamp,owner_id,amount,is_won"}

        # A dead letter whose original is valid now (e.g. refused by a rule since relaxed) is re-driven by replay.
        async def dead_letter_a_valid_event() -> None:
            producer = AsyncProducer(producer_config(KafkaSettings(bootstrap=kafka_bootstrap)),
                                     asyncio.get_running_loop())
            await Publisher(producer).reject(json.dumps(event(f"{prefix}R")).encode(), "refused by an old rule",
                                             "validation_error", f"http#{prefix}")
            producer.close()

        asyncio.run(dead_letter_a_valid_event())
        main_args = ["dlq", "--bootstrap", kafka_bootstrap]
        with pytest.raises(SystemExit) as done:
            main([*main_args, "list", "--source-prefix", "http#" + prefix])
        assert done.value.code == 0
        listed = capsys.readouterr().out
        assert "refused by an old rule" in listed
        position = next(line.split("\t")[0] for line in listed.splitlines() if "\tvalidation_error\t" in line)
        with pytest.raises(SystemExit) as done:
            main([*main_args, "show", position])
        assert done.value.code == 0
        assert f'"record_id": "{prefix}R"' in capsys.readouterr().out
        replay = [*main_args, "replay", "--source-prefix", "http#" + prefix, "--url", url]
        # ingest:write is not dlq:replay: refused, nothing re-driven
        with pytest.raises(SystemExit) as done:
            main([*replay, "--token", writer])
        assert done.value.code == 1 and "ingest refused the replay (403)" in capsys.readouterr().out
        assert [r for r in changes_with_prefix(kafka_bootstrap, prefix) if r["record_id"] == f"{prefix}R"] == []
        # the operator client, its token fetched from the issuer with a secret kept in a file
        secret = tmp_path / "operator.secret"
        secret.write_text(ingest_issuer.init()["attain-operator"])
        with pytest.raises(SystemExit) as done:
            main([*replay, "--client-id", "attain-operator", "--client-secret-file", str(secret),
                  "--issuer", ingest_issuer.url])
        assert done.value.code == 0
    assert "1 replayed into crm.changes, 0 rejected again, 0 skipped" in capsys.readouterr().out
    (replayed,) = [r for r in changes_with_prefix(kafka_bootstrap, prefix) if r["record_id"] == f"{prefix}R"]
    assert (replayed["event_id"], replayed["source"]) == (f"{prefix}R-e", "dlq-replay")
    # the dead letter stays on the DLQ after its replay: listed by the same function the CLI calls
    assert dlq_command(build_parser().parse_args(
        ["dlq", "--bootstrap", kafka_bootstrap, "list", "--source-prefix", "http#" + prefix, "--format", "json"])) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(d["error_code"], d["source"]) for d in listed["dead_letters"]] == [("validation_error", f"http#{prefix}")]
