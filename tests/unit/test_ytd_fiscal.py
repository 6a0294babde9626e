"""Year to date against an annual (or half-year) quota, fiscal calendars and time zones: worked examples."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attain.core.earnings import compute_period_earnings, periods_to_publish
from attain.core.money import round_money
from attain.core.periods import PeriodError, period_bounds, period_of, periods_to_date
from attain.core.plan_parser import PlanError
from attain.core.recompute import recompute
from attain.core.tiers import Tier, marginal, retroactive
from tests.unit.calculator_harness import Calculator, opp
from tests.unit.plan_helpers import book, credits_of, earned, record, won

TIERS = ("{method: retroactive, table: [{from: 0, to: 0.5, rate: 0.02}, {from: 0.5, to: 1, rate: 0.04}, "
         "{from: 1, rate: 0.06}]}")


def annual(period="quarter", fiscal="", quota='{"2026": 1200000}', quota_period="year"):
    return f"""
plans:
  - id: ae
    currency: INR
    period: {period}
    {fiscal}
    components:
      - {{id: annual, measure: closed_won_amount, quota_period: {quota_period}, tiers: {TIERS}}}
participants:
  - {{id: r1, plan: ae, quotas: {{default: {quota}}}}}
"""


def component(the_book, period, credits):
    return compute_period_earnings(the_book, "r1", period, credits).components[0]


def test_an_annual_quota_paid_quarterly_pays_the_true_up_of_year_to_date_earnings():
    plan = book(annual())
    deals = [won("a", "r1", 300_000, "2026-02-10"), won("b", "r1", 500_000, "2026-05-05"),
             won("c", "r1", 500_000, "2026-11-20")]
    q1 = component(plan, "2026-Q1", deals)  # 300,000 / 1,200,000 = 25%: 300,000 x 2% = 6,000
    assert (q1.quota, q1.attainment_ratio, q1.earned_amount) == (Decimal("1200000.00"), Decimal("0.2500"),
                                                                 Decimal("6000.00"))
    q2 = component(plan, "2026-Q2", deals)  # YTD 800,000 = 66.67%: 800,000 x 4% = 32,000, minus 6,000 paid
    assert (q2.credited_value, q2.attainment_ratio, q2.earned_amount) == (
        Decimal("800000.00"), Decimal("0.6667"), Decimal("26000.00"))
    assert ("to date (2026 from 2026-01-01): credited 800000, annual quota 1200000, attainment 0.6667, "
            "earnings 32000.00; earlier periods (2026-Q1) earned 6000.00; true-up 32000.00 - 6000.00 = 26000.00 "
            "in 2026-Q2") in q2.steps
    assert component(plan, "2026-Q3", deals).earned_amount == 0  # nothing new: 32,000 to date, 32,000 paid
    q4 = component(plan, "2026-Q4", deals)  # 1,300,000 = 108.33%: x 6% = 78,000, minus 32,000
    assert q4.earned_amount == Decimal("46000.00")
    assert "earlier periods (2026-Q1..2026-Q3) earned 32000.00" in " ".join(q4.steps)


def test_a_half_year_quota_on_a_monthly_plan_starts_again_in_the_second_half():
    plan = book(annual("month", quota='{"2026-H1": 600000, "2026-H2": 900000}', quota_period="half"))
    deals = [won("a", "r1", 200_000, "2026-01-10"), won("b", "r1", 200_000, "2026-02-10"),
             won("c", "r1", 300_000, "2026-07-01")]
    assert earned(plan, "r1", "2026-01", deals) == {"annual": Decimal("4000.00")}  # 33% x 2%
    assert earned(plan, "r1", "2026-02", deals) == {"annual": Decimal("12000.00")}  # 66.7%: 16,000 - 4,000
    assert earned(plan, "r1", "2026-06", deals) == {"annual": Decimal("0.00")}
    july = component(plan, "2026-07", deals)  # H2: 300,000 / 900,000 = 33.3%, nothing paid yet this half
    assert (july.quota, july.earned_amount) == (Decimal("900000.00"), Decimal("6000.00"))


def test_an_annual_quota_is_prorated_by_the_days_of_the_year_on_the_plan():
    plan = book(annual().replace("plan: ae,", "plan: ae, start: 2026-07-02,"))  # 183 of 365 days
    q3 = component(plan, "2026-Q3", [won("a", "r1", 300_000, "2026-08-01")])
    assert q3.quota == Decimal("601643.84")  # 1,200,000 x 183 / 365
    assert q3.earned_amount == Decimal("6000.00")  # 49.9%: 2%


def test_a_fiscal_year_from_april_names_and_bounds_its_periods():
    assert period_bounds("FY2027-Q1", 4) == (date(2026, 4, 1), date(2026, 6, 30))
    assert period_bounds("FY2027-Q4", 4) == (date(2027, 1, 1), date(2027, 3, 31))
    assert period_bounds("FY2027", 4) == (date(2026, 4, 1), date(2027, 3, 31))
    assert period_bounds("FY2027-H2", 7) == (date(2027, 1, 1), date(2027, 6, 30))
    assert [period_of(date(2026, 3, 31), "quarter", 4), period_of(date(2026, 4, 1), "quarter", 4)] == [
        "FY2026-Q4", "FY2027-Q1"]
    assert period_of(date(2026, 6, 30), "year", 7) == "FY2026" and period_of(date(2026, 7, 1), "year", 7) == "FY2027"
    assert periods_to_date("FY2027-Q3", "year", 4) == ["FY2027-Q1", "FY2027-Q2", "FY2027-Q3"]
    assert period_of(date(2026, 8, 14), "quarter") == "2026-Q3"  # calendar plans keep their names
    with pytest.raises(PeriodError, match="fiscal period"):
        period_bounds("FY2027-Q1")


def test_year_to_date_on_an_april_fiscal_year_starts_again_in_april():
    plan = book(annual(fiscal="fiscal_year_start: 4", quota='{"FY2027": 1200000}'))
    deals = [won("old", "r1", 900_000, "2026-03-31"),  # FY2026-Q4: not in FY2027's year to date
             won("a", "r1", 300_000, "2026-04-01"), won("b", "r1", 500_000, "2026-07-15")]
    q1 = component(plan, "FY2027-Q1", deals)
    assert (q1.credited_value, q1.earned_amount) == (Decimal("300000.00"), Decimal("6000.00"))
    assert component(plan, "FY2027-Q2", deals).earned_amount == Decimal("26000.00")
    assert periods_to_publish(plan, "r1", [date(2026, 7, 15)], [d.credit_date for d in deals]) == [
        "FY2027-Q1", "FY2027-Q2"]
    assert compute_period_earnings(plan, "r1", "2026-Q2", deals) is None  # its quarters are named FY...


def test_a_year_quota_key_is_accepted_only_for_a_component_measured_against_the_year():
    book(annual())  # "2026" on a quarterly plan, quota_period: year: fine
    with pytest.raises(PlanError, match="'2026' is never used: plan 'ae' measures by quarter"):
        book(annual().replace("quota_period: year, ", ""))
    with pytest.raises(PlanError, match=r"'2026-Q1' is never used: plan 'ae' measures by year"):
        book(annual(quota='{"2026-Q1": 300000}'))
    with pytest.raises(PlanError, match=r"'2026' is never used.*fiscal year starts in month 4: FY2026"):
        book(annual(fiscal="fiscal_year_start: 4"))
    with pytest.raises(PlanError, match=r"has no 'quota' for 2027, which plan 'ae' component annual"):
        book(annual().replace("plan: ae,", "plan: ae, start: 2026-01-01, end: 2027-06-30,"))
    with pytest.raises(PlanError, match="'quarter' is not a quota period"):
        book(annual(quota_period="quarter"))
    with pytest.raises(PlanError, match="a half quota on a plan paid by half is an ordinary period quota"):
        book(annual("half", quota_period="half"))
    with pytest.raises(PlanError, match="13 is not a month"):
        book(annual(fiscal="fiscal_year_start: 13"))


TIMED = """
measures:
  won_at: {object: Opportunity, sum: amount, date_field: won_at, when: {is_won: true}, credit_to: [owner]}
