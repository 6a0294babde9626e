"""Draws booked as draws on a real PostgreSQL: draw and draw_recovery entries from snapshots, the
statement's draws section, and the draw a period without credits pays when it is locked (once)."""

from __future__ import annotations

import json
import re
import zlib
from datetime import date
from decimal import Decimal

import httpx
from sqlalchemy import select

from attain.core.crediting import Credit
from attain.core.earnings import compute_period_earnings
from attain.core.plan_parser import parse_plan_book
from attain.core.records import ChangeVersion
from attain.ledger.approvals import Actor
from attain.platform.identity import TokenVerifier
from services.ledger.auth import LedgerGuard
from services.ledger.config import LedgerSettings
from services.ledger.db import apply_snapshots, ledger_totals
from services.ledger.period_service import decide, lock_period
from services.ledger.postings import post_manual
from services.ledger.recompute_service import differences, ledger_components, with_closing_draws
from services.ledger.schema import audit_log, entries
from services.ledger.statements import statement, statement_pdf
from tests.integration.ledger_api_support import serving_api

BOOK = parse_plan_book({
    "plans": [{"id": "drw", "currency": "EUR", "draw": {"amount": 1000, "recoverable": True},
               "components": [{"id": "commission", "measure": "closed_won_amount", "rate": "0.1"}]}],
    "participants": [{"id": "DR-busy", "plan": "drw"}, {"id": "DR-idle", "plan": "drw"}],
})


def snapshot(rep: str, period: str, version: int, commission: str, draw: str | None) -> dict[str, object]:
    components = [{"component_id": "commission", "earned_amount": commission}]
    if draw is not None:
        components.append({"component_id": "draw", "earned_amount": draw, "kind": "recoverable_draw"})
    total = Decimal(commission) + Decimal(draw or 0)
    return {"rep_id": rep, "period": period, "plan_id": "drw", "plan_version": 1, "currency": "EUR",
            "snapshot_version": version, "total_earned": str(total), "trigger_event_ids": [f"e{version}"],
            "components": components}


def kinds(engine, rep: str, period: str | None = None) -> list[tuple[str, str, Decimal, str | None]]:
    """The rep's entries (of ``period`` or correcting it, when given: other tests book these reps in other periods)."""
    with engine.connect() as connection:
        return [(row.period, row.kind, row.amount, row.corrects_period) for row in connection.execute(
            select(entries).where(entries.c.rep_id == rep).order_by(entries.c.entry_id))
                if period is None or period in (row.period, row.corrects_period)]


def pdf_text(pdf: bytes) -> bytes:
    """The PDF's page content streams, inflated (fpdf2 compresses them)."""
    streams = re.findall(rb"stream\n(.*?)\nendstream", pdf, re.DOTALL)
    return b"".join(zlib.decompress(stream) for stream in streams if stream[:1] == b"x")


def test_a_recoverable_draw_is_booked_as_draw_then_recovered(engine):
    # Q1 earns 300 on a 1,000 draw: +700 drawn; Q2 earns 1,500: 500 recovered, 200 still outstanding
    apply_snapshots(engine, [snapshot("DR-a", "2026-Q1", 1, "300.00", "700.00")])
    apply_snapshots(engine, [snapshot("DR-a", "2026-Q2", 1, "1500.00", "-500.00")])
    apply_snapshots(engine, [snapshot("DR-a", "2026-Q2", 2, "1600.00", "-600.00")])  # a later deal: 100 more
    assert kinds(engine, "DR-a") == [
        ("2026-Q1", "earned", Decimal("300.00"), None), ("2026-Q1", "draw", Decimal("700.00"), None),
        ("2026-Q2", "earned", Decimal("1500.00"), None), ("2026-Q2", "draw_recovery", Decimal("-500.00"), None),
        ("2026-Q2", "earned", Decimal("100.00"), None), ("2026-Q2", "draw_recovery", Decimal("-100.00"), None)]
    totals = ledger_totals(engine)
    assert (totals[("DR-a", "2026-Q1")], totals[("DR-a", "2026-Q2")]) == (Decimal("1000.00"), Decimal("1000.00"))

    q1 = statement(engine, "DR-a", "2026-Q1")["currencies"][0]
    assert (q1["draw_paid"], q1["draw_recovered"], q1["draw_balance"]) == ("700.00", "0", "700.00")
    q2 = statement(engine, "DR-a", "2026-Q2")["currencies"][0]
    assert (q2["draw_paid"], q2["draw_recovered"], q2["draw_balance"]) == ("0", "600.00", "100.00")
    assert q2["total_payable"] == "2000.00"  # 1,000 left from Q1 (not paid yet) + 1,600 - 600
    assert b"Draw outstanding to recover" in pdf_text(statement_pdf(statement(engine, "DR-a", "2026-Q2")))


def test_a_draw_a_person_posts_stays_on_top_of_the_snapshots(engine):
    apply_snapshots(engine, [snapshot("DR-m", "2026-Q1", 1, "300.00", "700.00")])
    post_manual(engine, actor_id="admin-1", rep_id="DR-m", scope="drw", period="2026-Q1", component_id="draw",
                kind="draw", amount="50", currency="EUR", reason="advance", idempotency_key="manual:dr-m")
    apply_snapshots(engine, [snapshot("DR-m", "2026-Q1", 2, "400.00", "600.00")])
    assert kinds(engine, "DR-m")[-2:] == [("2026-Q1", "earned", Decimal("100.00"), None),
                                          ("2026-Q1", "draw", Decimal("-100.00"), None)]
    assert ledger_totals(engine)[("DR-m", "2026-Q1")] == Decimal("1000.00")  # the person's 50 is not undone
    assert statement(engine, "DR-m", "2026-Q1")["currencies"][0]["draw_balance"] == "650.00"


