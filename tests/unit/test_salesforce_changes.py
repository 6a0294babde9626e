"""A Salesforce change event becomes canonical items: one per record id, mapped fields only."""

from decimal import Decimal
from pathlib import Path

import pytest

from attain.contracts.crm_changes import normalise
from services.ingest.salesforce.changes import ChangeEventError, EventSchema, canonical_items
from services.ingest.salesforce.mapping import (
    FieldRule,
    FieldValueError,
    MappingError,
    UnmappedObject,
    convert,
    load_mapping,
    parse_mapping,
)
from tests.fakes.cdc_events import (
    LEAD_SCHEMA,
    LEAD_SCHEMA_ID,
    OPPORTUNITY_SCHEMA,
    OPPORTUNITY_SCHEMA_ID,
    encode,
    header,
    opportunity_event,
)

MAPPING = load_mapping(Path(__file__).parents[2] / "examples/salesforce/mapping.yaml")
OPPORTUNITY = EventSchema.from_json(OPPORTUNITY_SCHEMA_ID, OPPORTUNITY_SCHEMA)
LEAD = EventSchema.from_json(LEAD_SCHEMA_ID, LEAD_SCHEMA)
CHANNEL = "/data/OpportunityChangeEvent"
REPLAY = bytes.fromhex("00000000000a1b2c")


def items(event, schema=OPPORTUNITY):
    return canonical_items(schema.decode_payload(encode(schema_of(schema), event)), schema, MAPPING, CHANNEL, REPLAY)


def schema_of(schema):
    return OPPORTUNITY_SCHEMA if schema is OPPORTUNITY else LEAD_SCHEMA


def test_an_update_carries_only_the_changed_mapped_fields_with_exact_amounts():
    event = opportunity_event(["006A0000001"], values={"Amount": 125000.1, "StageName": "Closed Won",
                                                       "Description": "not mapped"})
    (item,) = items(event)
    assert item == {
        "event_id": "sf:tx-1:1:006A0000001", "record_id": "006A0000001", "object_type": "Opportunity",
        "change_type": "UPDATE", "commit_timestamp": 1_768_471_200_000, "commit_number": 10, "sequence": 1,
        "transaction_key": "tx-1", "fields": {"amount": Decimal("125000.1"), "stage": "Closed Won"},
        "commit_user": "005000000000001AAA",
    }
    assert normalise(item, "salesforce:/data/OpportunityChangeEvent", 5)["fields"] == {
        "amount": "125000.1", "stage": '"Closed Won"'}


def test_a_create_carries_every_mapped_field_that_has_a_value_including_custom_fields():
    values = {"OwnerId": "005REP1", "Amount": 99.99, "IsWon": True, "CloseDate": 20498, "SDR__c": "005SDR7",
              "CurrencyIsoCode": "EUR"}
    (item,) = items(opportunity_event(["006A1"], "CREATE", values=values))
    assert item["change_type"] == "CREATE"
    assert item["fields"] == {"owner_id": "005REP1", "amount": Decimal("99.99"), "is_won": True,
                              "close_date": "2026-02-14", "sdr_id": "005SDR7", "currency": "EUR"}


def test_nulled_fields_become_null_values():
    (item,) = items(opportunity_event(["006A1"], values={"StageName": "Prospecting"}, nulled=["SDR__c"]))
    assert item["fields"] == {"stage": "Prospecting", "sdr_id": None}


def test_one_event_naming_several_records_becomes_one_item_per_record_with_distinct_event_ids():
    result = items(opportunity_event(["006A1", "006A2", "006A3"], values={"StageName": "Closed Won"}))
    assert [i["record_id"] for i in result] == ["006A1", "006A2", "006A3"]
    assert len({i["event_id"] for i in result}) == 3
    assert all(i["fields"] == {"stage": "Closed Won"} for i in result)


def test_a_delete_carries_no_fields():
    (item,) = items(opportunity_event(["006A1"], "DELETE"))
    assert (item["change_type"], item["fields"]) == ("DELETE", {})


@pytest.mark.parametrize("gap", ["GAP_CREATE", "GAP_UPDATE", "GAP_DELETE", "GAP_UNDELETE", "GAP_OVERFLOW"])
def test_gap_events_mean_re_read_the_record(gap):
    (item,) = items(opportunity_event(["006A1"], gap, values={"Amount": 5.0}))
    assert (item["change_type"], item["fields"]) == ("GAP", {})


def test_an_overflow_without_record_ids_asks_to_re_read_every_record_of_the_object():
    (item,) = items(opportunity_event([], "GAP_OVERFLOW"))
    assert (item["record_id"], item["change_type"]) == ("*", "GAP")


