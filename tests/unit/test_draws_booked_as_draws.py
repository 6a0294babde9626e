"""Draws booked as draws: the core's draw kinds, the ledger's split into draw / draw_recovery, the
statement's draws section. Hand-computed numbers (docs/plans.md, "Draws in the ledger")."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from attain.contracts.earnings import ComponentEarnings, EarningsSnapshot
from attain.core.crediting import Credit
from attain.core.earnings import RECOVERABLE_DRAW, closing_draw, compute_period_earnings
from attain.core.plan_parser import parse_plan_book
from attain.core.records import ChangeVersion
from attain.ledger.statements import build_statement
from services.ledger.db import _entries_for

BOOK = parse_plan_book({
    "plans": [
        {"id": "ae", "currency": "EUR", "draw": {"amount": 1000, "recoverable": True},
         "components": [{"id": "commission", "measure": "closed_won_amount", "rate": "0.1"}]},
        {"id": "sdr", "currency": "EUR", "draw": {"amount": 1000, "recoverable": False},
         "components": [{"id": "commission", "measure": "closed_won_amount", "rate": "0.1"}]},
    ],
    "participants": [{"id": "r1", "plan": "ae"}, {"id": "s1", "plan": "sdr"},
                     {"id": "late", "plan": "ae", "start": "2026-08-17"}],
})


def won(rep: str, day: date, amount: str) -> Credit:
    return Credit(f"{rep}-{day}", rep, "closed_won_amount", day, Decimal(amount), "EUR", ChangeVersion(1))


def test_a_recoverable_draw_is_a_recoverable_draw_component() -> None:
    # Q1 earns 300 on a 1,000 draw: top-up 700 (outstanding 700); Q2 earns 1,500: recover 500 (200 left)
    credits = [won("r1", date(2026, 2, 1), "3000"), won("r1", date(2026, 5, 1), "15000")]
    q1 = compute_period_earnings(BOOK, "r1", "2026-Q1", credits)
    q2 = compute_period_earnings(BOOK, "r1", "2026-Q2", credits)
    assert q1 is not None and q2 is not None
    assert [(c.component_id, c.earned_amount, c.kind) for c in q1.components] == [
        ("commission", Decimal("300.00"), "earnings"), ("draw", Decimal("700.00"), RECOVERABLE_DRAW)]
    assert [(c.component_id, c.earned_amount, c.kind) for c in q2.components] == [
        ("commission", Decimal("1500.00"), "earnings"), ("draw", Decimal("-500.00"), RECOVERABLE_DRAW)]
    snapshot = EarningsSnapshot.of(q2, 1, 0, (), None)
    assert [c.kind for c in snapshot.components] == [None, "recoverable_draw"]
    assert EarningsSnapshot.from_avro(snapshot.to_avro()) == snapshot


def test_an_earlier_period_without_credits_counts_as_fully_drawn() -> None:
    # Q1 has no credit: its 1,000 is paid at close; Q2 earns 1,500: recover 500 of it (500 left)
    q2 = compute_period_earnings(BOOK, "r1", "2026-Q2", [won("r1", date(2026, 5, 1), "15000")])
    assert q2 is not None and q2.components[-1].earned_amount == Decimal("-500.00")


def test_the_closing_draw_is_the_prorated_guarantee() -> None:
    full = closing_draw(BOOK, "s1", "2026-Q3")
    assert full is not None and (full.total_earned, full.components[0].kind) == (Decimal("1000.00"), "draw")
    # on the plan from 17 Aug: 45 of Q3's 92 days (15 + 30), 1,000 x 45 / 92 = 489.130... -> 489.13
    joined = closing_draw(BOOK, "late", "2026-Q3")
    assert joined is not None and joined.total_earned == Decimal("489.13")
    assert closing_draw(BOOK, "late", "2026-Q2") is None  # not on a plan yet
    assert closing_draw(BOOK, "nobody", "2026-Q3") is None


def snap(version: int, *components: tuple[str, str, str | None]) -> EarningsSnapshot:
    return EarningsSnapshot("r1", "2026-Q1", "ae", 1, "EUR", version, 0,
                            tuple(ComponentEarnings(c, a, None, None, a, 1, kind) for c, a, kind in components),
                            "0", ("e1",), None)


def test_the_ledger_books_a_draw_component_as_draw_and_draw_recovery() -> None:
    first = _entries_for(snap(1, ("commission", "300", None), ("draw", "700", "recoverable_draw")), {}, "ae",
                         "2026-Q1")
    assert [(e.kind, e.component_id, e.amount) for e in first] == [
        ("earned", "commission", Decimal(300)), ("draw", "draw", Decimal(700))]
    posted = {("commission", "earned"): Decimal(300), ("draw", "draw"): Decimal(700)}
    # more earnings: the draw turns into a recovery of 200; the advance of 700 is taken back by a -700 draw
    later = _entries_for(snap(2, ("commission", "1200", None), ("draw", "-200", "recoverable_draw")), posted,
                         "ae", "2026-Q2")
    assert [(e.kind, e.amount, e.corrects_period) for e in later] == [
        ("adjustment", Decimal(900), "2026-Q1"), ("draw", Decimal(-700), "2026-Q1"),
        ("draw_recovery", Decimal(-200), "2026-Q1")]


def test_a_draw_booked_as_earned_before_v3_moves_to_the_draw_kind() -> None:
    old = {("draw", "earned"): Decimal(700)}
    moved = _entries_for(snap(3, ("draw", "700", "recoverable_draw")), old, "ae", "2026-Q1")
    assert sorted((e.kind, e.amount) for e in moved) == [("draw", Decimal(700)), ("earned", Decimal(-700))]


def entry(entry_id: int, period: str, kind: str, amount: int, explanation: str | None = None,
          component: str = "draw") -> dict[str, object]:
    return {"entry_id": entry_id, "period": period, "kind": kind, "amount": Decimal(amount), "currency": "EUR",
            "component_id": component, "explanation": explanation}


def test_the_statement_shows_the_draw_paid_recovered_and_outstanding() -> None:
    rows = [
        entry(1, "2026-Q1", "earned", 300, component="commission"),
        entry(2, "2026-Q1", "draw", 700, "recoverable draw paid as of snapshot v1"),
        entry(3, "2026-Q2", "earned", 1500, component="commission"),
        entry(4, "2026-Q2", "draw_recovery", -500, "recoverable draw recovered from earnings as of snapshot v1"),
        entry(5, "2026-Q2", "draw", 100, "draw (not recoverable) paid as of snapshot v1"),  # the rep keeps it
        entry(6, "2025-Q4", "draw", 400, "recoverable draw paid as of snapshot v9"),  # last year's: forgiven
    ]
    q1 = build_statement("r1", "2026-Q1", rows)["currencies"][0]
    assert (q1["draw_paid"], q1["draw_recovered"], q1["draw_balance"]) == ("700", "0", "700")
    q2 = build_statement("r1", "2026-Q2", rows)["currencies"][0]
    assert (q2["draw_paid"], q2["draw_recovered"], q2["draw_balance"]) == ("100", "500", "200")
    assert [line["entry_id"] for line in q2["draws"]] == [4, 5]
    # opening 400 + 300 + 700, this period 1,500 - 500 + 100
    assert (q2["opening_balance"], q2["total_payable"]) == ("1400", "2500")


def test_the_worked_example_of_docs_plans() -> None:
    # docs/plans.md "Draws in the ledger": Q1 without credits, then 3,000, 25,000 and 15,000 of deals
    credits = [won("r1", date(2026, 5, 1), "3000"), won("r1", date(2026, 8, 1), "25000"),
               won("r1", date(2026, 11, 1), "15000")]
    closing = closing_draw(BOOK, "r1", "2026-Q1")
    assert closing is not None and closing.total_earned == Decimal("1000.00")
    draws = []
    for period in ("2026-Q2", "2026-Q3", "2026-Q4"):
        earnings = compute_period_earnings(BOOK, "r1", period, credits)
        assert earnings is not None
        draws.append((earnings.components[-1].earned_amount, earnings.total_earned))
    assert draws == [(Decimal("700.00"), Decimal("1000.00")), (Decimal("-1500.00"), Decimal("1000.00")),
                     (Decimal("-200.00"), Decimal("1300.00"))]
