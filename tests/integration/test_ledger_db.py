"""The ledger's reconciling transaction on a real PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import delete, select, text
from sqlalchemy.exc import DBAPIError

from attain.ledger.entries import EARLIER_HASHED_FIELDS, IdempotencyConflict, input_hash, reconciled_totals
from services.ledger.db import apply_snapshots, ledger_totals
from services.ledger.postings import post_manual
from services.ledger.schema import entries, snapshot_heads


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


def conflicts(kind):
    return REGISTRY.get_sample_value("attain_ledger_idempotency_conflicts_total", {"kind": kind}) or 0.0


def test_a_streamed_entry_whose_key_booked_other_inputs_is_counted_and_the_first_stands(engine, caplog):
    """The head normally stops a version from being booked twice; with it gone (as after a lineage adoption
    resets heads) the same key can come back with another delta: counted and logged, never booked."""
    apply_snapshots(engine, [snapshot("L6", 1, "100.00")])
    with engine.begin() as connection:
        connection.execute(delete(snapshot_heads).where(snapshot_heads.c.rep_id == "L6"))
    before = conflicts("earned")
    apply_snapshots(engine, [snapshot("L6", 1, "130.00", components=[
        {"component_id": "commission", "earned_amount": "130.00"}])])
    assert conflicts("earned") == before + 1
    assert "earned:L6:2026-Q1:commission:1" in caplog.text
    assert ledger_totals(engine)[("L6", "2026-Q1")] == Decimal("100.00")


def test_a_manual_key_stored_before_hashes_is_compared_by_its_stored_fields(engine):
    fields = {"actor_id": "ada", "rep_id": "L7", "scope": "ae", "period": "2026-Q1", "component_id": "manual",
              "kind": "manual", "currency": "INR", "reason": "old bonus", "idempotency_key": "manual:old-row"}
    with engine.begin() as connection:  # as written before migration 0006: no input_hash
        old_id = connection.execute(entries.insert().values(
            rep_id="L7", period="2026-Q1", plan_id="", scope="ae", plan_version=0, component_id="manual",
            kind="manual", amount=Decimal("40.00"), currency="INR", snapshot_version=0,
            idempotency_key="manual:old-row", source_event_ids=[], created_by="ada", explanation="old bonus",
        ).returning(entries.c.entry_id)).scalar_one()
    assert post_manual(engine, **fields, amount="40") == old_id
    with pytest.raises(IdempotencyConflict, match="manual:old-row"):
        post_manual(engine, **fields, amount="41")
    # the reason is prose, not an input: a retry that words it otherwise is the same entry (its text stands)
    assert post_manual(engine, **{**fields, "reason": "another bonus"}, amount="40") == old_id
    with engine.connect() as connection:
        assert connection.execute(select(entries.c.amount).where(entries.c.rep_id == "L7")).scalars().all() == [
            Decimal("40.00")]


def test_a_hash_stored_when_the_explanation_was_hashed_still_accepts_a_retry(engine):
    fields = {"actor_id": "ada", "rep_id": "L9", "scope": "ae", "period": "2026-Q1", "component_id": "manual",
              "kind": "manual", "currency": "INR", "reason": "spiff", "idempotency_key": "manual:hashed-row"}
    row = {"rep_id": "L9", "period": "2026-Q1", "plan_id": "", "scope": "ae", "plan_version": 0,
           "component_id": "manual", "kind": "manual", "amount": Decimal("40.00"), "currency": "INR",
           "snapshot_version": 0, "idempotency_key": "manual:hashed-row", "source_event_ids": [],
           "created_by": "ada", "explanation": "spiff"}
    with engine.begin() as connection:  # as written while HASHED_FIELDS ended with the explanation
        old_id = connection.execute(entries.insert().values(
            **row, input_hash=input_hash(row, EARLIER_HASHED_FIELDS)).returning(entries.c.entry_id)).scalar_one()
    assert post_manual(engine, **fields, amount="40") == old_id
    with pytest.raises(IdempotencyConflict, match="manual:hashed-row"):
        post_manual(engine, **fields, amount="41")


def test_every_insert_path_stores_the_input_hash_its_entry_computes(engine):
    apply_snapshots(engine, [snapshot("L8", 1, "12.00")])
    with engine.connect() as connection:
        row = connection.execute(select(entries).where(entries.c.rep_id == "L8")).mappings().one()
    assert row["input_hash"] == input_hash(row)


def test_the_sql_totals_follow_the_pure_reconciliation_rule(engine):
    apply_snapshots(engine, [snapshot("L9", 1, "5.00"), snapshot("L9", 1, "7.00", period="2026-Q2")])
    post_manual(engine, actor_id="ada", rep_id="L9", scope="ae", period="2026-Q1", component_id="manual",
                kind="draw", amount="300", currency="INR", reason="advance", idempotency_key="manual:l9-draw")
    with engine.connect() as connection:
        stored = connection.execute(select(entries)).mappings().all()
    assert ledger_totals(engine) == reconciled_totals(stored)
    assert reconciled_totals(stored)[("L9", "2026-Q1")] == Decimal("5.00")  # the draw is not computed earnings