def test_locking_pays_the_draw_of_a_period_without_credits_once(engine):
    period = "2027-Q1"  # the first of its year: no earlier period of the year is outstanding
    apply_snapshots(engine, [snapshot("DR-busy", period, 1, "1200.00", None)])
    lock_period(engine, "drw", period, "admin-1", BOOK)
    closing = [(period, "draw", Decimal("1000.00"), None)]
    assert kinds(engine, "DR-idle", period) == closing
    assert kinds(engine, "DR-busy", period) == [(period, "earned", Decimal("1200.00"), None)]  # it earned: no top-up
    with engine.connect() as connection:
        audited = connection.execute(select(audit_log.c.details).where(
            audit_log.c.action == "period.close_draws", audit_log.c.subject == f"period/drw/{period}")).scalars().all()
    assert [[(d["rep_id"], d["amount"]) for d in record["draws"]] for record in audited] == [[("DR-idle", "1000.00")]]

    # rejected and locked again: nothing is paid twice
    decide(engine, "drw", period, Actor("fin-1", frozenset({"manager"})), False, "check the deals")
    lock_period(engine, "drw", period, "admin-1", BOOK)
    assert kinds(engine, "DR-idle", period) == closing

    # the batch recompute of the locked period expects the closing draw: the ledger equals it
    deal = Credit("d1", "DR-busy", "closed_won_amount", date(2027, 2, 3), Decimal(12000), "EUR", ChangeVersion(1))
    expected = [compute_period_earnings(BOOK, "DR-busy", period, [deal])]
    posted = ledger_components(engine, period)
    assert [(d.rep_id, d.component_id, d.delta) for d in differences(expected, posted, period)] == [
        ("DR-idle", "draw", Decimal("-1000.00"))]  # without the closing draws, the ledger would seem wrong
    assert differences(with_closing_draws(engine, BOOK, expected, period), posted, period) == []

    # a deal found later for the locked period: the guarantee becomes the top-up it leaves, as adjustments
    apply_snapshots(engine, [snapshot("DR-idle", period, 1, "400.00", "600.00")])
    assert kinds(engine, "DR-idle", period)[1:] == [("2027-Q2", "adjustment", Decimal("400.00"), period),
                                            ("2027-Q2", "draw", Decimal("-400.00"), period)]
    assert ledger_totals(engine)[("DR-idle", period)] == Decimal("1000.00")


def test_the_api_lock_pays_closing_draws_from_the_ledgers_plan_files(engine, database_url, minter, tmp_path):
    plans = tmp_path / "plans.yaml"
    plans.write_text(json.dumps({
        "plans": [{"id": "drwapi", "currency": "EUR", "draw": {"amount": 900, "recoverable": False},
                   "components": [{"id": "commission", "measure": "closed_won_amount", "rate": "0.1"}]}],
        "participants": [{"id": "DR-api", "plan": "drwapi"}]}))
    settings = LedgerSettings(database_url=database_url, plans_file=str(plans))
    guard = LedgerGuard(settings, TokenVerifier(minter.settings))
    with serving_api(engine, settings, guard) as url, httpx.Client(base_url=url, timeout=30) as api:
        admin = minter.bearer("admin-9", ("comp_admin",), ("*",))
        assert api.post("/v1/periods/drwapi/2027-Q3/lock", headers=admin).json() == {"state": "locked"}
        section = api.get("/v1/reps/DR-api/statements/2027-Q3",
                          headers=minter.bearer("DR-api", ("rep",), ())).json()["currencies"][0]
    assert [(line["kind"], line["amount"]) for line in section["draws"]] == [("draw", "900.00")]
    # not recoverable: paid, and nothing outstanding
    assert (section["draw_paid"], section["draw_balance"], section["total_payable"]) == ("900.00", "0", "900.00")


def test_a_recompute_books_a_draw_correction_as_a_draw(engine):
    from services.ledger.recompute_service import apply_differences

    period = "2028-Q1"  # DR-busy (on the plan) has no other entry in 2028
    apply_snapshots(engine, [snapshot("DR-busy", period, 1, "300.00", "700.00")])
    # the plan engine finds a deal the ledger missed: commission 400, so the recoverable top-up is 600
    deals = [Credit(r, "DR-busy", "closed_won_amount", date(2028, 2, 3), Decimal(a), "EUR", ChangeVersion(1))
             for r, a in (("d1", 3000), ("d2", 1000))]
    expected = [compute_period_earnings(BOOK, "DR-busy", period, deals)]
    found = differences(expected, ledger_components(engine, period), period)
    assert apply_differences(engine, period, found, "admin-1") == 2
    booked = [k for k in kinds(engine, "DR-busy") if k[0] == period]
    assert booked[2:] == [(period, "adjustment", Decimal("100.00"), None),
                          (period, "draw", Decimal("-100.00"), None)]  # a draw, not an adjustment
    assert differences(expected, ledger_components(engine, period), period) == []
    assert statement(engine, "DR-busy", period)["currencies"][0]["draw_balance"] == "600.00"
