"""The ledger's reads for the comp admin's period-close board (services/ledger/admin_reads.py) on a real
PostgreSQL with tokens of a real issuer: open disputes and the recomputes that posted differences, each limited to
the caller's regions, for admins only; the recompute's adjustments (pay) read are in the access log."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from services.ledger.admin_reads import disputes_in_regions
from services.ledger.recompute_service import Difference, apply_differences
from services.ledger.schema import access_log
from tests.integration.ledger_api_support import statements
from tests.integration.test_ledger_doors import PERIOD, api, doors, org  # noqa: F401 (the doors' fixtures)


def test_open_disputes_and_recompute_differences_for_admins_of_their_regions(api, engine, org, minter):  # noqa: F811
    for rep in ("alice", "bob"):
        raised = api.post("/v1/disputes", headers=minter.bearer(rep), json={"entry_id": org[rep], "comment": "short"})
        assert raised.status_code == 201
    south, everyone = minter.bearer("sue", ["comp_admin"], ["south"]), minter.bearer("fin", ["finance"], ["*"])
    assert api.get("/v1/admin/disputes", headers=minter.bearer("alice")).status_code == 403
    assert api.get("/v1/admin/recomputes", headers=minter.bearer("mona", ["manager"])).status_code == 403
    assert [d["rep_id"] for d in api.get("/v1/admin/disputes", headers=south).json()] == ["alice"]
    shown = api.get("/v1/admin/disputes", headers=everyone).json()
    assert [(d["rep_id"], d["status"], d["period"], d["last_comment"]) for d in shown] == [
        ("bob", "open", PERIOD, "short"), ("alice", "open", PERIOD, "short")]
    bob_dispute = shown[0]["dispute_id"]
    assert api.post(f"/v1/disputes/{bob_dispute}/resolution", headers=everyone,
                    json={"comment": "it is right"}).status_code == 200
    assert [d["rep_id"] for d in api.get("/v1/admin/disputes", headers=everyone).json()] == ["alice"]
    every = api.get("/v1/admin/disputes", headers=everyone, params={"state": "all"}).json()
    assert [(d["rep_id"], d["status"], d["last_actor"]) for d in every] == [
        ("bob", "rejected", "fin"), ("alice", "open", "alice")]
    assert api.get("/v1/admin/disputes", headers=everyone, params={"state": "closed"}).status_code == 422
    with statements(engine) as ran:  # the regions and the limit in the one query: not everything, then sliced
        assert [d["rep_id"] for d in disputes_in_regions(engine, frozenset({"south"}), "all", limit=1)] == ["alice"]
    assert len(ran) == 1 and "LIMIT" in ran[0]

    assert api.get("/v1/admin/recomputes", headers=everyone).json() == []
    apply_differences(engine, PERIOD, [  # what `attain recompute --period 2026-Q1 --apply` posts and audits
        Difference("alice", "commission", Decimal("1000.00"), Decimal("1100.00"), "ae-south", 1, "INR"),
        Difference("bob", "commission", Decimal("2000.00"), Decimal("1900.00"), "ae-north", 1, "INR")], "ops")
    [record] = api.get("/v1/admin/recomputes", headers=south).json()
    assert (record["period"], record["actor_id"]) == (PERIOD, "ops")
    assert [(a["rep_id"], Decimal(a["amount"])) for a in record["adjustments"]] == [("alice", Decimal("100"))]
    [record] = api.get("/v1/admin/recomputes", headers=everyone).json()
    assert sorted((a["rep_id"], Decimal(a["amount"])) for a in record["adjustments"]) == [
        ("alice", Decimal("100")), ("bob", Decimal("-100"))]
    with engine.connect() as connection:
        logged = connection.execute(select(access_log.c.actor_id, access_log.c.rep_id)
                                    .where(access_log.c.action == "recompute.read")).all()
    assert sorted(logged) == [("fin", "alice"), ("fin", "bob"), ("sue", "alice")]
