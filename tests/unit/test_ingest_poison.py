"""Ingest's validation never raises anything but a reason: every record is accepted or refused alone."""

import json
from decimal import Decimal

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from attain.contracts.crm_changes import DEFAULT_LIMITS, InvalidEvent, change_from_avro, parse_json
from attain.platform import topics
from attain.platform.avro import contract
from services.ingest.config import IngestSettings
from services.ingest.publisher import Publisher

VALIDATOR = Publisher(None, DEFAULT_LIMITS)  # type: ignore[arg-type]  # validate() never touches the producer
GOOD = {"event_id": "evt-1", "record_id": "006A", "object_type": "Opportunity", "change_type": "UPDATE",
        "commit_timestamp": "2026-01-15T10:00:00Z", "fields": {"amount": "125000.50", "owner_id": "r1"}}


@pytest.mark.parametrize("patch, reason", [
    ({"fields": {"amount": parse_json("1e26")}}, "fields.amount: Decimal('1E+26') is beyond"),
    ({"fields": {"amount": "1e26"}}, "fields.amount: '1e26' is beyond"),
    ({"fields": {"amount": "1e999999999"}}, "is beyond"),
    ({"fields": {"amount": parse_json("-1e999999999")}}, "is beyond"),
    ({"fields": {"amount": "NaN"}}, "not a finite number"),
    ({"fields": {"amount": "a lot"}}, "not an amount"),
    ({"fields": {"employees": 10**30}}, "fields.employees: 1000000000000000000000000000000 is beyond"),
    ({"commit_number": 10**30}, "commit_number: expected an integer from 0 to 9223372036854775807"),
    ({"sequence": 2**31}, "sequence: expected an integer from 0 to 2147483647"),
    ({"commit_timestamp": "0001-01-01T00:00:00+05:00"}, "outside 1970..9999"),
    ({"commit_timestamp": "9999-12-31T23:00:00-05:00"}, "outside 1970..9999"),
    ({"commit_timestamp": 10**20}, "outside 1970..9999"),
    ({"record_id": "006\ud800"}, "record_id: not valid Unicode"),
    ({"fields": {"name": "x\udfff"}}, "fields.name: not valid Unicode"),
    ({"fields": {"\ud800": "x"}}, "a field name: not valid Unicode"),
    ({"fields": {"notes": "x" * 1_000_000}}, "fields.notes: 1000000 characters, more than 131072"),
    ({"fields": {f"f{n}": n for n in range(1001)}}, "1001 fields, more than 1000"),
])
def test_the_testers_poison_records_are_refused_with_the_reason(patch, reason):
    with pytest.raises(InvalidEvent) as refused:
        VALIDATOR.validate({**GOOD, **patch}, "http", 0)
    assert reason in str(refused.value)


def test_a_record_too_big_for_a_message_is_refused_and_limits_come_from_settings():
    wide = {**GOOD, "fields": {f"notes{n}": "x" * 100_000 for n in range(10)}}
    with pytest.raises(InvalidEvent, match="more than 921600 .ATTAIN_INGEST_MAX_RECORD_BYTES"):
        VALIDATOR.validate(wide, "http", 0)
    settings = IngestSettings(max_number=Decimal("1e30"), amount_fields="amount, acv", max_field_chars=10)
    strict = Publisher(None, settings.limits())  # type: ignore[arg-type]
    assert strict.validate({**GOOD, "fields": {"amount": "1e26"}}, "http", 0)[0]["fields"] == {"amount": '"1e26"'}
    with pytest.raises(InvalidEvent, match="fields.acv: 'x' is not an amount"):
        strict.validate({**GOOD, "fields": {"acv": "x"}}, "http", 0)
    with pytest.raises(InvalidEvent, match="ATTAIN_INGEST_MAX_FIELD_CHARS"):
        strict.validate({**GOOD, "fields": {"owner_id": "a rep with a long id"}}, "http", 0)


def test_too_deep_json_is_a_reason_not_a_crash_and_long_integers_are_values():
    with pytest.raises(ValueError, match="nested too deeply"):
        parse_json("[" * 200_000 + "]" * 200_000)
    assert parse_json("1" + "0" * 5000) == Decimal("1" + "0" * 5000)  # no int-size error for the whole body
    beyond = parse_json('{"n": 1e9999999999999999999999}')["n"]  # no Decimal holds it: kept, refused per record
    with pytest.raises(InvalidEvent, match="fields.amount: the number '1e9999999999999999999999' is out of any range"):
        VALIDATOR.validate({**GOOD, "fields": {"amount": beyond}}, "http", 0)
    for name in ("event_id", "transaction_key"):
        with pytest.raises(InvalidEvent, match=name):
            VALIDATOR.validate({**GOOD, name: beyond}, "http", 0)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.decimals() | st.text(max_size=10)
    | st.sampled_from([10**30, -1, 2**63, Decimal("1e26"), Decimal("-1e999999999"), "\ud800", "x" * 200_000,
                       "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-01:00", "2026-01-15T10:00:00Z",
                       parse_json("1e9999999999999999999999")]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8)
items = st.one_of(
    json_values,
    st.fixed_dictionaries({}, optional={name: st.one_of(st.just(value), json_values) for name, value in
                                        {**GOOD, "commit_number": 1, "sequence": 0, "transaction_key": "t"}.items()}),
    st.builds(lambda values: {**GOOD, "fields": values}, st.dictionaries(st.text(max_size=6), json_values, max_size=4)),
    st.builds(lambda values: {**GOOD, "fields": values},  # scalars of every kind, mostly valid
              st.dictionaries(st.text(min_size=1, max_size=6), st.none() | st.booleans() | st.integers()
                              | st.decimals(allow_nan=False) | st.text(max_size=10), max_size=4)),
    st.builds(lambda name, value: {**GOOD, name: value},  # one field off a valid event
              st.sampled_from([*GOOD, "commit_number", "sequence", "transaction_key"]), json_values),
)


@settings(max_examples=300, deadline=None)
@given(items)
def test_any_json_item_is_accepted_or_refused_with_a_reason_never_an_exception(item):
    try:
        record, encoded = VALIDATOR.validate(item, "http", 0)
    except InvalidEvent as refused:
        assert str(refused)
        event("refused")
        return
    event("accepted")
    decoded = contract(topics.CRM_CHANGES).decode(encoded)  # what the calculator reads back
    change = change_from_avro(decoded)
    assert change.event_id == item["event_id"] and dict(change.fields) == record["fields"]
    for text in change.fields.values():
        json.loads(text)  # every field value is JSON text


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=50) | st.binary(max_size=50) | json_values.map(lambda v: json.dumps(v, default=str))
       | st.from_regex(r"-?[0-9]{1,3}(\.[0-9]{1,3})?[eE][+-]?[0-9]{1,25}", fullmatch=True))
def test_any_body_parses_or_is_refused_with_a_reason(body):
    try:
        parse_json(body)
    except ValueError as refused:
        assert str(refused)
