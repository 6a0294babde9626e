from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attain.core.money import MINOR_UNITS, MoneyError, minor_unit, parse_decimal, round_money


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


# --- every ISO 4217 currency, at its ISO minor unit ---------------------------------------------


def test_yen_has_no_minor_unit_and_rounds_to_whole_yen():
    assert minor_unit("JPY") == 0
    assert round_money(Decimal("1234.49"), "JPY") == Decimal("1234")
    assert round_money(Decimal("1234.5"), "JPY", "half_even") == Decimal("1234")


def test_dinars_of_bahrain_and_kuwait_have_three_decimals():
    assert (minor_unit("BHD"), minor_unit("KWD")) == (3, 3)
    assert round_money(Decimal("10.0005"), "BHD") == Decimal("10.001")
    assert round_money(Decimal("10.0004"), "KWD") == Decimal("10.000")
    assert str(round_money(Decimal("7"), "BHD")) == "7.000"


@pytest.mark.parametrize("code", ["CAD", "CHF", "CNY", "BRL", "ZAR", "AED"])
def test_currencies_the_old_table_refused_now_round_to_cents(code):
    assert minor_unit(code) == 2
    assert round_money(Decimal("99.995"), code) == Decimal("100.00")


def test_iso_minor_units_not_cldr_display_digits():
    # CLDR (Babel) shows IDR and CLP differently; money is rounded at the ISO 4217 minor unit
    assert (minor_unit("IDR"), minor_unit("CLP"), minor_unit("CLF"), minor_unit("UYW")) == (2, 0, 4, 4)


@pytest.mark.parametrize("code", ["XAU", "XDR", "XXX", "usd", "", "EURO"])
def test_codes_without_a_minor_unit_or_not_iso_are_refused(code):
    with pytest.raises(MoneyError, match="unknown currency"):
        minor_unit(code)


def test_the_table_holds_every_active_iso_currency():
    assert len(MINOR_UNITS) > 150
    assert set(MINOR_UNITS.values()) == {0, 2, 3, 4}


@given(st.sampled_from(sorted(MINOR_UNITS)),
       st.decimals(allow_nan=False, allow_infinity=False, min_value=-10**12, max_value=10**12, places=8),
       st.sampled_from(["half_up", "half_even", "down"]))
def test_rounding_to_a_currency_is_idempotent_and_never_has_more_decimals_than_its_unit(code, amount, mode):
    rounded = round_money(amount, code, mode)
    assert round_money(rounded, code, mode) == rounded
    assert -rounded.as_tuple().exponent == minor_unit(code)
    assert abs(rounded - amount) < Decimal(1).scaleb(-minor_unit(code))
