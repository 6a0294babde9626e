"""The ledger and ingest commands of the `attain` CLI on a real PostgreSQL and broker: a payroll export of a
period that is not approved is refused with the reason, a partial ingest rejection exits 4, and every command
that prints results speaks `--format json` with money as text."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from attain.ledger.approvals import Actor
from attain.platform.kafka import AsyncProducer, producer_config
from attain.platform.settings import KafkaSettings
from cli.main import main
from services.ingest.publisher import Publisher
from services.ledger.db import apply_snapshots
from services.ledger.period_service import decide, lock_period
from tests.polling import budget

ROOT = Path(__file__).parents[2]
BIG = "123456789012.34"  # 12,34,56,78,90,12.34 INR: more than any terminal column would show by default


def attain(*argv: str, cwd: Path = ROOT, columns: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": str(columns or 80)}
    env.pop("ATTAIN_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "cli", *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=budget(120))


def run(capsys, *argv: str) -> tuple[int, str]:
    """In-process (faster than a subprocess); the error line, if any, is kept in ``run.err``."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        main(list(argv))
    captured = capsys.readouterr()
    run.err = captured.err  # type: ignore[attr-defined]
    return int(stopped.value.code or 0), captured.out


def snapshot(rep: str, plan: str, earned: str) -> dict:
    return {"rep_id": rep, "period": "2026-Q1", "plan_id": plan, "plan_version": 1, "currency": "INR",
            "snapshot_version": 1, "total_earned": earned, "trigger_event_ids": ["e1"],
            "components": [{"component_id": "commission", "earned_amount": earned}]}


def test_payroll_of_a_period_that_is_not_approved_is_refused_and_writes_nothing(engine, database_url, tmp_path):
    scope = f"cli-{uuid.uuid4().hex[:6]}"
    apply_snapshots(engine, [snapshot("C1", scope, BIG), snapshot("C2", scope, "10.00")])
    out = tmp_path / "payroll.csv"
    export = ["ledger", "payroll", "--scope", scope, "--period", "2026-Q1", "--out", str(out),
              "--database-url", database_url]

    never = attain(*export)
    assert never.returncode == 1 and not out.exists()
    (line,) = never.stderr.strip().splitlines()
    assert f"{scope}/2026-Q1 is open, not approved: nothing to export and no file written" in line
    assert "approve it first" in line and "Traceback" not in never.stderr

    lock_period(engine, scope, "2026-Q1", "prep-1")
    locked = attain(*export)
    assert locked.returncode == 1 and not out.exists()
    assert f"{scope}/2026-Q1 is locked, not approved" in locked.stderr

    for user, role in (("mgr-1", "manager"), ("admin-1", "comp_admin"), ("fin-1", "finance")):
        decide(engine, scope, "2026-Q1", Actor(user, frozenset({role})), True, "ok")
    approved = attain(*export)
    assert approved.returncode == 0, approved.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert {(r["rep_id"], r["amount"]) for r in rows} == {("C1", BIG), ("C2", "10.00")}

    listed = attain(*export[:-4], "--format", "json", "--database-url", database_url)
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert (data["scope"], data["state"]) == (scope, "approved")
    assert {(line["rep_id"], line["amount"]) for line in data["lines"]} == {("C1", BIG), ("C2", "10.00")}


def test_period_audit_lineage_and_org_speak_json(engine, database_url, capsys, tmp_path):
    scope = f"cli-{uuid.uuid4().hex[:6]}"
    apply_snapshots(engine, [snapshot("J1", scope, "5.50")])
    code, out = run(capsys, "ledger", "period", "lock", scope, "2026-Q1", "--user", "prep-1", "--format", "json",
                    "--database-url", database_url)
    assert code == 0
    assert json.loads(out) == {"scope": scope, "period": "2026-Q1", "state": "locked", "prepared_by": "prep-1",
                               "approval_round": json.loads(out)["approval_round"], "next_step": "manager"}
    code, out = run(capsys, "ledger", "period", "show", scope, "2026-Q2", "--user", "x", "--format", "json",
                    "--database-url", database_url)
    assert code == 0 and json.loads(out)["state"] == "open"

    code, out = run(capsys, "audit", "verify", "--format", "json", "--database-url", database_url)
    verified = json.loads(out)
    assert code == 0 and verified["intact"] is True and verified["records"] > 0 and verified["breaks"] == []

    code, out = run(capsys, "ledger", "lineage", "--format", "json", "--database-url", database_url)
    assert code == 0 and json.loads(out)["quarantined"] == []

    org = tmp_path / "org.yaml"
    org.write_text("participants:\n  - {id: j1, region: IN-South, manager: m1}\n")
    code, out = run(capsys, "ledger", "org", str(org), "--format", "json", "--database-url", database_url)
    assert code == 0 and json.loads(out) == {"loaded": 1, "participants": [
        {"rep_id": "j1", "region": "IN-South", "manager_id": "m1", "hr_id": None}]}

    # a refused transition is one line and exit 1, not a traceback
    code, _ = run(capsys, "ledger", "period", "paid", scope, "2026-Q1", "--user", "fin-1",
                  "--database-url", database_url)
    assert code == 1
    err = run.err  # type: ignore[attr-defined]
    assert err.startswith("attain: error: period: ") and "Traceback" not in err


def test_recompute_json_holds_differences_as_text_and_exits_3(engine, database_url, capsys, tmp_path):
    from attain.core.recompute import recompute
    from attain.sample import opportunity_events
    from cli.main import changes_of, load_book

    plans = ROOT / "tests" / "e2e" / "plans.yaml"
    events = opportunity_events(["t01", "t02"], 20, prefix="006J")
    events_file = tmp_path / "events.jsonl"
    events_file.write_text("\n".join(json.dumps(e) for e in events))
    expected = recompute(load_book(plans), changes_of(events))
    (rep, period), earnings = sorted(expected.items())[0]
    apply_snapshots(engine, [{**snapshot(rep, "ae-test", str(earnings.total_earned + 7)), "period": period}])
    code, out = run(capsys, "recompute", "--period", period, "--plans", str(plans), "--events", str(events_file),
                    "--format", "json", "--database-url", database_url)
    data = json.loads(out)
    assert code == 3
    mine = next(d for d in data["differences"] if d["rep_id"] == rep)
    assert isinstance(mine["delta"], str) and mine["delta"].lstrip("-").replace(".", "").isdigit()
    assert data["adjustments_posted"] is None


def test_dead_letters_list_and_show_as_json(kafka_bootstrap, tmp_path, capsys):
    """(A partial rejection's exit 4 is checked where backfill runs through ingest: test_ingest_doors.py.)"""
    prefix = uuid.uuid4().hex[:8]
    events = tmp_path / f"events-{prefix}.jsonl"

    async def dead_letter() -> None:
        producer = AsyncProducer(producer_config(KafkaSettings(bootstrap=kafka_bootstrap)),
                                 asyncio.get_running_loop())
        await Publisher(producer).reject(b'{"record_id": 42}', "record_id: not a string", "validation_error",
                                         f"file:{events.name}:2")
        producer.close()

    asyncio.run(dead_letter())
    code, out = run(capsys, "dlq", "--bootstrap", kafka_bootstrap, "list", "--source-prefix", f"file:{events.name}",
                    "--format", "json")
    listed = json.loads(out)
    assert code == 0 and listed["selected"] >= 1
    position = listed["dead_letters"][-1]["position"]
    code, out = run(capsys, "dlq", "--bootstrap", kafka_bootstrap, "show", position, "--format", "json")
    shown = json.loads(out)
    assert code == 0 and shown["position"] == position and '"record_id": 42' in shown["original"]
