"""Golden scenarios: small plans whose payouts are worked out by hand (the arithmetic is in the
comments), run through the real pipeline (ingest -> calculator -> ledger, one stack for all of
them) and through the batch ``attain simulate``; both must equal the hand figures to the paisa.

The expected amounts are written here, not computed by ``attain.core``: a change in the engine's
arithmetic fails these tests instead of moving both sides of a comparison together. The plans are
in ``golden_plans.yaml``; each scenario has its own reps and record ids, so they share one stack.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert

from attain.embedded.stack import Stack
from services.ledger.db import make_engine
from services.ledger.schema import participants
from tests.e2e.conftest import bearer, post, run_stack, wait_drained
from tests.polling import budget, wait_until

PLANS = Path(__file__).with_name("golden_plans.yaml")
D = Decimal


def deal(record_id: str, owner: str, amount: str, close_date: str, currency: str = "INR",
         change: str = "CREATE", at: str = "2026-03-01T09:00:00Z", **extra: Any) -> dict[str, Any]:
    return {"event_id": f"{record_id}-{change.lower()}-{at}", "record_id": record_id,
            "object_type": "Opportunity", "change_type": change, "commit_timestamp": at,
            "fields": {"owner_id": owner, "amount": amount, "is_won": True, "close_date": close_date,
                       "currency": currency, **extra}}


# (rep, period, component) -> earned, in INR, each worked out by hand.
SCENARIOS: dict[str, tuple[list[dict[str, Any]], dict[tuple[str, str, str], Decimal]]] = {
    # Marginal tiers on attainment, quota 1,000,000: 0-100% at 5%, above at 8%; component cap 55,000.
    "a tiered quarter crossing its tier, one rep held at the cap": (
        [deal("006GT0001", "g-tier-1", "600000.00", "2026-01-15"),
         deal("006GT0002", "g-tier-1", "500000.50", "2026-02-20"),
         deal("006GT0003", "g-tier-2", "1050000.25", "2026-03-05")],
        {
            # g-tier-1: credited 1,100,000.50 (110.00005%): 1,000,000 x 5% = 50,000
            #   + 100,000.50 x 8% = 8,000.04 -> 58,000.04, over the 55,000 cap -> 55,000.00
            ("g-tier-1", "2026-Q1", "commission"): D("55000.00"),
            # g-tier-2: credited 1,050,000.25: 50,000 + 50,000.25 x 8% = 50,000 + 4,000.02 = 54,000.02
            ("g-tier-2", "2026-Q1", "commission"): D("54000.02"),
        },
    ),
    # A split deal: 60% / 40% of 250,000.00 at 5%; the owner is not in the split.
    "a split deal": (
        [deal("006GS0001", "g-split-1", "250000.00", "2026-02-11",
              splits=json.dumps([{"rep_id": "g-split-1", "percent": 60}, {"rep_id": "g-split-2", "percent": 40}]))],
        {
            ("g-split-1", "2026-Q1", "commission"): D("7500.00"),  # 250,000 x 60% = 150,000 x 5%
            ("g-split-2", "2026-Q1", "commission"): D("5000.00"),  # 250,000 x 40% = 100,000 x 5%
        },
    ),
    # Clawback by cancellation (window 90 days): won 2026-02-10 for 200,000.00, cancelled on
    # 2026-04-15 (64 days later). Q1 keeps its credit; Q2 reverses what Q1 paid on it: Q1's effective
    # rate is 10,000 / 200,000 = 5%, so -200,000 x 5% (the flat rate gives the same either way).
    "a deal cancelled in the next quarter is clawed back there": (
        [deal("006GC0001", "g-claw-1", "200000.00", "2026-02-10", at="2026-02-10T09:00:00Z"),
         deal("006GC0001", "g-claw-1", "200000.00", "2026-02-10", change="UPDATE", at="2026-04-15T09:00:00Z",
              cancelled_on="2026-04-15")],
        {
            ("g-claw-1", "2026-Q1", "commission"): D("10000.00"),   # 200,000 x 5%
            ("g-claw-1", "2026-Q2", "commission"): D("-10000.00"),  # -200,000 x 5%
        },
    ),
    # A USD deal on an INR plan at the one USD/INR rate in force (83.20 from 2026-01-01), and an INR deal.
    "a USD deal converted into an INR plan": (
        [deal("006GF0001", "g-fx-1", "12345.67", "2026-02-03", currency="USD"),
         deal("006GF0002", "g-fx-1", "1000.00", "2026-02-04")],
        {
            # 12,345.67 USD x 83.20 = 1,027,159.744 INR; + 1,000.00 = 1,028,159.744 credited;
            # x 5% = 51,407.9872 -> rounded once, half-up: 51,407.99
            ("g-fx-1", "2026-Q1", "commission"): D("51407.99"),
        },
    ),
    # A manager override, marginal tiers on team attainment (the manager's quota 1,000,000):
    # 0-100% at 1%, above at 2%. The two reports earn their own 5% too.
    "a manager override on the team's bookings": (
        [deal("006GM0001", "g-team-1", "700000.00", "2026-01-20"),
         deal("006GM0002", "g-team-2", "500000.00", "2026-03-10")],
        {
            ("g-team-1", "2026-Q1", "commission"): D("35000.00"),  # 700,000 x 5%
            ("g-team-2", "2026-Q1", "commission"): D("25000.00"),  # 500,000 x 5%
            # team 1,200,000 (120%): 1,000,000 x 1% = 10,000 + 200,000 x 2% = 4,000 -> 14,000.00
            ("g-mgr", "2026-Q1", "team_override"): D("14000.00"),
        },
    ),
}
EVENTS = [event for events, _ in SCENARIOS.values() for event in events]
EXPECTED = {key: amount for _, expected in SCENARIOS.values() for key, amount in expected.items()}
REPS = {rep for rep, _, _ in EXPECTED}
PERIODS = sorted({period for _, period, _ in EXPECTED})


def simulated(tmp_path: Path, period: str) -> dict[tuple[str, str, str], Decimal]:
    """Earned per (rep, period, component) by the batch ``attain simulate`` (the console script)."""
    events = tmp_path / "golden-events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    attain = Path(sys.executable).with_name("attain")
    result = subprocess.run([str(attain), "simulate", "--plans", str(PLANS), "--events", str(events),
                             "--period", period, "--format", "json"],
                            capture_output=True, text=True, timeout=budget(120), check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    return {(p["rep_id"], p["period"], c["component_id"]): D(c["earned_amount"])
            for p in report["participants"] for c in p["components"] if D(c["earned_amount"]) != 0}


def test_simulate_pays_the_hand_figures(tmp_path):
    found: dict[tuple[str, str, str], Decimal] = {}
    for period in PERIODS:
        found.update(simulated(tmp_path, period))
    assert found == EXPECTED


@pytest.fixture(scope="module")
def golden_stack(tmp_path_factory: pytest.TempPathFactory, pipeline_kafka_bootstrap: str,
                 database_url: str) -> Iterator[Stack]:
    yield from run_stack(tmp_path_factory.mktemp("golden"), pipeline_kafka_bootstrap, database_url,
                         plans_file=PLANS)


def ledger_by_component(stack: Stack) -> dict[tuple[str, str, str], Decimal]:
    """Computed earnings in the ledger per (rep, period earned in, component), adjustments included."""
    engine = make_engine(stack.database_url or "")
    try:
        with engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT rep_id, COALESCE(corrects_period, period), component_id, SUM(amount) FROM ledger_entries"
                " WHERE kind IN ('earned', 'adjustment') GROUP BY 1, 2, 3")).all()
    finally:
        engine.dispose()
    return {(rep, period, component): amount for rep, period, component, amount in rows
            if rep in REPS and amount != 0}


def test_the_pipeline_pays_the_hand_figures(golden_stack):
    for start in range(0, len(EVENTS)):  # one at a time, in order: an UPDATE must follow its CREATE
        (response,) = post(golden_stack, EVENTS[start:start + 1])
        assert response.status_code == 202, response.text
    wait_until(lambda: ledger_by_component(golden_stack) == EXPECTED, what="the ledger to hold the hand figures")
    wait_drained(golden_stack)  # and nothing more is on its way
    assert ledger_by_component(golden_stack) == EXPECTED


def entries_of(stack: Stack, rep: str) -> list[tuple[str, str | None, str, Decimal]]:
    """(period posted in, period corrected, kind, amount) of the rep's computed entries."""
    engine = make_engine(stack.database_url or "")
    try:
        with engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT period, corrects_period, kind, SUM(amount) FROM ledger_entries WHERE rep_id = :rep"
                " AND kind IN ('earned', 'adjustment') GROUP BY 1, 2, 3 ORDER BY 1, 3"), {"rep": rep}).all()
    finally:
        engine.dispose()
    return [(period, corrects, kind, amount) for period, corrects, kind, amount in rows if amount != 0]


