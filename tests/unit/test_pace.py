"""Pace at its boundaries (attain/core/pace.py) and the managers' team rows that use it (services/portal/manager.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from attain.contracts.earnings import ComponentEarnings, EarningsSnapshot
from attain.core.pace import elapsed_share, off_pace, projected_attainment, working_days
from services.portal.config import PortalSettings
from services.portal.manager import team_row

Q1 = (date(2026, 1, 1), date(2026, 3, 31))  # Thursday 1 January to Tuesday 31 March: 64 working days
FEB = (date(2026, 2, 1), date(2026, 2, 28))  # Sunday 1 to Saturday 28 February: 20 working days


def test_working_days_count_monday_to_friday_both_ends_included() -> None:
    assert working_days(*Q1) == 64
    assert working_days(*FEB) == 20
    assert working_days(date(2026, 1, 5), date(2026, 1, 11)) == 5  # one whole week
    assert working_days(date(2026, 1, 10), date(2026, 1, 11)) == 0  # a weekend
    assert working_days(date(2026, 1, 9), date(2026, 1, 9)) == 1  # a Friday alone
    assert working_days(date(2026, 1, 2), date(2026, 1, 1)) == 0  # backwards: nothing


def test_elapsed_share_at_the_first_day_the_last_day_and_over_a_weekend() -> None:
    assert elapsed_share(*Q1, date(2026, 1, 1)) == Decimal(1) / 64  # the first day has started
    assert elapsed_share(*Q1, date(2026, 1, 2)) == Decimal(2) / 64
    # Saturday and Sunday add nothing: the share stays Friday's
    assert elapsed_share(*Q1, date(2026, 1, 3)) == elapsed_share(*Q1, date(2026, 1, 4)) == Decimal(2) / 64
    assert elapsed_share(*Q1, date(2026, 1, 5)) == Decimal(3) / 64
    assert elapsed_share(*Q1, date(2026, 3, 30)) == Decimal(63) / 64
    assert elapsed_share(*Q1, date(2026, 3, 31)) == 1  # the last day
    # a period ending on a weekend is complete from its last working day
    assert elapsed_share(*FEB, date(2026, 2, 27)) == 1
    # a period starting on a Sunday: nothing has elapsed on that Sunday
    assert elapsed_share(*FEB, date(2026, 2, 1)) == 0
    assert elapsed_share(*FEB, date(2026, 2, 2)) == Decimal(1) / 20


def test_before_the_period_there_is_no_projection_and_after_it_the_projection_is_the_attainment() -> None:
    assert elapsed_share(*Q1, date(2025, 12, 31)) == 0
    assert projected_attainment(Decimal("0.3"), elapsed_share(*Q1, date(2025, 12, 31))) is None
    assert not off_pace(None)  # not under way: not off pace
    ended = elapsed_share(*Q1, date(2026, 7, 1))
    assert ended == 1 and projected_attainment(Decimal("0.85"), ended) == Decimal("0.85")


def test_projection_and_the_off_pace_threshold() -> None:
    # halfway through the working days (32 of 64: Friday 13 February), 45% credited projects 90%
    half = elapsed_share(*Q1, date(2026, 2, 13))
    assert half == Decimal("0.5")
    assert projected_attainment(Decimal("0.45"), half) == Decimal("0.9")
    assert not off_pace(Decimal("0.9"))  # exactly 90% is on pace
    assert off_pace(projected_attainment(Decimal("0.449"), half))
    assert off_pace(Decimal("0.9"), threshold=Decimal("0.95"))  # configurable
    assert not off_pace(Decimal("0.7"), threshold=Decimal("0.6"))


def snapshot(rep: str, period: str, ratio: str | None, earned: str = "1000.00") -> EarningsSnapshot:
    component = ComponentEarnings("commission", "450000", "1000000" if ratio else None, ratio, earned, 1)
    return EarningsSnapshot(rep, period, "ae", 1, "INR", 1, 0, (component,), earned, ("e1",), None)


def test_a_team_row_projects_each_measure_and_flags_off_pace_by_the_threshold() -> None:
    halfway = date(2026, 2, 13)
    row = team_row(None, "r1", [snapshot("r1", "2026-Q1", "0.45")], "2026-Q1", halfway, Decimal("0.9"), "en-IN")
    assert (row.earned, row.off_pace) == ("₹1,000.00", False)
    assert [(m.attainment, m.projected, m.off_pace) for m in row.measures] == [("45.0%", "90.0%", False)]
    stricter = team_row(None, "r1", [snapshot("r1", "2026-Q1", "0.45")], "2026-Q1", halfway, Decimal("0.95"),
                        "en-IN")
    assert stricter.off_pace and stricter.measures[0].off_pace
    # no earnings in a period under way: 0% of quota, off pace; before the period: neither
    assert team_row(None, "r2", [], "2026-Q1", halfway, Decimal("0.9"), "en-IN").off_pace
    early = team_row(None, "r2", [], "2026-Q1", date(2025, 12, 20), Decimal("0.9"), "en-IN")
    assert (early.earned, early.off_pace) == (None, False)
    # without a chosen period or a plan book, the newest period with earnings is shown
    newest = team_row(None, "r1", [snapshot("r1", "2025-Q4", "1.2"), snapshot("r1", "2026-Q1", "0.1")], None,
                      halfway, Decimal("0.9"), "en-IN")
    assert newest.period == "2026-Q1" and newest.off_pace and newest.measures[0].projected == "20.0%"
    # a measure without a quota has no pace
    assert team_row(None, "r1", [snapshot("r1", "2026-Q1", None)], "2026-Q1", halfway, Decimal("0.9"),
                    "en-IN").measures == []


def test_the_threshold_is_a_setting(monkeypatch) -> None:
    assert PortalSettings().off_pace == Decimal("0.9")
    monkeypatch.setenv("ATTAIN_PORTAL_OFF_PACE", "0.85")
    assert PortalSettings().off_pace == Decimal("0.85")
