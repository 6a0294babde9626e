"""CRM fidelity (issue 14 item 6): OpportunitySplit records as split members, and who changed a deal."""

import io
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from fastavro import schemaless_writer
from hypothesis import given, settings
from hypothesis import strategies as st

from attain.contracts.crm_changes import change_from_avro, normalise
from attain.core.earnings import compute_period_earnings
from attain.core.records import apply_change, state_from_json, state_to_json
from attain.platform.avro import MARKER, contract, schema_fingerprint
from services.ingest.salesforce.changes import EventSchema, UnknownSplitParent, canonical_items
from services.ingest.salesforce.mapping import load_mapping, parse_mapping
from tests.fakes import cdc_events as cdc
from tests.unit.plan_helpers import book, credits_of, record, roles_and_bookings

MAPPING = load_mapping(Path(__file__).parents[2] / "examples/salesforce/mapping.yaml")
SPLITS = EventSchema.from_json(cdc.SPLIT_SCHEMA_ID, cdc.SPLIT_SCHEMA)
CHANNEL = "/data/OpportunitySplitChangeEvent"
ORG = book(roles_and_bookings(when="{stage: Closed Won}", credit_to="[split]") + """plans:
  - id: ae
    currency: INR
    components:
      - {id: commission, measure: bookings, roles: [split], rate: 0.1}
participants:
  - {id: a1, plan: ae, quota: 1000}
  - {id: a2, plan: ae, quota: 1000}
  - {id: se, plan: ae, quota: 1000}
""")


def split_items(event, parents, mapping=MAPPING):
    payload = cdc.encode(cdc.SPLIT_SCHEMA, event)
    return canonical_items(SPLITS.decode_payload(payload), SPLITS, mapping, CHANNEL, b"\x00" * 8, parents)


def test_split_create_update_and_delete_become_member_fields_of_the_opportunity():
    parents: dict[str, str] = {}
    (created,) = split_items(cdc.split_event(["049A1"], "CREATE", {
        "OpportunityId": "006X", "SplitOwnerId": "a1", "SplitPercentage": 60.0, "SplitTypeId": "rev"},
        transaction_key="t1", change_origin="com/salesforce/api/rest/60.0"), parents)
    assert (created["record_id"], created["object_type"], created["change_type"]) == ("006X", "Opportunity", "UPDATE")
    assert created["fields"] == {"splits.049A1.rep_id": "a1", "splits.049A1.percent": Decimal("60.0")}
    assert created["event_id"] == "sf:t1:1:049A1"
    assert (created["change_origin"], created["commit_user"]) == ("com/salesforce/api/rest/60.0", "005000000000001AAA")
    assert parents == {"049A1": "006X"}

    (changed,) = split_items(cdc.split_event(["049A1"], "UPDATE", {"SplitPercentage": 45.5}, transaction_key="t2"),
                             parents)
    assert (changed["record_id"], changed["fields"]) == ("006X", {"splits.049A1.percent": Decimal("45.5")})

    (deleted,) = split_items(cdc.split_event(["049A1"], "DELETE", transaction_key="t3"), parents)
    assert deleted["fields"] == {"splits.049A1.rep_id": None, "splits.049A1.percent": None}


def test_a_split_change_without_its_opportunity_asks_for_the_parent_instead_of_guessing():
    with pytest.raises(UnknownSplitParent) as missing:
        split_items(cdc.split_event(["049B1", "049B2"], "UPDATE", {"SplitPercentage": 10.0}), {"049B1": "006X"})
    assert missing.value.split_ids == ["049B2"]


def test_split_types_outside_the_configured_ones_are_not_forwarded():
    mapping = parse_mapping({"objects": {"OpportunitySplit": {"splits_of": "Opportunity", "split_types": ["rev"]}}})
    event = cdc.split_event(["049C1"], "CREATE", {"OpportunityId": "006X", "SplitOwnerId": "se",
                                              "SplitPercentage": 50.0, "SplitTypeId": "overlay"})
    assert split_items(event, {}, mapping) == []


def test_credits_move_with_split_records_create_change_percentage_delete():
    opportunity = record("006X", version=1, stage="Closed Won", amount="1000", currency="INR",
                         close_date="2026-01-10", owner_id="a1")
    split_a = record("006X", version=2, **{"splits.049A.rep_id": "a1", "splits.049A.percent": Decimal(60)})
    split_b = record("006X", version=3, **{"splits.049B.rep_id": "a2", "splits.049B.percent": Decimal(40)})
    assert {c.rep_id: c.amount for c in credits_of(ORG, opportunity)} == {"a1": Decimal(1000)}  # fallback: owner
    assert {c.rep_id: c.amount for c in credits_of(ORG, opportunity, split_a, split_b)} == {
        "a1": Decimal(600), "a2": Decimal(400)}
    b_changed = record("006X", version=4, **{"splits.049B.percent": Decimal("25.5")})
    assert {c.rep_id: c.amount for c in credits_of(ORG, opportunity, split_a, split_b, b_changed)} == {
        "a1": Decimal(600), "a2": Decimal("255.0")}
    a_deleted = record("006X", version=5, **{"splits.049A.rep_id": None, "splits.049A.percent": None})
    assert {c.rep_id: c.amount for c in credits_of(ORG, opportunity, split_b, b_changed, a_deleted, split_a)} == {
        "a2": Decimal("255.0")}  # order does not matter: the delete is newer than the create


