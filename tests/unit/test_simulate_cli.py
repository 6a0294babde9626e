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
    # retroactive: 971,509 credited on a 600,000 quota reaches the 120%+ tier: x 7.5% = 72,863.175
    assert commission == {"component_id": "commission", "credited_value": "971509.00", "quota": "600000.00",
                          "attainment_ratio": "1.6192", "tier": "accelerated", "earned_amount": "72863.18",
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
    assert next(r for r in totals if r["rep_id"] == "ae-sg-01")["earned_amount"] == "72863.18"


def test_explain_prints_records_tier_and_rounding(capsys):
    text = run(capsys, "explain", *ARGS, "--rep", "ae-sg-01")
    assert "tier accelerated (retroactive): 971509 x 0.075 = 72863.175" in text
    assert "rounded half-up to 72863.18 SGD" in text
    assert text.count(" split 2026-") == 9
