"""A recompute corrects a draw with the draw's own kinds (issue 14 leftovers), not with ``adjustment`` churn."""

from decimal import Decimal

from attain.core.earnings import RECOVERABLE_DRAW, ComponentEarnings, PeriodEarnings
from attain.ledger.entries import Entry, is_reconciled, is_recoverable
from services.ledger.recompute_service import differences

D = Decimal


def expected(commission: str, draw: str) -> PeriodEarnings:
    return PeriodEarnings("r1", "2026-Q1", "drw", 1, "EUR", (
        ComponentEarnings("commission", D(0), None, None, D(commission), 1),
        ComponentEarnings("draw", D(0), None, None, D(draw), 0, kind=RECOVERABLE_DRAW)))


def test_a_recompute_finds_a_draws_top_up_and_recovery_apart_from_its_earnings():
    # the ledger booked commission 300 and a recoverable top-up of 700 (a 1,000 draw); the plan engine computes
    # commission 400 (a deal the ledger missed): the top-up is 600, so the draw is 100 less, not an adjustment
    ledger = {"r1": {("commission", "earned"): (D("300.00"), "EUR", "drw", False),
                     ("draw", "draw"): (D("700.00"), "EUR", "drw", True)}}
    found = differences([expected("400.00", "600.00")], ledger, "2026-Q1")
    assert [(d.component_id, d.kind, d.delta, d.recoverable) for d in found] == [
        ("commission", "earned", D("100.00"), False), ("draw", "draw", D("-100.00"), True)]
    # later: commission 1,500 recovers 500 of the draw where the ledger still shows the top-up of 700
    found = differences([expected("1500.00", "-500.00")], ledger, "2026-Q1")
    assert [(d.component_id, d.kind, d.delta) for d in found] == [
        ("commission", "earned", D("1200.00")), ("draw", "draw", D("-700.00")),
        ("draw", "draw_recovery", D("-500.00"))]


def test_a_draw_correction_is_booked_as_a_computed_draw_of_its_kind():
    common = {"rep_id": "r1", "period": "2026-Q1", "posting": "2026-Q2", "plan_id": "drw", "plan_version": 1,
              "scope": "drw", "component_id": "draw", "currency": "EUR", "actor_id": "admin-1"}
    top_up = Entry.recompute_draw(kind="draw", recoverable=True, ledger_amount=D(700), expected_amount=D(600),
                                  **common)
    recovery = Entry.recompute_draw(kind="draw_recovery", recoverable=True, ledger_amount=D(0),
                                    expected_amount=D(-500), **common)
    kept = Entry.recompute_draw(kind="draw", recoverable=False, ledger_amount=D(700), expected_amount=D(600),
                                **common)
    assert [(e.kind, e.amount, e.corrects_period) for e in (top_up, recovery)] == [
        ("draw", D(-100), "2026-Q1"), ("draw_recovery", D(-500), "2026-Q1")]
    # computed (reconciled like a snapshot's draw) and moving the outstanding balance only when recoverable
    assert [is_reconciled(e.row()) for e in (top_up, recovery, kept)] == [True, True, True]
    assert [is_recoverable(e.row()) for e in (top_up, recovery, kept)] == [True, True, False]
    assert top_up.idempotency_key.startswith("recompute:draw:r1:2026-Q1:draw:")
    assert "admin-1" in str(top_up.explanation)