def test_the_json_splits_field_still_wins_when_it_is_set():
    opportunity = record("006Y", version=1, stage="Closed Won", amount="1000", currency="INR",
                         close_date="2026-01-10", owner_id="a1", splits='[{"rep_id": "se", "percent": 100}]')
    split_a = record("006Y", version=2, **{"splits.049A.rep_id": "a1", "splits.049A.percent": Decimal(60)})
    assert {c.rep_id: c.amount for c in credits_of(ORG, opportunity, split_a)} == {"se": Decimal(1000)}


def test_change_origin_and_commit_user_reach_the_credit_and_the_explanation_trace():
    item = {"event_id": "e1", "record_id": "006Z", "object_type": "Opportunity", "change_type": "CREATE",
            "commit_timestamp": "2026-01-10T09:00:00Z", "change_origin": "com/salesforce/api/soap/60.0;client=DL",
            "commit_user": "005U1",
            "fields": {"stage": "Closed Won", "amount": Decimal(2000), "currency": "INR", "close_date": "2026-01-10",
                       "owner_id": "a1"}}
    change = change_from_avro(normalise(item, "http", 0))
    state = apply_change(None, change)
    assert state_from_json(state_to_json(state)) == state
    (credit,) = credits_of(ORG, change)
    assert credit.changed_by == ("com/salesforce/api/soap/60.0;client=DL", "005U1")
    (component,) = compute_period_earnings(ORG, "a1", "2026-Q1", [credit]).components
    (line,) = component.lines
    assert line.describe() == ("006Z split 2026-01-10: 2000 INR = 2000, earns 200.0 "
                               "[last changed by 005U1 via com/salesforce/api/soap/60.0;client=DL, event e1]")


def test_an_older_change_does_not_take_over_who_changed_the_deal():
    newer = replace(record("006W", version=5, amount="10"), commit_user="005NEW")
    older = replace(record("006W", version=2, amount="5"), commit_user="005OLD")
    assert apply_change(apply_change(None, newer), older).changed_by == ("", "005NEW")
    assert apply_change(apply_change(None, older), newer).changed_by == ("", "005NEW")


def test_a_v1_crm_changes_message_reads_with_no_origin_or_user_and_v2_round_trips():
    codec = contract("crm.changes")
    v1 = codec.versions[0]
    record_v1 = {"event_id": "e", "record_id": "r", "object_type": "Opportunity", "change_type": "UPDATE",
                 "commit_timestamp": 5, "commit_number": 0, "sequence": 0, "transaction_key": None,
                 "fields": {}, "source": "http", "ingested_at": 6}
    body = io.BytesIO()
    schemaless_writer(body, v1, record_v1)
    old = codec.decode(MARKER + schema_fingerprint(v1) + body.getvalue())
    assert (old["change_origin"], old["commit_user"]) == (None, None)
    assert (change_from_avro(old).change_origin, change_from_avro(old).commit_user) == ("", "")
    new = codec.decode(codec.encode({**record_v1, "change_origin": "o", "commit_user": "u"}))
    assert (new["change_origin"], new["commit_user"]) == ("o", "u")


def test_an_opportunity_event_carries_its_origin():
    event = cdc.opportunity_event(["006Q"], "UPDATE", values={"StageName": "Closed Lost"}, change_origin="client=UI")
    schema = EventSchema.from_json(cdc.OPPORTUNITY_SCHEMA_ID, cdc.OPPORTUNITY_SCHEMA)
    (item,) = canonical_items(schema.decode_payload(cdc.encode(cdc.OPPORTUNITY_SCHEMA, event)), schema, MAPPING,
                              "/data/OpportunityChangeEvent", b"\x00" * 8)
    assert (item["change_origin"], item["commit_user"]) == ("client=UI", "005000000000001AAA")


SPLIT_CHANGES = [
    record("006V", version=1, stage="Closed Won", amount="1000", currency="INR", close_date="2026-01-10",
           owner_id="a1"),
    record("006V", version=2, **{"splits.049A.rep_id": "a1", "splits.049A.percent": Decimal(60)}),
    record("006V", version=3, **{"splits.049B.rep_id": "a2", "splits.049B.percent": Decimal(40)}),
    record("006V", version=4, **{"splits.049B.percent": Decimal(30)}),
    record("006V", version=5, **{"splits.049A.rep_id": None, "splits.049A.percent": None}),
    record("006V", version=6, **{"splits.049C.rep_id": "se", "splits.049C.percent": Decimal(70)}),
    record("006V", version=7, **{"splits.049C.rep_id": "a1"}),
]


@settings(max_examples=60, deadline=None)
@given(st.permutations(SPLIT_CHANGES), st.lists(st.sampled_from(SPLIT_CHANGES), max_size=4))
def test_split_records_credit_the_same_in_any_order_and_with_duplicates(order, again):
    """Creates, percentage changes, owner changes and deletes of splits, shuffled and redelivered: the
    credits are those of the newest value of each split field (a2 30%, a1 70% through split C)."""
    credits = credits_of(ORG, *order, *again)
    assert {c.rep_id: c.amount for c in credits} == {"a1": Decimal(700), "a2": Decimal(300)}
