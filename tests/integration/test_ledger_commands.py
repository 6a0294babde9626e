"""``attain audit verify`` and ``attain recompute`` against a real PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from attain.core.recompute import recompute
from attain.sample import opportunity_events
from cli.main import changes_of, load_book, main
from services.ledger.db import apply_snapshots, ledger_totals
from services.ledger.period_service import lock_period

PLANS = Path(__file__).parents[1] / "e2e" / "plans.yaml"




def run(*argv):
    with pytest.raises(SystemExit) as stopped:
        main(list(argv))
    return stopped.value.code


def test_recompute_reports_differences_and_apply_posts_them_once(engine, database_url, tmp_path):
    book = load_book(PLANS)
    events = opportunity_events(["t01", "t02", "t03"], 60, prefix="006R")
    events_file = tmp_path / "events.jsonl"
    events_file.write_text("\n".join(json.dumps(e) for e in events))
    expected = recompute(book, changes_of(events))
    period = sorted({p for _, p in expected})[0]
    snapshots = []
    for version, ((rep_id, rep_period), earnings) in enumerate(sorted(expected.items()), 1):
        amount = earnings.total_earned + (100 if rep_id == "t02" else 0)  # the ledger is off for t02
        snapshots.append({"rep_id": rep_id, "period": rep_period, "plan_id": "ae-test", "plan_version": 1,
                          "currency": "INR", "snapshot_version": version, "total_earned": str(amount),
                          "trigger_event_ids": [], "components": [{"component_id": "commission",
                                                                   "earned_amount": str(amount)}]})
    apply_snapshots(engine, snapshots)
    lock_period(engine, "ae-test", period, "prep")  # the fix lands as a prior-period adjustment
    args = ["recompute", "--period", period, "--plans", str(PLANS), "--events", str(events_file),
            "--database-url", database_url]
    assert run(*args) == 3
    assert run(*args, "--apply") == 0
    assert run(*args) == 0
    totals = ledger_totals(engine)
    reps = {rep for rep, _ in expected}  # this test's reps: another test may book the same period
    assert {k: v for k, v in totals.items() if k[1] == period and k[0] in reps} == {
        k: v.total_earned for k, v in expected.items() if k[1] == period}
    with engine.connect() as connection:
        row = connection.execute(text("SELECT amount, corrects_period FROM ledger_entries "
                                      "WHERE idempotency_key LIKE 'recompute:%' AND rep_id = 't02'")).one()
    assert (row.amount, row.corrects_period) == (-100, period)


def test_audit_verify_passes_then_fails_on_an_edited_row(engine, database_url):
    apply_snapshots(engine, [{"rep_id": "v1", "period": "2026-Q1", "plan_id": "verify", "plan_version": 1,
                              "currency": "INR", "snapshot_version": 1, "total_earned": "1.00",
                              "trigger_event_ids": [], "components": [{"component_id": "commission",
                                                                       "earned_amount": "1.00"}]}])
    lock_period(engine, "verify", "2026-Q1", "verify-prep")  # its own audit row, so it holds run alone
    assert run("audit", "verify", "--database-url", database_url) == 0
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_or_delete"))
        edited = connection.execute(text("UPDATE audit_log SET actor_id = 'someone-else' WHERE sequence = "
                                         "(SELECT max(sequence) FROM audit_log WHERE actor_id = 'verify-prep')"))
        assert edited.rowcount == 1
        connection.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_or_delete"))
    assert run("audit", "verify", "--database-url", database_url) == 1


def test_ledger_org_loads_regions_and_managers_for_authorisation(engine, database_url, tmp_path):
    org = tmp_path / "org.yaml"
    org.write_text("participants:\n  - {id: o1, region: IN-South, manager: m1}\n  - {id: o2, region: IN-East}\n")
    assert run("ledger", "org", str(org), "--database-url", database_url) == 0
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT rep_id, region, manager_id FROM participants "
                                       "WHERE rep_id IN ('o1', 'o2') ORDER BY rep_id")).all()
    assert [tuple(row) for row in rows] == [("o1", "IN-South", "m1"), ("o2", "IN-East", None)]


def test_recompute_apply_refuses_a_user_who_would_adjust_their_own_pay(engine, database_url, tmp_path):
    book = load_book(PLANS)
    events = opportunity_events(["t04"], 20, prefix="006S")
    events_file = tmp_path / "events.jsonl"
    events_file.write_text("\n".join(json.dumps(e) for e in events))
    expected = recompute(book, changes_of(events))
    (rep_id, period), earnings = sorted(expected.items())[0]
    amount = earnings.total_earned + 50  # the ledger is off for t04
    apply_snapshots(engine, [{"rep_id": rep_id, "period": period, "plan_id": "ae-test", "plan_version": 1,
                              "currency": "INR", "snapshot_version": 1, "total_earned": str(amount),
                              "trigger_event_ids": [], "components": [{"component_id": "commission",
                                                                       "earned_amount": str(amount)}]}])
    args = ["recompute", "--period", period, "--plans", str(PLANS), "--events", str(events_file),
            "--database-url", database_url, "--apply"]
    before = ledger_totals(engine)
    assert run(*args, "--user", "t04") == 1
    assert ledger_totals(engine) == before
    assert run(*args, "--user", "someone-else") == 0
    assert ledger_totals(engine)[(rep_id, period)] == earnings.total_earned
