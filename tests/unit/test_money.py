from decimal import Decimal

import pytest

from attain.core.money import MoneyError, parse_decimal, round_money


def test_rounds_half_up_to_the_currency_minor_unit():
    assert round_money(Decimal("10.005"), "INR") == Decimal("10.01")
    assert round_money(Decimal("10.004"), "INR") == Decimal("10.00")
    assert round_money(Decimal("1234.5"), "JPY") == Decimal("1235")
    assert round_money(Decimal("-2.5"), "JPY") == Decimal("-3")


def test_unknown_currency_is_refused_with_the_known_codes():
    with pytest.raises(MoneyError, match="unknown currency 'XYZ'"):
        round_money(Decimal(1), "XYZ")


@pytest.mark.parametrize("bad", [1.5, True, "1,5", "NaN", "Infinity"])
def test_floats_booleans_and_non_numbers_are_not_money(bad):
    with pytest.raises(MoneyError):
        parse_decimal(bad, "amount")


def test_decimal_text_parses_exactly():
    assert parse_decimal("0.1", "x") + parse_decimal("0.2", "x") == Decimal("0.3")