def test_nested_compound_fields_map_with_parent_dot_child_names():
    event = {"ChangeEventHeader": header("Lead", ["00Q1"], changed=["0x4", "1-0x04"]),
             "Name": {"Salutation": None, "FirstName": "Ada", "LastName": "Lovelace"}, "Company": "Analytical"}
    (item,) = items(event, LEAD)
    assert item["object_type"] == "Lead"
    assert item["fields"] == {"company": "Analytical", "last_name": "Lovelace"}


def test_diff_fields_are_not_forwarded_as_values():
    event = opportunity_event(["006A1"], values={"StageName": "diff-text"})
    event["ChangeEventHeader"]["diffFields"] = event["ChangeEventHeader"]["changedFields"]
    assert items(event)[0]["fields"] == {}


def test_without_a_transaction_key_the_event_id_is_channel_and_replay_id():
    (item,) = items(opportunity_event(["006A1"], "GAP_UPDATE", transaction_key=""))
    assert item["event_id"] == "sf:/data/OpportunityChangeEvent:00000000000a1b2c:006A1"
    assert item["transaction_key"] is None


def test_an_object_missing_from_the_mapping_is_refused_naming_it():
    mapping = parse_mapping({"objects": {"Lead": {"fields": {}}}})
    event = OPPORTUNITY.decode_payload(encode(OPPORTUNITY_SCHEMA, opportunity_event(["006A1"])))
    with pytest.raises(UnmappedObject, match="'Opportunity' is not in the field mapping"):
        canonical_items(event, OPPORTUNITY, mapping, CHANNEL, REPLAY)


def test_bytes_that_are_not_the_schema_are_refused():
    with pytest.raises(ChangeEventError, match="not Avro of schema OppSchema_0001aBcD"):
        OPPORTUNITY.decode_payload(b"\x02\xff\xff\xff")


def test_trailing_bytes_after_a_valid_event_are_refused():
    payload = encode(OPPORTUNITY_SCHEMA, opportunity_event(["006A1"]))
    with pytest.raises(ChangeEventError, match="bytes left over"):
        OPPORTUNITY.decode_payload(payload + b"\x00\x00")


def test_an_event_without_a_change_event_header_is_refused():
    with pytest.raises(ChangeEventError, match="no ChangeEventHeader"):
        canonical_items({"Amount": 1.0}, OPPORTUNITY, MAPPING, CHANNEL, REPLAY)


def test_a_header_with_a_non_integer_commit_timestamp_is_refused_naming_it():
    event = opportunity_event(["006A1"])
    event["ChangeEventHeader"]["commitTimestamp"] = "2026-01-15"
    with pytest.raises(ChangeEventError, match="ChangeEventHeader.commitTimestamp is '2026-01-15'"):
        canonical_items(event, OPPORTUNITY, MAPPING, CHANNEL, REPLAY)


def test_a_bitmap_beyond_the_schema_is_refused_as_a_change_event_error():
    event = opportunity_event(["006A1"])
    event["ChangeEventHeader"]["changedFields"] = ["0xFFFF"]
    with pytest.raises(ChangeEventError, match="names position 11"):
        items(event)


@pytest.mark.parametrize("value, rule, expected", [
    (0.1, FieldRule("a", "decimal"), Decimal("0.1")),
    (1e20, FieldRule("a", "decimal"), Decimal("1E+20")),
    (7, FieldRule("a", "decimal"), Decimal("7")),
    (0, FieldRule("d", "date"), "1970-01-01"),
    ("2026-03-31", FieldRule("d", "date"), "2026-03-31"),
    (1_768_471_200_000, FieldRule("t", "datetime"), "2026-01-15T10:00:00Z"),
    (12, FieldRule("t", "text"), "12"),
    (2.5, FieldRule("x"), Decimal("2.5")),
    (None, FieldRule("x", "decimal"), None),
])
def test_values_convert_to_their_configured_types(value, rule, expected):
    assert convert(value, rule, "F") == expected


def test_a_value_of_the_wrong_type_is_refused_naming_the_field():
    with pytest.raises(FieldValueError, match="IsWon: 'yes' is not a valid boolean"):
        convert("yes", FieldRule("is_won", "boolean"), "IsWon")


@pytest.mark.parametrize("document, message", [
    ({}, "top-level 'objects:'"),
    ({"objects": {"Opportunity": {"fields": {"Amount": {"to": "amount", "type": "money"}}}}}, "type 'money'"),
    ({"objects": {"Opportunity": {"fields": {"Amount": 5}}}}, "objects.Opportunity.fields.Amount"),
])
def test_a_bad_mapping_file_is_refused_naming_the_place(document, message):
    with pytest.raises(MappingError, match=message):
        parse_mapping(document)
