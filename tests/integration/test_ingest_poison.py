"""Poison records against the real ingest HTTP app and a real broker: each refused alone, with its reason."""

from __future__ import annotations

import asyncio
import json
import uuid

from aiohttp.test_utils import TestClient, TestServer

from attain.platform import topics
from attain.platform.kafka import AsyncProducer, ensure_topics, producer_config
from attain.platform.settings import KafkaSettings
from services.ingest.app import build_app
from services.ingest.config import IngestSettings
from services.ingest.publisher import Publisher
from tests.integration.ingest_support import dev_token, dev_verifier
from tests.integration.salesforce_support import changes_with_prefix, read_topic


def post(bootstrap: str, bodies: list[bytes]) -> list[tuple[int, dict]]:
    async def run() -> list[tuple[int, dict]]:
        kafka = KafkaSettings(bootstrap=bootstrap)
        ensure_topics(kafka, [topics.CRM_CHANGES, topics.CRM_CHANGES_DLQ])
        producer = AsyncProducer(producer_config(kafka), asyncio.get_running_loop())
        settings = IngestSettings()
        app = build_app(Publisher(producer, settings.limits()), settings, verifier=dev_verifier())
        answers = []
        async with TestClient(TestServer(app)) as client:
            for body in bodies:
                response = await client.post("/v1/events", data=body, headers={"Content-Type": "application/json",
                                                                             "Authorization": f"Bearer {dev_token()}"})
                answers.append((response.status, await response.json()))
        producer.close()
        return answers

    return asyncio.run(run())


def test_a_batch_with_poison_records_answers_207_good_ones_flow_bad_ones_are_dead_lettered(kafka_bootstrap):
    prefix = f"006X{uuid.uuid4().hex[:8].upper()}"

    def item(n: int, **overrides: object) -> str:
        fields = {"owner_id": "r1", "amount": "100.00", "is_won": True, **overrides.pop("fields", {})}  # type: ignore[dict-item]
        return json.dumps({"event_id": f"{prefix}-{n}", "record_id": f"{prefix}{n}", "object_type": "Opportunity",
                           "commit_timestamp": "2026-01-15T10:00:00Z", "fields": fields, **overrides})

    # JSON text by hand: numbers beyond any float, and a lone surrogate, exactly as a client could send them
    batch = "[" + ",".join([
        item(0),
        item(1, fields={"amount": "1e26"}),
        item(2).replace('"100.00"', "1e26"),
        item(3).replace('"100.00"', "1e999999999"),
        item(4, commit_timestamp="0001-01-01T00:00:00+05:00"),
        item(5, commit_timestamp="9999-12-31T23:00:00-05:00"),
        item(6).replace('"commit_timestamp"', '"commit_number": ' + "1" + "0" * 30 + ', "commit_timestamp"'),
        item(7, fields={"name": "\ud800"}),
        item(8, fields={"notes": "x" * 1_000_000}),
        item(9),
    ]) + "]"
    (status, body), (deep_status, deep) = post(kafka_bootstrap, [batch.encode(), b"[" * 100_000 + b"]" * 100_000])

    assert status == 207, body
    assert (body["accepted"], body["rejected"]) == (2, 8)
    results = body["results"]
    assert [r["status"] for r in results] == [202] + [422] * 8 + [202]
    assert all(r["dead_lettered"] and r["error"] for r in results[1:9])
    assert "fields.amount" in results[1]["error"] and "beyond" in results[3]["error"]
    assert "commit_timestamp" in results[4]["error"] and "commit_number" in results[6]["error"]
    assert "not valid Unicode" in results[7]["error"] and "ATTAIN_INGEST_MAX_FIELD_CHARS" in results[8]["error"]
    assert deep_status == 400 and "nested too deeply" in deep["error"] and deep["dead_lettered"]

    assert sorted(r["record_id"] for r in changes_with_prefix(kafka_bootstrap, prefix)) == [f"{prefix}0", f"{prefix}9"]
    letters = read_topic(kafka_bootstrap, topics.CRM_CHANGES_DLQ, lambda d: prefix.encode() in d["original"])
    by_source = {letter["source"]: letter for letter in letters}
    assert sorted(by_source) == [f"http#{n}" for n in range(1, 9)]
    assert all(letter["error_code"] == "validation_error" and letter["reason"] for letter in letters)
    assert "original cut to its first" in by_source["http#8"]["reason"]
    assert by_source["http#1"]["reason"] == results[1]["error"]
