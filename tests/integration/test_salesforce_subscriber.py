"""The Salesforce subscriber against a fake Pub/Sub API and the real broker: nothing lost, nothing doubled."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from cli.main import main
from services.ingest import metrics
from tests.fakes.cdc_events import (
    LEAD_SCHEMA,
    LEAD_SCHEMA_ID,
    OPPORTUNITY_SCHEMA,
    OPPORTUNITY_SCHEMA_ID,
    encode,
    header,
    opportunity_event,
)
from tests.fakes.pubsub_server import FakeSalesforce
from tests.integration.ingest_support import ingest_server
from tests.integration.salesforce_support import (
    MAPPING_FILE,
    changes_with_prefix,
    dead_letters_mentioning,
    rsa_key_pair,
    run_subscriber,
)

PRIVATE_KEY, PUBLIC_KEY = rsa_key_pair()


@pytest.fixture()
def sf() -> Iterator[FakeSalesforce]:
    with FakeSalesforce(PUBLIC_KEY, max_batch=25) as fake:
        yield fake


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8].upper()}"


def opportunity_payloads(prefix: str, count: int, start: int = 0) -> list[bytes]:
    return [encode(OPPORTUNITY_SCHEMA, opportunity_event(
        [f"{prefix}{n:05d}"], "UPDATE", values={"Amount": 1000.25 + n, "StageName": "Closed Won"},
        transaction_key=f"tx-{prefix}-{n}")) for n in range(start, start + count)]


def test_change_events_are_decoded_mapped_and_published_one_record_per_record_id(sf, kafka_bootstrap, tmp_path):
    prefix, channel = unique("006S"), "/data/OpportunityChangeEvent"
    payloads = [
        encode(OPPORTUNITY_SCHEMA, opportunity_event(
            [f"{prefix}1"], "CREATE", transaction_key=f"{prefix}-a",
            values={"OwnerId": "rep-1", "Amount": 125000.5, "IsWon": True, "CloseDate": 20498, "SDR__c": "sdr-9"})),
        encode(OPPORTUNITY_SCHEMA, opportunity_event(
            [f"{prefix}2", f"{prefix}3"], "UPDATE", values={"StageName": "Negotiation"}, nulled=["SDR__c"],
            transaction_key=f"{prefix}-b")),
        encode(OPPORTUNITY_SCHEMA, opportunity_event([f"{prefix}4"], "GAP_OVERFLOW", transaction_key=f"{prefix}-c")),
        encode(OPPORTUNITY_SCHEMA, opportunity_event([f"{prefix}5"], "DELETE", transaction_key=f"{prefix}-d")),
    ]
    sf.pubsub.append(channel, OPPORTUNITY_SCHEMA_ID, payloads)
    lead_prefix = unique("00QS")
    sf.pubsub.append("/data/LeadChangeEvent", LEAD_SCHEMA_ID, [encode(LEAD_SCHEMA, {
        "ChangeEventHeader": header("Lead", [f"{lead_prefix}1"], changed=["0x4", "1-0x02"],
                                    transaction_key=f"{lead_prefix}-l"),
        "Name": {"Salutation": None, "FirstName": "Grace", "LastName": None}, "Company": "Navy"})])

    run_subscriber(sf, kafka_bootstrap, PRIVATE_KEY, channel, tmp_path / "replay.json",
                   until=lambda: len(changes_with_prefix(kafka_bootstrap, prefix)) >= 5)
    run_subscriber(sf, kafka_bootstrap, PRIVATE_KEY, "/data/LeadChangeEvent", tmp_path / "replay.json",
                   until=lambda: len(changes_with_prefix(kafka_bootstrap, lead_prefix)) >= 1)

    records = {r["record_id"]: r for r in changes_with_prefix(kafka_bootstrap, prefix)}
    assert sorted(records) == [f"{prefix}{n}" for n in range(1, 6)]
    created = records[f"{prefix}1"]
    assert (created["change_type"], created["object_type"], created["source"]) == (
        "CREATE", "Opportunity", "salesforce:/data/OpportunityChangeEvent")
    assert created["fields"] == {"owner_id": '"rep-1"', "amount": "125000.5", "is_won": "true",
                                 "close_date": '"2026-02-14"', "sdr_id": '"sdr-9"'}
    assert created["event_id"] == f"sf:{prefix}-a:1:{prefix}1"
    for record_id in (f"{prefix}2", f"{prefix}3"):
        assert records[record_id]["fields"] == {"stage": '"Negotiation"', "sdr_id": "null"}
    assert (records[f"{prefix}4"]["change_type"], records[f"{prefix}4"]["fields"]) == ("GAP", {})
    assert records[f"{prefix}5"]["change_type"] == "DELETE"
    (lead,) = changes_with_prefix(kafka_bootstrap, lead_prefix)
    assert lead["fields"] == {"company": '"Navy"', "first_name": '"Grace"'}
    assert sf.pubsub.schema_calls == 2  # one GetSchema per schema id, then cached


def test_flow_control_never_receives_more_than_requested_and_resumes_from_the_stored_replay_id(
        sf, kafka_bootstrap, tmp_path):
    prefix, channel = unique("006F"), "/data/OpportunityChangeEvent"
    sf.pubsub.append(channel, OPPORTUNITY_SCHEMA_ID, opportunity_payloads(prefix, 300))
    replay_file = tmp_path / "replay.json"
    run_subscriber(sf, kafka_bootstrap, PRIVATE_KEY, channel, replay_file, batch_size=20, max_in_flight=60,
                   until=lambda: len(changes_with_prefix(kafka_bootstrap, prefix)) >= 300)
    assert sf.pubsub.over_delivery == 0
    assert all(0 < r.num_requested <= 20 for r in sf.pubsub.requests)
    assert len(sf.pubsub.requests) >= 300 // 20  # it asked batch by batch

    sf.pubsub.append(channel, OPPORTUNITY_SCHEMA_ID, opportunity_payloads(prefix, 50, start=300))
    run_subscriber(sf, kafka_bootstrap, PRIVATE_KEY, channel, replay_file,
                   until=lambda: len(changes_with_prefix(kafka_bootstrap, prefix)) >= 350)
    resumed = sf.pubsub.subscribes[-1]
    assert resumed.replay_preset == 2 and int.from_bytes(resumed.replay_id, "big") == 300  # CUSTOM, after #300
    records = changes_with_prefix(kafka_bootstrap, prefix)
    assert len(records) == 350 and len({r["event_id"] for r in records}) == 350


def test_an_expired_token_mid_stream_is_refreshed_and_no_event_is_lost(sf, kafka_bootstrap, tmp_path):
    prefix, channel = unique("006T"), "/data/OpportunityChangeEvent"
    sf.pubsub.append(channel, OPPORTUNITY_SCHEMA_ID, opportunity_payloads(prefix, 200))
    sf.pubsub.expire_token_at = sf.pubsub.delivered + 70
    refreshes_before = metrics.TOKEN_REFRESHES.labels("jwt", "ok")._value.get()
    run_subscriber(sf, kafka_bootstrap, PRIVATE_KEY, channel, tmp_path / "replay.json",
                   until=lambda: len({r["event_id"] for r in changes_with_prefix(kafka_bootstrap, prefix)}) >= 200)
    assert len(sf.oauth.issued) == 2
    assert metrics.TOKEN_REFRESHES.labels("jwt", "ok")._value.get() - refreshes_before == 2
    assert {r["record_id"] for r in changes_with_prefix(kafka_bootstrap, prefix)} == {
        f"{prefix}{n:05d}" for n in range(200)}


def test_a_login_outage_delays_the_subscription_without_losing_anything(sf, kafka_bootstrap, tmp_path):
    prefix, channel = unique("006O"), "/data/OpportunityChangeEvent"
    sf.pubsub.append(channel, OPPORTUNITY_SCHEMA_ID, opportunity_payloads(prefix, 40))
    sf.oauth.unavailable_for = 2
    before = metrics.RECONNECTS.labels(channel, "AUTH")._value.get()
    run_subscriber(sf, kafka_bootstrap, PRIVATE_KEY, channel, tmp_path / "replay.json",
                   until=lambda: len(changes_with_prefix(kafka_bootstrap, prefix)) >= 40)
    assert metrics.RECONNECTS.labels(channel, "AUTH")._value.get() - before == 2
    assert len({r["event_id"] for r in changes_with_prefix(kafka_bootstrap, prefix)}) == 40


def test_an_expired_replay_id_falls_back_to_the_policy_loudly(sf, kafka_bootstrap, tmp_path, caplog):
    prefix, channel = unique("006R"), "/data/OpportunityChangeEvent"
    sf.pubsub.append(channel, OPPORTUNITY_SCHEMA_ID, opportunity_payloads(prefix, 30))
    replay_file = tmp_path / "replay.json"
    replay_file.write_text('{"/data/OpportunityChangeEvent": "0000000000000005"}')
    sf.pubsub.expire_retention(channel, 10)  # replay id 5 is past retention
    before = metrics.REPLAY_FALLBACKS.labels(channel, "EARLIEST")._value.get()
    run_subscriber(sf, kafka_bootstrap, PRIVATE_KEY, channel, replay_file, policy="EARLIEST",
                   until=lambda: len(changes_with_prefix(kafka_bootstrap, prefix)) >= 20)
    assert metrics.REPLAY_FALLBACKS.labels(channel, "EARLIEST")._value.get() - before == 1
    assert any("REFUSED THE STORED REPLAY ID" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)
    assert sf.pubsub.subscribes[-1].replay_preset == 1  # EARLIEST
    assert {r["record_id"] for r in changes_with_prefix(kafka_bootstrap, prefix)} == {
        f"{prefix}{n:05d}" for n in range(10, 30)}
    assert replay_file.read_text() == '{"/data/OpportunityChangeEvent": "000000000000001e"}'


def test_malformed_avro_unknown_schema_and_unknown_object_are_dead_lettered_and_the_rest_published(
        sf, kafka_bootstrap, ingest_issuer, tmp_path, monkeypatch, capsys):
    prefix, channel = unique("006D"), "/data/ChangeEvents"
    good = opportunity_payloads(prefix, 3)
    account_schema_event = encode(OPPORTUNITY_SCHEMA, {
        **opportunity_event([f"{prefix}X"], "UPDATE", transaction_key=f"{prefix}-acct"),
        "ChangeEventHeader": header("Contract", [f"{prefix}X"], transaction_key=f"{prefix}-acct")})
    sf.pubsub.append(channel, OPPORTUNITY_SCHEMA_ID, [good[0], b"\x02\xff\xfe" + prefix.encode()])
    sf.pubsub.append(channel, "NoSuchSchema0001", [good[1]])
    sf.pubsub.append(channel, OPPORTUNITY_SCHEMA_ID, [account_schema_event, good[2]])
    source = "salesforce:/data/ChangeEvents"
    codes = ("undecodable", "unknown_schema", "unknown_object_type")
    rejected_before = {code: metrics.REJECTED.labels(source, code)._value.get() for code in codes}
    published_before = metrics.PUBLISHED.labels(source)._value.get()

    run_subscriber(sf, kafka_bootstrap, PRIVATE_KEY, channel, tmp_path / "replay.json",
                   until=lambda: len(changes_with_prefix(kafka_bootstrap, prefix)) >= 2
                   and len(dead_letters_mentioning(kafka_bootstrap, "salesforce:/data/ChangeEvents@")) >= 3)

    assert {r["record_id"] for r in changes_with_prefix(kafka_bootstrap, prefix)} == {
        f"{prefix}00000", f"{prefix}00002"}
    letters = {d["error_code"]: d for d in dead_letters_mentioning(kafka_bootstrap, "salesforce:/data/ChangeEvents@")
               if prefix in d["reason"] or prefix.encode() in d["original"]}
    assert set(letters) == {"undecodable", "unknown_schema", "unknown_object_type"}
    assert letters["undecodable"]["original"] == b"\x02\xff\xfe" + prefix.encode()
    position = f"salesforce:/data/ChangeEvents@0000000000000002/{OPPORTUNITY_SCHEMA_ID}"  # channel, replay id, schema
    assert letters["undecodable"]["source"] == position
    assert letters["undecodable"]["reason"].startswith(f"{position}: payload is not Avro")
    assert "NoSuchSchema0001" in letters["unknown_schema"]["reason"]
    assert letters["unknown_schema"]["original"] == good[1]
    assert "'Contract' is not in the field mapping" in letters["unknown_object_type"]["reason"]
    assert {code: metrics.REJECTED.labels(source, code)._value.get() - rejected_before[code] for code in codes} == {
        code: 1 for code in codes}
    assert metrics.PUBLISHED.labels(source)._value.get() - published_before == 2
    assert metrics.SALESFORCE_EVENTS.labels("/data/ChangeEvents")._value.get() >= 5

    # The fix for the unknown object: map it, then re-drive its dead letter (decoded again with its schema).
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING_FILE.read_text() + "  Contract:\n    object_type: Account\n    fields: {}\n")
    for name, value in {"PUBSUB_TARGET": sf.target, "PUBSUB_INSECURE": "true", "AUTH_FLOW": "client_credentials",
                        "LOGIN_URL": sf.login_url, "CLIENT_ID": sf.oauth.client_id, "CLIENT_SECRET": sf.oauth.secret,
                        "MAPPING_FILE": str(mapping)}.items():
        monkeypatch.setenv(f"ATTAIN_SALESFORCE_{name}", value)
    capsys.readouterr()
    # ingest re-drives it (it reads the letter and decodes it with its own ATTAIN_SALESFORCE_* settings)
    with ingest_server(kafka_bootstrap, ingest_issuer.url) as url, pytest.raises(SystemExit) as done:
        main(["dlq", "--bootstrap", kafka_bootstrap, "replay", "--error-code", "unknown_object_type",
              "--source-prefix", letters["unknown_object_type"]["source"], "--url", url,
              "--token", ingest_issuer.client_token("attain-operator")])
    assert done.value.code == 0, capsys.readouterr().out
    assert "1 replayed into crm.changes" in capsys.readouterr().out
    (redriven,) = [r for r in changes_with_prefix(kafka_bootstrap, prefix) if r["record_id"] == f"{prefix}X"]
    assert (redriven["object_type"], redriven["event_id"]) == ("Account", f"sf:{prefix}-acct:1:{prefix}X")
