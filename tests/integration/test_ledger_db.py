"""The ledger's reconciling transaction on a real PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from services.ledger.db import apply_snapshots, ledger_totals
from services.ledger.schema import entries


def snapshot(rep, version, earned, period="2026-Q1", components=None):
    return {
        "rep_id": rep, "period": period, "plan_id": "ae", "plan_version": 1, "currency": "INR",
        "snapshot_version": version, "total_earned": earned, "trigger_event_ids": [f"e{version}"],
        "components": components or [{"component_id": "commission", "earned_amount": earned}],
    }


def test_snapshots_become_delta_entries_summing_to_the_latest(engine):
    apply_snapshots(engine, [snapshot("L1", 1, "100.00")])
    result = apply_snapshots(engine, [snapshot("L1", 2, "150.50")])
    assert result.entries == 1
    with engine.connect() as connection:
        amounts = connection.execute(
            select(entries.c.amount).where(entries.c.rep_id == "L1").order_by(entries.c.entry_id)).scalars().all()
    assert amounts == [Decimal("100.00"), Decimal("50.50")]
    assert ledger_totals(engine)[("L1", "2026-Q1")] == Decimal("150.50")


def test_replayed_duplicated_and_older_snapshots_add_nothing(engine):
    apply_snapshots(engine, [snapshot("L2", 5, "80.00")])
    result = apply_snapshots(engine, [snapshot("L2", 5, "80.00"), snapshot("L2", 3, "999.00"),
                                      snapshot("L2", 4, "1.00")])
    assert (result.applied, result.entries) == (0, 0)
    assert ledger_totals(engine)[("L2", "2026-Q1")] == Decimal("80.00")


def test_within_one_batch_only_the_newest_snapshot_of_a_rep_period_counts(engine):
    result = apply_snapshots(engine, [snapshot("L3", 7, "70.00"), snapshot("L3", 9, "90.00"),
                                      snapshot("L3", 8, "80.00")])
    assert result.entries == 1
    assert ledger_totals(engine)[("L3", "2026-Q1")] == Decimal("90.00")


def test_a_component_that_disappears_is_reversed_to_zero(engine):
    apply_snapshots(engine, [snapshot("L4", 1, "30.00", components=[
        {"component_id": "commission", "earned_amount": "20.00"},
        {"component_id": "spiff", "earned_amount": "10.00"}])])
    apply_snapshots(engine, [snapshot("L4", 2, "20.00")])
    assert ledger_totals(engine)[("L4", "2026-Q1")] == Decimal("20.00")


def test_entries_are_append_only_in_the_database(engine):
    apply_snapshots(engine, [snapshot("L5", 1, "10.00")])
    for statement in ("UPDATE ledger_entries SET amount = 0 WHERE rep_id = 'L5'",
                      "DELETE FROM ledger_entries WHERE rep_id = 'L5'"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    assert ledger_totals(engine)[("L5", "2026-Q1")] == Decimal("10.00")
