"""Lineage rules: which snapshots the ledger books, when a rebuild may be adopted, when a calculator may start."""

import doctest
import io
import json
from decimal import Decimal

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer

import attain.ledger.lineage as ledger_lineage
import services.calculator.lineage as calculator_lineage
import services.notifier.lineage as notifier_lineage
from attain.ledger.lineage import Decision, LineageError, check_adoption, compare, decide
from attain.platform.avro import contract
from attain.platform.schemas import schemas_dir
from services.calculator.lineage import LineageRecord, choose, start_check


@pytest.mark.parametrize("module", [ledger_lineage, calculator_lineage, notifier_lineage], ids=lambda m: m.__name__)
def test_docstring_examples_hold(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize(("adopted", "lineage", "expected"), [
    (None, "k/t/e1", Decision.ADOPT),
    (None, "", Decision.BOOK),
    ("k/t/e1", "k/t/e1", Decision.BOOK),
    ("k/t/e1", "k/t/e2", Decision.QUARANTINE),
    ("k/t/e1", "k2/t/e1", Decision.QUARANTINE),  # same epoch text on another cluster is another lineage
    ("k/t/e1", "", Decision.QUARANTINE),  # a v1 snapshot after lineages began: whose state? unknown
])
def test_the_ledger_books_only_the_adopted_lineage(adopted, lineage, expected):
    assert decide(adopted, lineage) is expected


def test_compare_finds_lower_rebuilt_totals_and_keys_never_rebuilt():
    booked = {("a", "Q1"): {"commission": Decimal("100.00"), "spiff": Decimal("5.00")},
              ("b", "Q1"): {"commission": Decimal("40.00")}}
    rebuilt = {("a", "Q1"): {"commission": Decimal("100.00"), "spiff": Decimal("5.00")}}
    found = compare(rebuilt, booked)
    assert [(d.rep_id, d.component_id, d.booked, d.rebuilt, d.delta, d.rebuilt_has_key) for d in found] == [
        ("b", "commission", Decimal("40.00"), Decimal(0), Decimal("-40.00"), False)]
    rebuilt[("b", "Q1")] = {"commission": Decimal("40.00")}
    assert compare(rebuilt, booked) == []


def test_adoption_needs_a_quarantined_rebuild_and_agreement_or_the_operators_word():
    differs = compare({("a", "Q1"): {"c": Decimal("1")}}, {("a", "Q1"): {"c": Decimal("2")}})
    with pytest.raises(LineageError, match="nothing of lineage"):
        check_adoption("k/t/e1", "k/t/e2", 0, [], False)
    with pytest.raises(LineageError, match="--post-differences"):
        check_adoption("k/t/e1", "k/t/e2", 1, differs, False)
    with pytest.raises(LineageError, match="cannot be adopted"):
        check_adoption("k/t/e1", "", 1, [], False)
    check_adoption("k/t/e1", "k/t/e2", 1, differs, True)  # allowed: differences become adjustments
    check_adoption(None, "k/t/e2", 1, [], False)


def test_calculator_over_empty_state_refuses_when_the_ledger_holds_another_lineage_and_names_the_recovery():
    refused = start_check("k/t/new", True, {"adopted": "k/t/old", "history": True}, rebuild=False)
    assert not refused.start
    assert "attain ledger adopt-lineage" in refused.message and "ATTAIN_CALCULATOR_REBUILD" in refused.message
    assert "k/t/old" in refused.message and "empty" in refused.message
    rebuilding = start_check("k/t/new", True, {"adopted": "k/t/old", "history": True}, rebuild=True)
    assert rebuilding.start and "quarantined" in rebuilding.message
    stale = start_check("k/t/mine", False, {"adopted": "k/t/other", "history": True}, rebuild=False)
    assert not stale.start and "intact" in stale.message


def test_a_calculator_without_the_ledger_url_starts_and_says_what_was_not_checked():
    check = start_check("k/t/e1", True, None, rebuild=False)
    assert check.start and "ATTAIN_CALCULATOR_LEDGER_URL" in check.message


def test_instances_agree_on_the_first_lineage_record_for_their_cluster_and_topic():
    records = [LineageRecord("calc", "k", "old-topic", "e0"), LineageRecord("calc", "k", "t", "e1"),
               LineageRecord("calc", "k", "t", "e2")]
    assert choose(records, "calc", "k", "t").epoch == "e1"
    assert choose(records, "calc", "k2", "t") is None  # a new cluster: a new lineage
    assert choose(records, "other-app", "k", "t") is None


def test_earnings_v1_data_reads_as_v2_with_an_empty_lineage():
    v1 = parse_schema(json.loads((schemas_dir() / "earnings" / "v1.avsc").read_text()))
    record = {"rep_id": "r", "period": "2026-Q1", "plan_id": "p", "plan_version": 1, "currency": "INR",
              "snapshot_version": 3, "computed_at": 0, "components": [], "total_earned": "0",
              "trigger_event_ids": [], "trigger_ingested_at": None}
    body = io.BytesIO()
    schemaless_writer(body, v1, record)
    body.seek(0)
    decoded = schemaless_reader(body, v1, contract("earnings").latest)  # what every reader resolves v1 data to
    assert decoded["lineage"] == "" and decoded["rep_id"] == "r"
    latest = contract("earnings").decode(contract("earnings").encode({**record, "lineage": "k/t/e1"}))
    assert latest["lineage"] == "k/t/e1"
