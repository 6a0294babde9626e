"""CRM fidelity against the fake Salesforce (Pub/Sub and REST) and the real broker: OpportunitySplit records
move credits; gap events and a refused replay id re-read the affected records, so an outage misses no change."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from attain.contracts.crm_changes import change_from_avro
from attain.core.crediting import credits_for
from attain.core.records import apply_change
from services.ingest import metrics
from tests.fakes.cdc_events import (
    OPPORTUNITY_SCHEMA,
    OPPORTUNITY_SCHEMA_ID,
    SPLIT_SCHEMA,
    SPLIT_SCHEMA_ID,
    encode,
    opportunity_event,
    split_event,
)
from tests.fakes.pubsub_server import FakeSalesforce
from tests.integration.salesforce_support import changes_with_prefix, rsa_key_pair, run_subscriber, unique
from tests.unit.test_crm_fidelity import ORG  # the split-crediting plan of the unit examples

PRIVATE_KEY, PUBLIC_KEY = rsa_key_pair()


@pytest.fixture(scope="module")
def sf() -> Iterator[FakeSalesforce]:
    with FakeSalesforce(PUBLIC_KEY) as fake:
        yield fake


def credits_after(records: list[dict]) -> dict[str, Decimal]:
    state = None
    for record in records:
        state = apply_change(state, change_from_avro(record))
    return {credit.rep_id: credit.amount for credit in credits_for(state, ORG)}


def rest_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def test_split_records_create_change_and_delete_move_the_credits(sf, kafka_bootstrap, tmp_path):
    opp, channel = unique("006P"), "/data/ChangeEvents"
    a, b, c = unique("049A"), unique("049B"), unique("049C")
    sf.oauth.records["OpportunitySplit"] = {c: {"Id": c, "OpportunityId": opp, "IsDeleted": False}}

    def split(ids, change_type, values, n):
        return encode(SPLIT_SCHEMA, split_event(ids, change_type, values, transaction_key=f"{opp}-{n}",
                                                commit_number=n, change_origin="client=SplitsUI"))

    sf.pubsub.append(channel, OPPORTUNITY_SCHEMA_ID, [encode(OPPORTUNITY_SCHEMA, opportunity_event(
        [opp], "CREATE", values={"OwnerId": "a1", "Amount": 1000.0, "StageName": "Closed Won", "CloseDate": 20463,
                                 "CurrencyIsoCode": "INR"}, transaction_key=f"{opp}-0", commit_number=0))])
    sf.pubsub.append(channel, SPLIT_SCHEMA_ID, [
        split([a], "CREATE", {"OpportunityId": opp, "SplitOwnerId": "a1", "SplitPercentage": 60.0}, 1),
        split([b], "CREATE", {"OpportunityId": opp, "SplitOwnerId": "a2", "SplitPercentage": 40.0}, 2),
        split([b], "UPDATE", {"SplitPercentage": 25.5}, 3),
        split([a], "DELETE", {}, 4),
        split([c], "UPDATE", {"SplitOwnerId": "se", "SplitPercentage": 10.0}, 5),  # parent unknown: asked of REST
    ])
    run_subscriber(sf, kafka_bootstrap, PRIVATE_KEY, channel, tmp_path / "replay.json", reconcile=True,
                   until=lambda: len(changes_with_prefix(kafka_bootstrap, opp)) >= 6)

    records = changes_with_prefix(kafka_bootstrap, opp)  # one key, one partition: in the order published
    assert [r["record_id"] for r in records] == [opp] * 6
    assert {r["change_origin"] for r in records[1:]} == {"client=SplitsUI"}
    steps = [credits_after(records[:n]) for n in range(1, 7)]
    assert steps == [
        {"a1": Decimal("1000")},  # no split records yet: the owner (fallback)
        {"a1": Decimal("600.0")},
        {"a1": Decimal("600.0"), "a2": Decimal("400.0")},
        {"a1": Decimal("600.0"), "a2": Decimal("255.0")},
        {"a2": Decimal("255.0")},
        {"a2": Decimal("255.0"), "se": Decimal("100.0")},
    ]
    assert any(f"Id IN ('{c}')" in query for query in sf.oauth.queries)


def test_gap_events_re_read_their_records_from_the_rest_api(sf, kafka_bootstrap, tmp_path):
    prefix, channel = unique("006G"), "/data/OpportunityChangeEvent"
    changed_at = rest_time(datetime(2026, 1, 20, 8, 30, tzinfo=UTC))
    sf.oauth.records["Opportunity"] = {
        f"{prefix}1": {"Id": f"{prefix}1", "IsDeleted": False, "SystemModstamp": changed_at,
                       "LastModifiedById": "005ADMIN", "OwnerId": "a1", "Amount": 2500.5, "IsWon": True,
                       "CloseDate": "2026-01-12", "CurrencyIsoCode": "INR", "StageName": "Closed Won",
                       "AccountId": None, "SDR__c": None},
        f"{prefix}2": {"Id": f"{prefix}2", "IsDeleted": True, "SystemModstamp": changed_at,
                       "LastModifiedById": "005ADMIN"},
    }
    sf.pubsub.append(channel, OPPORTUNITY_SCHEMA_ID, [
        encode(OPPORTUNITY_SCHEMA, opportunity_event([f"{prefix}1"], "GAP_UPDATE", transaction_key=f"{prefix}-g1")),
        encode(OPPORTUNITY_SCHEMA, opportunity_event([f"{prefix}2"], "GAP_DELETE", transaction_key=f"{prefix}-g2")),
    ])
    gaps, rereads = metrics.GAPS.labels(channel), metrics.REREADS.labels(channel, "gap", "ok")
    gaps_before, rereads_before = gaps._value.get(), rereads._value.get()
    run_subscriber(sf, kafka_bootstrap, PRIVATE_KEY, channel, tmp_path / "replay.json", reconcile=True,
                   until=lambda: len(changes_with_prefix(kafka_bootstrap, prefix)) >= 4)

    records = changes_with_prefix(kafka_bootstrap, prefix)
    reread = {r["record_id"]: r for r in records if r["event_id"].startswith("sf-reread:")}
    assert sorted(r["change_type"] for r in records if r["change_type"] == "GAP") == ["GAP", "GAP"]
    modstamp_ms = int(datetime(2026, 1, 20, 8, 30, tzinfo=UTC).timestamp() * 1000)
    first = reread[f"{prefix}1"]
    assert first["event_id"] == f"sf-reread:{prefix}1:{modstamp_ms}"
    assert (first["change_type"], first["change_origin"], first["commit_user"]) == (
        "UPDATE", "attain-reconcile:gap", "005ADMIN")
    assert first["fields"] == {"owner_id": '"a1"', "amount": "2500.5", "currency": '"INR"', "is_won": "true",
                               "stage": '"Closed Won"', "close_date": '"2026-01-12"', "account_id": "null",
                               "sdr_id": "null"}
    assert reread[f"{prefix}2"]["change_type"] == "DELETE"
    assert gaps._value.get() - gaps_before == 2 and rereads._value.get() - rereads_before == 2


def test_a_refused_replay_id_re_reads_every_record_changed_in_the_window(sf, kafka_bootstrap, tmp_path):
    prefix, channel = unique("006W"), "/data/OpportunityChangeEvent"
    now = datetime.now(UTC)
    row = {"IsDeleted": False, "LastModifiedById": "005U2", "OwnerId": "a2", "Amount": 700.0, "IsWon": True,
           "CloseDate": "2026-01-05", "CurrencyIsoCode": "INR"}
    sf.oauth.records["Opportunity"] = {
        f"{prefix}1": {**row, "Id": f"{prefix}1", "SystemModstamp": rest_time(now - timedelta(hours=80))},
        f"{prefix}2": {**row, "Id": f"{prefix}2", "SystemModstamp": rest_time(now - timedelta(days=30))},
    }
    sf.oauth.page_size = 1  # the window's answer comes in pages
    sf.pubsub.append(channel, OPPORTUNITY_SCHEMA_ID, [encode(OPPORTUNITY_SCHEMA, opportunity_event(
        [unique("006X")], "UPDATE", values={"StageName": "Prospecting"}, transaction_key=f"{prefix}-{n}"))
        for n in range(12)])
    replay_file = tmp_path / "replay.json"
    replay_file.write_text('{"/data/OpportunityChangeEvent": "0000000000000005"}')
    sf.pubsub.expire_retention(channel, 10)
    ok = metrics.REREADS.labels(channel, "replay_expired", "ok")
    before = ok._value.get()
    started = time.time()
    run_subscriber(sf, kafka_bootstrap, PRIVATE_KEY, channel, replay_file, policy="LATEST", reconcile=True,
                   until=lambda: len(changes_with_prefix(kafka_bootstrap, prefix)) >= 1)

    (reread,) = changes_with_prefix(kafka_bootstrap, prefix)  # the 30-day-old change is outside the window
    assert (reread["record_id"], reread["change_origin"]) == (f"{prefix}1", "attain-reconcile:replay_expired")
    assert reread["fields"]["owner_id"] == '"a2"'
    assert ok._value.get() - before == 1
    (window,) = [q for q in sf.oauth.queries if "SystemModstamp >=" in q]
    since = datetime.strptime(window.split(">= ")[1].split(" ")[0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(since.timestamp() - (started - 168 * 3600)) < 120  # the default look-back: nothing seen before
