"""Webhook signatures and backfill rows: the pure rules of the other doors into ingest."""

from decimal import Decimal

import pytest

from attain.contracts.crm_changes import InvalidEvent, normalise
from services.ingest.backfill import csv_rows, jsonl_rows
from services.ingest.salesforce.mapping import parse_mapping
from services.ingest.signatures import SignatureError, sign, verify

BODY = b'[{"event_id":"e1"}]'


def test_a_body_signed_with_a_configured_secret_verifies():
    verify(BODY, sign(BODY, "new", 1_000), ["old", "new"], now=1_000)


def test_rotation_accepts_any_of_several_signatures_in_the_header():
    header = sign(BODY, "old", 1_000) + ",v1=" + sign(BODY, "other", 1_000).split("v1=")[1]
    verify(BODY, header, ["other"], now=1_001)


@pytest.mark.parametrize("header, now, reason", [
    (None, 1_000, "missing"),
    ("sha256=abc", 1_000, "malformed"),
    (sign(BODY, "k", 1_000), 1_301, "stale"),
    (sign(BODY, "wrong", 1_000), 1_000, "mismatch"),
    (sign(BODY + b" ", "k", 1_000), 1_000, "mismatch"),
])
def test_an_unauthentic_request_is_refused_with_the_reason(header, now, reason):
    with pytest.raises(SignatureError) as refused:
        verify(BODY, header, ["k"], now=now)
    assert refused.value.reason == reason


CSV = (
    "event_id,record_id,object_type,change_type,commit_timestamp,commit_number,owner_id,amount,is_won,note\n"
    "e1,006A,Opportunity,UPDATE,2026-01-15T10:00:00Z,3,rep-1,125000.50,true,\n"
    "e2,006B,Opportunity,UPDATE,yesterday,0,rep-2,5,false,x\n"
    "e3,006C,Opportunity\n"
)


def test_csv_rows_become_canonical_items_with_exact_numbers_and_line_numbers():
    first, second, third = csv_rows(CSV)
    assert first.line == 2
    assert first.item == {"event_id": "e1", "record_id": "006A", "object_type": "Opportunity",
                          "change_type": "UPDATE", "commit_timestamp": "2026-01-15T10:00:00Z", "commit_number": 3,
                          "fields": {"owner_id": "rep-1", "amount": Decimal("125000.50"), "is_won": True}}
    assert normalise(first.item, "backfill:x.csv", 0)["fields"]["amount"] == "125000.50"
    with pytest.raises(InvalidEvent, match="commit_timestamp: 'yesterday'"):
        normalise(second.item, "backfill:x.csv", 0)
    assert third.line == 4
    with pytest.raises(InvalidEvent, match="has 3 cells, the header has 10"):
        normalise(third.item, "backfill:x.csv", 0)
    assert third.original.decode().splitlines() == [CSV.splitlines()[0], "e3,006C,Opportunity"]


def test_rows_without_an_event_id_get_one_from_their_content_so_a_second_load_adds_nothing():
    text = "record_id,object_type,commit_timestamp,amount\n006A,Opportunity,1768471200000,5\n"
    (once,), (again,) = list(csv_rows(text)), list(csv_rows(text))
    assert once.item["event_id"] == again.item["event_id"] and once.item["event_id"].startswith("bf:")
    assert normalise(once.item, "backfill", 0)["commit_timestamp"] == 1768471200000


def test_a_salesforce_export_maps_columns_through_the_field_mapping():
    mapping = parse_mapping({"objects": {"Opportunity": {"fields": {
        "Amount": {"to": "amount", "type": "decimal"}, "IsWon": {"to": "is_won", "type": "boolean"},
        "SDR__c": "sdr_id", "CloseDate": {"to": "close_date", "type": "date"}}}}})
    text = ("Id,Amount,IsWon,SDR__c,CloseDate,SystemModstamp\n"
            "006A,125000.50,true,005S,2026-02-14,2026-02-14T09:00:00.000+0000\n")
    (row,) = csv_rows(text, mapping, "Opportunity")
    record = normalise(row.item, "backfill:report.csv", 0)
    assert record["record_id"] == "006A"
    assert record["fields"] == {"amount": "125000.50", "is_won": "true", "sdr_id": '"005S"',
                                "close_date": '"2026-02-14"'}
    assert record["commit_timestamp"] == 1771059600000


def test_jsonl_lines_that_are_not_json_are_reported_with_their_line():
    rows = list(jsonl_rows(b'{"event_id": "a"}\n\nnot json\n'))
    assert [r.line for r in rows] == [1, 3]
    with pytest.raises(InvalidEvent, match="line is not JSON"):
        normalise(rows[1].item, "backfill", 0)
