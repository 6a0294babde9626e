"""Which calendar months make a period: the rule stage 2 computes every period from."""

from datetime import date

import pytest

from attain.core.periods import PeriodError, days_of, months_of, period_bounds, period_of

PERIODS = ["2026", "2026-H1", "2026-H2", *(f"2026-Q{q}" for q in range(1, 5)), *(f"2026-{m:02d}" for m in range(1, 13))]


@pytest.mark.parametrize("period", PERIODS)
def test_a_period_is_the_months_whose_days_it_holds_in_date_order(period):
    first, last = period_bounds(period)
    months = months_of(period)
    assert months == sorted(months)
    assert {period_of(day, "month") for day in days_of(period)} == set(months)
    assert days_of(period)[0] == first and days_of(period)[-1] == last
    assert len(days_of(period)) == (last - first).days + 1


@pytest.mark.parametrize("period", PERIODS)
def test_from_january_a_period_adds_every_earlier_month_of_its_year(period):
    first, _ = period_bounds(period)
    earlier = [f"{first.year}-{m:02d}" for m in range(1, first.month)]
    assert months_of(period, from_january=True) == earlier + months_of(period)


def test_a_leap_february_has_29_days():
    assert days_of("2028-02")[-1] == date(2028, 2, 29) and len(days_of("2027-02")) == 28


@pytest.mark.parametrize("name", ["junk", "0000-Q1", "9999-Q4", "2026-Q1\n", "２０２６-Q1", "2026-٠١", "FY0000-Q1"])
def test_a_name_that_is_no_period_of_the_calendar_is_a_period_error_never_a_crash(name: str) -> None:
    with pytest.raises(PeriodError):
        period_bounds(name, fiscal_start=4 if name.startswith("FY") else 1)


def test_the_first_and_last_periods_a_date_can_hold_still_have_bounds() -> None:
    assert period_bounds("0001-01") == (date(1, 1, 1), date(1, 1, 31))
    assert period_bounds("9999-Q3") == (date(9999, 7, 1), date(9999, 9, 30))
