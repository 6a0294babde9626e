"""Ingest's validation: every bad event gets a reason naming its field."""

from decimal import Decimal

import pytest

from attain.contracts.crm_changes import InvalidEvent, normalise, parse_json

GOOD = {
    "event_id": "evt-1", "record_id": "006A", "object_type": "Opportunity", "change_type": "UPDATE",
    "commit_timestamp": "2026-01-15T10:00:00+05:30", "commit_number": 3,
    "fields": {"amount": Decimal("125000.50"), "is_won": True, "stage": "closed_won", "lost_reason": None},
}


def test_a_valid_event_is_normalised_with_exact_json_field_values():
    record = normalise(GOOD, "http", 1_000)
    assert record["commit_timestamp"] == 1768451400000  # 04:30 UTC
    assert record["fields"] == {"amount": "125000.50", "is_won": "true", "stage": '"closed_won"',
                                "lost_reason": "null"}
    assert record["source"] == "http" and record["ingested_at"] == 1_000


def test_json_numbers_are_parsed_as_decimals_not_floats():
    assert parse_json('{"a": 0.1}')["a"] == Decimal("0.1")


@pytest.mark.parametrize("patch, field", [
    ({"event_id": ""}, "event_id"),
    ({"record_id": 42}, "record_id"),
    ({"object_type": "Invoice"}, "object_type"),
    ({"change_type": "MERGE"}, "change_type"),
    ({"commit_timestamp": "2026-01-15 10:00"}, "commit_timestamp"),
    ({"commit_timestamp": "yesterday"}, "commit_timestamp"),
    ({"commit_number": -1}, "commit_number"),
    ({"fields": {"amount": 1.5}}, "fields.amount"),
    ({"fields": {"lines": [1, 2]}}, "fields.lines"),
    ({"fields": "amount=5"}, "fields"),
    ({"amount": "5"}, "unknown top-level field"),
])
def test_each_invalid_event_is_refused_naming_the_field(patch, field):
    with pytest.raises(InvalidEvent, match=field):
        normalise({**GOOD, **patch}, "http", 0)


def test_a_non_object_is_refused():
    with pytest.raises(InvalidEvent, match="expected a JSON object"):
        normalise([1], "http", 0)
