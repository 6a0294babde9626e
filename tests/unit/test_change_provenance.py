"""Who changed a deal (issue 14 item 6), from the CRM change to the earnings snapshot a ledger line books:
each snapshot names its CRM changes (earnings v4: event, deal, change origin, commit user)."""

import io
from dataclasses import replace
from decimal import Decimal

from fastavro import schemaless_writer

from attain.contracts.earnings import EarningsSnapshot, SourceChange
from attain.core.earnings import compute_period_earnings
from attain.core.plan_parser import parse_plan_book
from attain.platform.avro import MARKER, contract, schema_fingerprint
from attain.simulate import explain_json
from services.calculator.convert import snapshot_to_avro
from services.calculator.earnings_stage import apply_rep_messages
from services.calculator.limits import trigger_from_wire
from tests.unit.calculator_harness import Calculator, opp

BOOK = parse_plan_book({
    "plans": [{"id": "ae", "currency": "INR", "period": "quarter",
               "components": [{"id": "commission", "measure": "closed_won_amount", "rate": "0.1"}]}],
    "participants": [{"id": "r1", "plan": "ae", "quota": "1000"}],
})
DATALOADER = "com/salesforce/api/soap/60.0;client=DataLoader"


def won(event_id, deal, ts, amount, **who):
    return replace(opp(event_id, deal, ts, owner_id="r1", amount=Decimal(amount), is_won=True,
                       close_date="2026-02-10"), **who)


def test_the_snapshot_names_each_crm_change_behind_it_with_who_made_it_and_v4_carries_them():
    calc = Calculator(BOOK)
    calc.feed([won("e1", "006A", 1, 500, change_origin=DATALOADER, commit_user="005U1"), won("e2", "006B", 2, 300)])
    snapshot = calc.snapshots[-1]
    assert snapshot.earnings.total_earned == Decimal("80.00")  # (500 + 300) x 0.1
    assert snapshot.changes() == [SourceChange("e1", "006A", DATALOADER, "005U1"), SourceChange("e2", "006B")]
    codec = contract("earnings")
    wire = codec.decode(codec.encode(snapshot_to_avro(snapshot.earnings, snapshot.snapshot_version, 0,
                                                      snapshot.event_ids(), None, "", snapshot.changes())))
    assert wire["changes"][1] == {"event_id": "e2", "record_id": "006B", "change_origin": None, "commit_user": None}
    decoded = EarningsSnapshot.from_avro(wire)
    assert (decoded.trigger_event_ids, decoded.changes) == (("e1", "e2"), tuple(snapshot.changes()))

    calc.feed([won("e3", "006A", 3, 700, change_origin="client=UI", commit_user="005U2")])  # a later batch
    assert calc.snapshots[-1].changes() == [SourceChange("e3", "006A", "client=UI", "005U2")]


def test_a_v3_snapshot_reads_with_no_changes():
    codec = contract("earnings")
    v3 = codec.versions[2]
    record = {"rep_id": "r1", "period": "2026-Q1", "plan_id": "ae", "plan_version": 1, "currency": "INR",
              "snapshot_version": 7, "computed_at": 0, "total_earned": "5.00", "trigger_event_ids": ["e1"],
              "trigger_ingested_at": None, "lineage": "c/t/1",
              "components": [{"component_id": "commission", "credited_value": "50", "quota": None,
                              "attainment_ratio": None, "earned_amount": "5.00", "source_record_count": 1,
                              "kind": None}]}
    body = io.BytesIO()
    schemaless_writer(body, v3, record)
    old = EarningsSnapshot.from_avro(codec.decode(MARKER + schema_fingerprint(v3) + body.getvalue()))
    assert (old.trigger_event_ids, old.changes, old.lineage) == (("e1",), (), "c/t/1")


def test_a_credit_message_written_before_triggers_named_their_record_still_applies():
    assert trigger_from_wire(["e1", 5]) == ("e1", 5, "", "", "")
    assert trigger_from_wire(["e2", 6, "006A", "client=UI", "005U1"]) == ("e2", 6, "006A", "client=UI", "005U1")
    message = {"rep_id": "r1", "triggers": [["e1", 5]], "earliest": 5, "upserts": [{
        "record_id": "006A", "days": ["2026-02-10"], "credits": [{
            "record_id": "006A", "rep_id": "r1", "measure": "closed_won_amount", "credit_date": "2026-02-10",
            "amount": "500", "currency": "INR", "version": [1, 0, 0, "e1"]}]}]}
    (snapshot,) = apply_rep_messages("r1", [message], BOOK, 10, lambda month: None, lambda period: None).snapshots
    assert (snapshot.event_ids(), snapshot.changes()) == (["e1"], [])  # the event still named, no deal known
    assert snapshot.earnings.total_earned == Decimal("50.00")


def test_explain_names_who_last_changed_each_deal_and_in_which_event():
    calc = Calculator(BOOK)
    change = won("e9", "006A", 4, 500, change_origin=DATALOADER, commit_user="005U1")
    calc.feed([change])
    credits = [credit for record in calc.index.get("r1", "2026-02").values() for credit in record.credits]
    (component,) = compute_period_earnings(BOOK, "r1", "2026-Q1", credits).components
    (line,) = component.lines
    assert line.describe() == ("006A owner 2026-02-10: 500 INR = 500, earns 50.0 "
                               f"[last changed by 005U1 via {DATALOADER}, event e9]")
    (data,) = explain_json(compute_period_earnings(BOOK, "r1", "2026-Q1", credits))["components"][0]["lines"]
    assert (data["record_id"], data["changed_by"], data["event_id"]) == ("006A", [DATALOADER, "005U1"], "e9")