plans:
  - id: ae
    currency: INR
    timezone: Asia/Kolkata
    components:
      - {id: commission, measure: won_at, rate: 0.05}
participants:
  - {id: r1, plan: ae}
  - {id: r2, plan: ae, timezone: UTC}
"""


def test_a_timestamp_credit_date_is_taken_in_the_reps_time_zone():
    deal = {"amount": 1000, "is_won": True, "won_at": "2026-03-31T20:00:00Z"}
    india = credits_of(book(TIMED), record("006A", owner_id="r1", **deal))
    assert [c.credit_date for c in india] == [date(2026, 4, 1)]  # 01:30 on 1 April in India: Q2
    utc = credits_of(book(TIMED), record("006A", owner_id="r2", **deal))  # the participant's own zone
    assert [c.credit_date for c in utc] == [date(2026, 3, 31)]
    unzoned = credits_of(book(TIMED.replace("    timezone: Asia/Kolkata\n", "")), record("006A", owner_id="r1", **deal))
    assert [c.credit_date for c in unzoned] == [date(2026, 3, 31)]  # as written
    dated = credits_of(book(TIMED), record("006A", owner_id="r1", **{**deal, "won_at": "2026-03-31"}))
    assert [c.credit_date for c in dated] == [date(2026, 3, 31)]  # a date is that day everywhere
    with pytest.raises(PlanError, match="'Asia/Mumbai' is not a time zone"):
        book(TIMED.replace("Asia/Kolkata", "Asia/Mumbai"))


def test_one_participant_cannot_mix_fiscal_calendars():
    text = annual(fiscal="fiscal_year_start: 4").replace("plan: ae,", "plans: [{plan: ae, to: 2026-06-30}, "
                                                          "{plan: au, from: 2026-07-01}],")
    text = text.replace("participants:", """  - id: au
    currency: INR
    fiscal_year_start: 7
    components: [{id: flat, measure: closed_won_amount, rate: 0.01}]