def test_a_deal_lost_after_its_quarter_was_paid_is_reversed_at_what_was_paid_in_the_quarter_it_was_lost(
        golden_stack):
    """Salesforce moves a won opportunity to Closed Lost (IsWon false) in the next quarter. Q1 (gold-lost,
    marginal tiers on a 1,000,000 quota): 600,000 credited earns 500,000 x 5% + 100,000 x 10% = 35,000,
    locked, approved and paid. The loss reverses exactly the 35,000 paid in Q2, not the 30,000 Q2's first
    tier would re-rate it at; Q1 is not rewritten (no adjustment of it)."""
    rep, scope = "g-lost-1", "gold-lost"
    won = deal("006GL0001", rep, "600000.00", "2026-02-10", at="2026-02-10T09:00:00Z", stage="Closed Won")
    assert post(golden_stack, [won])[0].status_code == 202
    wait_until(lambda: entries_of(golden_stack, rep) == [("2026-Q1", None, "earned", D("35000.00"))],
               what="Q1's earnings in the ledger")

    api = httpx.Client(base_url=f"http://127.0.0.1:{golden_stack.services['ledger'].port}", timeout=30)

    def as_(user: str, role: str) -> dict[str, str]:
        return bearer(golden_stack, user, [role], ["*"])

    engine = make_engine(golden_stack.database_url or "")
    with engine.begin() as connection:  # the org: g-lost-1's manager approves the period
        connection.execute(insert(participants).on_conflict_do_nothing(),
                           [{"rep_id": rep, "region": "IN-North", "manager_id": "gl-mgr"}])
    engine.dispose()
    assert api.post(f"/v1/periods/{scope}/2026-Q1/lock", headers=as_("gl-prep", "comp_admin")).json() == {
        "state": "locked"}
    for user, role in (("gl-mgr", "manager"), ("gl-admin", "comp_admin"), ("gl-fin", "finance")):
        decision = api.post(f"/v1/periods/{scope}/2026-Q1/approvals", headers=as_(user, role),
                            json={"approve": True, "comment": f"{role} ok"})
        assert decision.status_code == 200, decision.text
    assert api.post(f"/v1/periods/{scope}/2026-Q1/paid", headers=as_("gl-fin", "finance")).json() == {
        "state": "paid"}

    lost = deal("006GL0001", rep, "600000.00", "2026-02-10", change="UPDATE", at="2026-05-04T09:00:00Z",
                stage="Closed Lost", is_won=False)
    assert post(golden_stack, [lost])[0].status_code == 202
    wait_until(lambda: entries_of(golden_stack, rep) == [("2026-Q1", None, "earned", D("35000.00")),
                                                          ("2026-Q2", None, "earned", D("-35000.00"))],
               what="the reversal of what Q1 paid, in Q2")
    wait_drained(golden_stack)
    assert entries_of(golden_stack, rep) == [("2026-Q1", None, "earned", D("35000.00")),
                                             ("2026-Q2", None, "earned", D("-35000.00"))]
