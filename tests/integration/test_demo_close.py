"""`attain run`'s period close: only the sample's periods, and a second close says they were closed before."""

from __future__ import annotations

from services.ledger.commands import demo_period_close
from services.ledger.db import apply_snapshots
from services.ledger.period_service import list_periods


def snapshot(period: str, version: int) -> dict:
    return {"rep_id": "demo-close-1", "period": period, "plan_id": "demo-close", "plan_version": 1,
            "currency": "INR", "snapshot_version": version, "total_earned": "1000.00", "trigger_event_ids": [],
            "components": [{"component_id": "commission", "earned_amount": "1000.00"}]}


def states(engine) -> dict[str, str]:
    return {row["period"]: row["state"] for row in list_periods(engine) if row["scope"] == "demo-close"}


def test_the_demo_closes_the_sample_periods_once_and_never_a_later_one(engine, capsys):
    apply_snapshots(engine, [snapshot("2026-Q1", 1), snapshot("2026-Q2", 2)])
    demo_period_close(engine, {"2026-Q1"}, timeout=0.5)
    assert states(engine) == {"2026-Q1": "paid", "2026-Q2": "open"}
    demo_period_close(engine, {"2026-Q1"}, timeout=0.5)
    assert states(engine) == {"2026-Q1": "paid", "2026-Q2": "open"}
    assert "closed before: paid" in capsys.readouterr().out
