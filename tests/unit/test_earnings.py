"""Flat-rate commission worked examples, computed by hand."""

from datetime import date
from decimal import Decimal

import pytest

from attain.core.crediting import Credit, CreditingError, credits_for
from attain.core.earnings import compute_period_earnings
from attain.core.plan_parser import PlanError, parse_plan_book
from attain.core.records import ChangeVersion, CrmChange, apply_change

BOOK = parse_plan_book({
    "plans": [
        {"id": "ae", "currency": "INR", "period": "quarter",
         "components": [{"id": "commission", "measure": "closed_won_amount", "rate": "0.05"}]},
        {"id": "jp", "currency": "JPY", "period": "month",
         "components": [{"id": "commission", "measure": "closed_won_amount", "rate": "0.033"}]},
    ],
    "participants": [
        {"id": "rep-1", "plan": "ae", "quota": "1000000"},
        {"id": "rep-jp", "plan": "jp", "quota": "3000000"},
    ],
})


def credit(record_id, amount, day, rep="rep-1", currency="INR"):
    return Credit(record_id, rep, "closed_won_amount", day, Decimal(amount), currency, ChangeVersion(1))


def test_flat_rate_on_credits_of_the_period_rounded_half_up():
    credits = [credit("a", "300000.10", date(2026, 1, 5)), credit("b", "450000.00", date(2026, 3, 31)),
               credit("c", "999999", date(2026, 4, 1))]  # Q2: not in Q1
    result = compute_period_earnings(BOOK, "rep-1", "2026-Q1", credits)
    (component,) = result.components
    assert component.credited_value == Decimal("750000.10")
    assert component.attainment_ratio == Decimal("0.7500")
    assert component.earned_amount == Decimal("37500.01")  # 37,500.005 rounds half up
    assert component.source_record_count == 2
    assert result.total_earned == Decimal("37500.01")


def test_jpy_earnings_round_to_whole_yen():
    deal = credit("a", "1234567", date(2026, 2, 2), "rep-jp", "JPY")
    result = compute_period_earnings(BOOK, "rep-jp", "2026-02", [deal])
    assert result.total_earned == Decimal("40741")  # 1,234,567 x 0.033 = 40,740.711


def opportunity(**fields):
    encoded = {k: (v if k in ("amount",) else __import__("json").dumps(v)) for k, v in fields.items()}
    return apply_change(None, CrmChange("e1", "006X", "Opportunity", "CREATE", ChangeVersion(5), encoded))


def test_won_opportunity_credits_its_owner_on_its_close_date():
    state = opportunity(owner_id="rep-1", amount="120000.50", is_won=True, close_date="2026-02-10")
    assert credits_for(state, BOOK) == [Credit("006X", "rep-1", "closed_won_amount", date(2026, 2, 10),
                                               Decimal("120000.50"), "INR", ChangeVersion(5))]


@pytest.mark.parametrize("fields", [
    {"owner_id": "rep-1", "amount": "10", "is_won": False, "close_date": "2026-02-10"},
    {"owner_id": "rep-1", "amount": "10", "is_won": True},  # no close date yet
    {"owner_id": "someone-else", "amount": "10", "is_won": True, "close_date": "2026-02-10"},
])
def test_records_that_are_not_won_complete_and_owned_by_a_participant_credit_nothing(fields):
    assert credits_for(opportunity(**fields), BOOK) == []


def test_a_deal_in_another_currency_is_an_error_naming_the_record_and_field():
    state = opportunity(owner_id="rep-1", amount="10", is_won=True, close_date="2026-02-10", currency="USD")
    with pytest.raises(CreditingError, match="record 006X field currency: 'USD'.*no FX rate"):
        credits_for(state, BOOK)


def test_plan_book_errors_name_every_problem_with_its_path():
    with pytest.raises(PlanError) as raised:
        parse_plan_book({
            "plans": [{"id": "x", "currency": "ABC", "components": [{"id": "c", "measure": "nope", "rate": 0.1}]}],
            "participants": [{"id": "r", "plan": "missing", "quota": "5"}],
        })
    text = str(raised.value)
    assert "plans[0].currency" in text
    assert "plans[0].components[0].measure" in text
    assert "participants[0].plan: no plan 'missing'" in text
    assert [p.path for p in raised.value.problems] == [
        "plans[0].currency", "plans[0].components[0].measure", "plans[0].components[0].rate", "participants[0].plan"]
