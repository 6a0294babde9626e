"""Salesforce's bitmap fields decode to the field names at the set bit positions of the schema."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ingest.salesforce.bitmaps import BitmapError, FieldLayout, decode, set_bits
from tests.fakes.cdc_events import LEAD_SCHEMA, OPPORTUNITY_SCHEMA

OPPORTUNITY = FieldLayout.from_schema(OPPORTUNITY_SCHEMA)
LEAD = FieldLayout.from_schema(LEAD_SCHEMA)


def test_the_documented_example_bitmap_sets_bits_from_the_least_significant():
    # 0x650004E0 = 0110 0101 0000 0000 0000 0100 1110 0000
    assert set_bits("0x650004E0") == [5, 6, 7, 10, 24, 26, 29, 30]
    assert set_bits("0x1") == [0]
    assert set_bits("0x0") == []


def test_top_level_bitmap_names_opportunity_fields_by_schema_position():
    # positions: 0 header, 1 AccountId, 2 Name, 3 Amount, 4 StageName, ... 7 OwnerId, 10 SDR__c
    assert decode(["0x498"], OPPORTUNITY) == ["Amount", "StageName", "OwnerId", "SDR__c"]


def test_nested_n_hex_form_names_fields_of_the_compound_field():
    # Lead: 1 Name{Salutation, FirstName, LastName}, 2 Company; "1-0x06" = FirstName, LastName
    assert decode(["0x4", "1-0x06"], LEAD) == ["Company", "Name.FirstName", "Name.LastName"]


def test_an_event_with_only_nested_changes_has_no_top_level_element():
    assert decode(["1-0x04"], LEAD) == ["Name.LastName"]


def test_lowercase_hex_and_wide_bitmaps_decode():
    wide = FieldLayout.of([f"F{i}" for i in range(70)])
    assert decode([hex((1 << 69) | 1)], wide) == ["F0", "F69"]


@pytest.mark.parametrize("entries, message", [
    (["0x800"], "names position 11, but the schema has 11 fields"),
    (["650004E0"], "does not start with 0x"),
    (["0xZZ"], "not hexadecimal"),
    (["2-0x1"], "'Name' is not a compound field"),
    (["x-0x1"], "is not a field position"),
    (["1-0x8"], "names position 3, but the schema has 3 fields"),
])
def test_a_bitmap_that_does_not_fit_the_schema_is_refused_with_the_reason(entries, message):
    layout = OPPORTUNITY if entries != ["1-0x8"] else LEAD
    with pytest.raises(BitmapError, match=message):
        decode(entries, layout)

WIDE = FieldLayout.of([f"F{i}" for i in range(300)], {7: [f"N{i}" for i in range(40)]})


@given(st.sets(st.integers(0, 299)), st.sets(st.integers(0, 39)))
def test_any_set_of_positions_round_trips_through_its_hex_bitmap(top, nested):
    entries = [hex(sum(1 << p for p in top))] + ([f"7-{hex(sum(1 << p for p in nested))}"] if nested else [])
    assert decode(entries, WIDE) == [f"F{p}" for p in sorted(top)] + [f"F7.N{p}" for p in sorted(nested)]