participants:""")
    with pytest.raises(PlanError, match="fiscal years start in different months"):
        book(text)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 364), st.decimals(1, 2_000_000, places=2)), max_size=12),
    st.sampled_from([1, 4, 7]), st.sampled_from(["month", "quarter", "half"]),
    st.sampled_from(["marginal", "retroactive"]),
)
def test_a_years_payments_add_up_to_its_earnings_to_date_at_year_end(deals, fiscal_start, period, method):
    first = period_bounds("2026" if fiscal_start == 1 else "FY2027", fiscal_start)[0]
    year = period_of(first, "year", fiscal_start)
    text = annual(period, f"fiscal_year_start: {fiscal_start}", f'{{"{year}": 1200000}}').replace(
        "retroactive", method)
    plan = book(text)
    credits = [won(f"d{i}", "r1", amount, date.fromordinal(first.toordinal() + day).isoformat())
               for i, (day, amount) in enumerate(deals)]
    periods = periods_to_date(period_of(date.fromordinal(first.toordinal() + 364), period, fiscal_start), "year",
                              fiscal_start)
    paid = sum(component(plan, name, credits).earned_amount for name in periods)
    tiers = [Tier(Decimal(0), Decimal("0.5"), Decimal("0.02")), Tier(Decimal("0.5"), Decimal(1), Decimal("0.04")),
             Tier(Decimal(1), None, Decimal("0.06"))]
    total = sum((amount for _, amount in deals), Decimal(0))
    rated = (marginal if method == "marginal" else retroactive)(tiers, total, Decimal(1_200_000))
    assert paid == round_money(rated.earned, "INR")


annual_changes = st.builds(
    lambda i, record_id, ts, amount, day: opp(f"e{i}", record_id, ts, owner_id="r1", amount=amount, is_won=True,
                                              close_date=day),
    st.integers(0, 10_000), st.sampled_from(["A", "B", "C", "D"]), st.integers(0, 20),
    st.decimals(0, 900_000, places=2),
    st.sampled_from(["2026-03-31", "2026-04-01", "2026-06-30", "2026-09-15", "2027-01-05", "2027-03-31",
                     "2027-04-01"]),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(annual_changes, max_size=12, unique_by=lambda c: c.event_id), st.data())
def test_the_calculator_pays_a_fiscal_annual_quota_as_the_batch_recompute_does(changes, data):
    plan = book(annual(fiscal="fiscal_year_start: 4", quota='{"*": 1200000}'))
    calc = Calculator(plan)
    order = data.draw(st.permutations(changes))
    calc.feed_batches(order, sorted(data.draw(st.lists(st.integers(0, len(order)), max_size=3))))
    expected = {key: e.total_earned for key, e in recompute(plan, changes).items() if e.total_earned}
    assert calc.totals() == expected
    assert all(period.startswith("FY") for _, period in expected)


def test_the_published_schema_takes_the_fiscal_and_annual_quota_fields():
    import jsonschema

    from attain.planfiles import load_text
    from tests.unit.test_plan_schema import SCHEMA, as_json

    text = annual(fiscal="fiscal_year_start: 4\n    timezone: Asia/Kolkata", quota='{"FY2027": 1200000}')
    jsonschema.validate(as_json(load_text(text).data), SCHEMA)
    with pytest.raises(jsonschema.ValidationError, match="quarter"):
        jsonschema.validate(as_json(load_text(annual(quota_period="quarter")).data), SCHEMA)


def test_the_ledger_moves_fiscal_quarters_like_calendar_ones():
    import pydantic

    from attain.ledger.periods import PeriodState, posting_period
    from services.ledger.api_models import LedgerPeriod

    locked = {"FY2027-Q4": PeriodState.LOCKED}
    assert posting_period("FY2027-Q4", locked) == "FY2028-Q1"  # an adjustment to a locked fiscal Q4
    periods = pydantic.TypeAdapter(LedgerPeriod)
    assert periods.validate_python("FY2027-Q1") == "FY2027-Q1"
    with pytest.raises(pydantic.ValidationError):
        periods.validate_python("FY2027-04")


@pytest.mark.parametrize("text", ["\uff12\uff10\uff12\uff16-Q1", "2026-\u0661\u0662", "FY\u0662\u0660\u0662\u0667-Q1"])
def test_ledger_periods_and_amounts_take_ascii_digits_only(text: str) -> None:
    import pydantic

    from services.ledger.api_models import LedgerPeriod, MoneyText

    with pytest.raises(pydantic.ValidationError):
        pydantic.TypeAdapter(LedgerPeriod).validate_python(text)
    with pytest.raises(pydantic.ValidationError):
        pydantic.TypeAdapter(MoneyText).validate_python("\u0661\u0660\u0660.50")
    assert pydantic.TypeAdapter(MoneyText).validate_python("100.50") == "100.50"


def test_a_year_to_date_component_finds_its_earlier_periods_by_id_when_the_plan_versions_list_other_components():
    """Version 2 (from April) puts a flat SPIFF before the annual component: Q2's true-up reads what Q1
    earned under version 1, where the annual component is the first (index 0, not 1)."""
    plan = book(f"""
plans:
  - id: ae
    currency: INR
    period: quarter
    effective_to: 2026-03-31
    components:
      - {{id: annual, measure: closed_won_amount, quota_period: year, tiers: {TIERS}}}
  - id: ae
    version: 2
    currency: INR
    period: quarter
    effective_from: 2026-04-01
    components:
      - {{id: spiff, measure: closed_won_amount, rate: 0.01}}
      - {{id: annual, measure: closed_won_amount, quota_period: year, tiers: {TIERS}}}
participants:
  - {{id: r1, plan: ae, quotas: {{default: {{"2026": 1200000}}}}}}
""")
    deals = [won("a", "r1", 300_000, "2026-02-10"), won("b", "r1", 500_000, "2026-05-05")]
    assert earned(plan, "r1", "2026-Q1", deals) == {"annual": Decimal("6000.00")}  # 25%: x 2%
    # to date 800,000 = 66.67%: x 4% = 32,000, minus Q1's 6,000; the SPIFF pays 1% of May's 500,000
    assert earned(plan, "r1", "2026-Q2", deals) == {"spiff": Decimal("5000.00"), "annual": Decimal("26000.00")}
