"""Lineage on a real PostgreSQL: the ledger books its adopted lineage, quarantines any other, and adopts a
rebuilt one only through `attain ledger adopt-lineage`, audited."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from attain.ledger.lineage import LineageError
from services.ledger import metrics
from services.ledger.audit import verify_audit
from services.ledger.db import apply_snapshots, ledger_totals
from services.ledger.lineage import adopt, status
from services.ledger.period_service import lock_period
from services.ledger.schema import audit_log, entries

OLD, NEW, OTHER = "attain/topic-a/epoch-1", "attain/topic-b/epoch-2", "attain/topic-c/epoch-3"


def snapshot(rep, version, earned, lineage, period="2026-Q1", plan="ae"):
    return {
        "rep_id": rep, "period": period, "plan_id": plan, "plan_version": 1, "currency": "INR",
        "snapshot_version": version, "total_earned": earned, "trigger_event_ids": [f"e{version}"],
        "components": [{"component_id": "commission", "earned_amount": earned}], "lineage": lineage,
    }


def quarantined_metric() -> float:
    return metrics.SNAPSHOTS_QUARANTINED._value.get()


def audit_actions(engine) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        return [(row.action, row.actor_id) for row in connection.execute(
            select(audit_log.c.action, audit_log.c.actor_id).where(audit_log.c.action.like("lineage.%"))
            .order_by(audit_log.c.sequence))]


def entry_count(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(entries)).scalar_one()


def test_lineage_lifecycle(engine):
    # The first lineage over an empty ledger is adopted automatically, audited.
    apply_snapshots(engine, [snapshot("A", 1, "100.00", OLD), snapshot("B", 1, "40.00", OLD)])
    apply_snapshots(engine, [snapshot("A", 2, "150.00", OLD)])
    lock_period(engine, "ae", "2026-Q1", "preparer")  # a closed quarter: a lower total would book a wipe-out
    assert status(engine)["adopted"] == OLD
    assert audit_actions(engine) == [("lineage.adopt", "ledger")]
    booked = ledger_totals(engine)
    entries_before = entry_count(engine)

    # State lost: the rebuilt calculator's snapshots (newer versions, lower totals) are held, not booked.
    before = quarantined_metric()
    result = apply_snapshots(engine, [snapshot("A", 10, "30.00", NEW), snapshot("A", 11, "60.00", NEW),
                                      snapshot("B", 12, "0.00", NEW)])
    assert (result.quarantined, result.entries) == (3, 0)
    assert quarantined_metric() - before == 3
    assert ledger_totals(engine) == booked and entry_count(engine) == entries_before
    held = status(engine)["quarantined"]
    assert [(q["lineage"], q["keys"], q["received"]) for q in held] == [(NEW, 2, 3)]

    # Adoption refuses while the rebuild disagrees with the ledger, and changes nothing.
    with pytest.raises(LineageError, match="differs from the ledger in 2"):
        adopt(engine, NEW, "operator")
    dry = adopt(engine, NEW, "operator", dry_run=True)
    assert [(d.rep_id, d.booked, d.rebuilt) for d in dry.differences] == [
        ("A", Decimal("150.00"), Decimal("60.00")), ("B", Decimal("40.00"), Decimal("0.00"))]
    assert status(engine)["adopted"] == OLD

    # The rebuild completes (every event re-ingested): its latest snapshots equal the ledger; adopt.
    apply_snapshots(engine, [snapshot("A", 13, "150.00", NEW), snapshot("B", 14, "40.00", NEW)])
    adopted = adopt(engine, NEW, "operator")
    assert adopted.adopted and adopted.differences == [] and adopted.previous == OLD
    assert status(engine)["adopted"] == NEW and status(engine)["quarantined"] == []
    assert ledger_totals(engine) == booked and entry_count(engine) == entries_before
    assert audit_actions(engine) == [("lineage.adopt", "ledger"), ("lineage.adopt", "operator")]

    # The adopted lineage books normally (into the next open period, the quarter being locked);
    # the retired one is quarantined now.
    apply_snapshots(engine, [snapshot("A", 15, "170.00", NEW)])
    assert ledger_totals(engine)[("A", "2026-Q1")] == Decimal("170.00")
    assert apply_snapshots(engine, [snapshot("A", 99, "999.00", OLD)]).quarantined == 1
    assert ledger_totals(engine)[("A", "2026-Q1")] == Decimal("170.00")

    # A rebuild that cannot be completed is adopted only with the operator's word: the differences
    # are posted as audited adjustments, then totals equal the rebuilt ones.
    apply_snapshots(engine, [snapshot("A", 20, "165.00", OTHER)])
    with pytest.raises(LineageError):
        adopt(engine, OTHER, "operator")
    forced = adopt(engine, OTHER, "operator", post_differences=True)
    assert forced.adjustments == 2  # A: -5.00, B: -40.00 (B was never rebuilt)
    totals = ledger_totals(engine)
    assert totals[("A", "2026-Q1")] == Decimal("165.00") and totals[("B", "2026-Q1")] == Decimal("0.00")
    with engine.connect() as connection:
        posted = connection.execute(select(entries.c.kind, entries.c.created_by, entries.c.corrects_period)
                                    .where(entries.c.idempotency_key.like(f"lineage:{OTHER}:%"))).all()
    assert sorted(posted) == [("adjustment", "operator", "2026-Q1")] * 2
    checked, breaks = verify_audit(engine)
    assert breaks == [] and audit_actions(engine)[-1] == ("lineage.adopt", "operator")
    with pytest.raises(LineageError, match="already the adopted one"):
        adopt(engine, OTHER, "operator")


def test_ops_lineage_route_answers_without_a_token(engine):
    import asyncio

    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from services.ledger.lineage import add_lineage_route

    async def ask() -> dict:
        app = web.Application()
        add_lineage_route(app, engine)
        async with TestClient(TestServer(app)) as client:
            response = await client.get("/ops/lineage")
            assert response.status == 200
            return await response.json()

    answer = asyncio.run(ask())
    # what status() says of this module's ledger, whichever of its tests ran before (random order)
    expected = status(engine)
    assert (answer["adopted"], answer["history"], len(answer["quarantined"])) == (
        expected["adopted"], expected["history"], len(expected["quarantined"]))
