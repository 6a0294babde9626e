"""A plan on a fiscal calendar books its FY-named quarters in the ledger (real PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal

from attain.ledger.periods import PeriodState
from services.ledger.db import apply_snapshots, ledger_totals
from services.ledger.period_service import lock_period
from tests.integration.test_ledger_periods import entries_of, snapshot


def test_a_late_change_to_a_locked_fiscal_q4_is_adjusted_in_the_next_fiscal_year(engine):
    apply_snapshots(engine, [snapshot("F1", 1, "6000.00", period="FY2027-Q4", plan="ae-in")])
    assert lock_period(engine, "ae-in", "FY2027-Q4", "prep-1") == PeriodState.LOCKED
    apply_snapshots(engine, [snapshot("F1", 2, "32000.00", period="FY2027-Q4", plan="ae-in")])
    assert entries_of(engine, "F1") == [
        ("FY2027-Q4", "earned", Decimal("6000.00"), None),
        ("FY2028-Q1", "adjustment", Decimal("26000.00"), "FY2027-Q4"),
    ]
    assert ledger_totals(engine)[("F1", "FY2027-Q4")] == Decimal("32000.00")
