"""`attain simulate` and `attain explain` on the shipped example org."""

import csv
import io
import json
from decimal import Decimal

import pytest

from cli.main import main

ARGS = ["--plans", "examples/apac", "--events", "examples/apac/events.jsonl", "--period", "2026-Q1"]


def run(capsys, *argv):
    with pytest.raises(SystemExit) as done:
        main(list(argv))
    assert done.value.code == 0
    return capsys.readouterr().out


def test_json_output_is_the_documented_format_and_totals_are_sums_of_components(capsys):
    data = json.loads(run(capsys, "simulate", *ARGS, "--format", "json"))
    assert data["format"] == "attain.simulate/v1" and data["period"] == "2026-Q1"
    singapore = next(p for p in data["participants"] if p["rep_id"] == "ae-sg-01")
    assert set(singapore) == {"rep_id", "name", "period", "plan_id", "plan_version", "currency", "total_earned",
                              "components"}
    assert singapore["currency"] == "SGD"
    (commission,) = singapore["components"]
    # retroactive: 732,000 credited on a 600,000 quota (122%) reaches the 120%+ tier: x 6.5% = 47,580
    assert commission == {"component_id": "commission", "credited_value": "732000.00", "quota": "600000.00",
                          "attainment_ratio": "1.2200", "tier": "accelerated", "earned_amount": "47580.00",
                          "source_record_count": 9}
    for participant in data["participants"]:
        assert Decimal(participant["total_earned"]) == sum(
            Decimal(c["earned_amount"]) for c in participant["components"])


def test_csv_output_has_a_total_row_per_participant_and_plan_period(capsys):
    rows = list(csv.DictReader(io.StringIO(run(capsys, "simulate", *ARGS, "--format", "csv"))))
    totals = [row for row in rows if row["component_id"] == "TOTAL"]
    assert len({row["rep_id"] for row in rows}) == 19  # everyone in the org has a plan in Q1
    assert len(totals) == len({(row["rep_id"], row["period"]) for row in rows})
    # monthly plans show their three months, a half-year plan its half
    assert [r["period"] for r in totals if r["rep_id"] == "sdr-apac-01"] == ["2026-01", "2026-02", "2026-03"]
    assert [r["period"] for r in totals if r["rep_id"] == "csm-in-01"] == ["2026-H1"]
    assert next(r for r in totals if r["rep_id"] == "ae-sg-01")["earned_amount"] == "47580.00"


def test_explain_prints_records_tier_and_rounding(capsys):
    text = run(capsys, "explain", *ARGS, "--rep", "ae-sg-01")
    assert "ae-sg-01 2026-Q1: plan ae-singapore v1, total SGD47,580.00" in text
    assert "tier accelerated (retroactive): 732,000 x 0.065 = 47,580.000" in text
    assert "rounded half-up to 47,580.00 SGD" in text
    assert text.count(" split 2026-") == 9


def test_the_table_shows_amounts_at_the_minor_unit_grouped_for_the_reader(capsys):
    table = run(capsys, "simulate", *ARGS, "--locale", "en-IN")
    # Budi Santoso (IDR, ISO 4217: 2 decimals) in lakh/crore grouping; Haruto Sato (JPY) without decimals
    assert "4,60,30,00,000.00" in table and "13,16,20,000.00" in table
    assert "7,13,100" in table and "713,100.00" not in table
    assert "122.0%" in table  # ae-sg-01's attainment, one decimal


def test_explain_of_a_count_component_shows_no_quota_and_a_bonus_without_noise(capsys):
    text = run(capsys, "explain", *ARGS, "--rep", "ae-in-03", "--locale", "en-IN")
    logos = text.split("ae-india@v1:new_logo_bonus:")[1].split("\n  ae-india@v1:attainment_bonus")[0]
    assert "credited " in logos and "quota" not in logos and "attainment" not in logos
    # 28,960,000 credited on a 27,533,333.33 quota (105.2%) clears the 100% bonus: 10% of the 900,000
    # target prorated to the v1 segment (59 of 90 days): 59,000 exactly, not 59000.0000000000000000000
    assert "bonus at attainment 100.0%: +59,000.00" in text
    assert "earned ₹59,000.00" in text
