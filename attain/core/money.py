"""Money: exact decimals, ISO 4217 minor units, one rounding rule.

Cumulative amounts are kept exact and rounded only when published, so deltas
derived from two rounded cumulatives never drift.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation

from iso4217 import Currency

# ISO 4217 minor units of every active currency, from the `iso4217` package (a copy of the
# ISO 4217 maintenance agency's list A.1, read once at import). Codes without a minor unit
# (gold, SDR, test and fund codes: "N.A." in the list) are not money Attain pays in.
# These are ISO minor units, not CLDR display digits (Babel shows IDR with 0 decimals,
# ISO 4217 has 2): money is rounded at the ISO minor unit.
MINOR_UNITS: dict[str, int] = {
    currency.code: currency.exponent for currency in Currency if currency.exponent is not None
}


class MoneyError(ValueError):
    """An amount or currency that cannot be used as money."""


def minor_unit(currency: str) -> int:
    """Return the ISO 4217 exponent of ``currency``.

    >>> minor_unit("JPY"), minor_unit("INR"), minor_unit("BHD")
    (0, 2, 3)
    """
    try:
        return MINOR_UNITS[currency]
    except (KeyError, TypeError):
        raise MoneyError(
            f"unknown currency {currency!r}: use an active ISO 4217 code with a minor unit, e.g. INR, USD, JPY"
        ) from None


ROUNDING_MODES = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN, "down": ROUND_DOWN}


def round_money(amount: Decimal, currency: str, mode: str = "half_up") -> Decimal:
    """Round ``amount`` to the minor unit of ``currency``: half-up unless ``mode`` says otherwise.

    >>> round_money(Decimal("10.005"), "INR"), round_money(Decimal("10.5"), "JPY")
    (Decimal('10.01'), Decimal('11'))
    >>> round_money(Decimal("10.005"), "INR", "half_even"), round_money(Decimal("-10.5"), "JPY")
    (Decimal('10.00'), Decimal('-11'))
    """
    exponent = Decimal(1).scaleb(-minor_unit(currency))
    return amount.quantize(exponent, rounding=ROUNDING_MODES[mode])


def parse_decimal(text: object, what: str) -> Decimal:
    """Parse decimal text (or an int/Decimal) exactly; floats are refused.

    >>> parse_decimal("1250000.50", "amount")
    Decimal('1250000.50')
    """
    if text is None:
        raise MoneyError(f"{what}: a number is required")
    if isinstance(text, bool | float):
        raise MoneyError(f"{what}: {text!r} is not exact decimal text")
    if isinstance(text, Decimal):
        value = text
    else:
        try:
            value = Decimal(str(text))
        except InvalidOperation:
            raise MoneyError(f"{what}: {text!r} is not a decimal number") from None
    if not value.is_finite():
        raise MoneyError(f"{what}: {text!r} is not a finite number")
    return value
