"""Amounts as a reader reads them: at the currency's ISO 4217 minor unit, grouped the reader's way.

One place for every human-facing number of ``attain explain``, ``attain simulate``'s table
and the statements, so the three agree. Presentation only: the core computes and keeps
exact decimals; this module never feeds a number back into a calculation.

The reader's locale is ``--locale``, else ``ATTAIN_LOCALE``, else ``en``. ``en-IN`` groups
in lakhs and crores (₹12,34,567.00). Digits follow ISO 4217 (``attain.core.money.minor_unit``),
not CLDR's display digits (which show IDR without decimals): the reader sees the amount
that is paid, to the unit it is paid in.

>>> money(Decimal("1234567"), "INR", "en-IN"), money(Decimal("1234567.5"), "JPY"), money(Decimal("-59000"), "SGD")
('₹12,34,567.00', '¥1,234,568', '-SGD59,000.00')
"""

from __future__ import annotations

import copy
import os
import re
from decimal import Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.numbers import NumberPattern

from attain.core.money import minor_unit, round_money

DEFAULT_LOCALE = "en"
LOCALE_VARIABLE = "ATTAIN_LOCALE"


class LocaleError(ValueError):
    """A locale name Babel (CLDR) does not know."""


def reader_locale(option: str | None = None) -> str:
    """The locale asked for: ``option``, else ``$ATTAIN_LOCALE``, else ``en``; refused with a hint if unknown.

    >>> reader_locale("en-IN"), reader_locale("en_IN")
    ('en-IN', 'en_IN')
    """
    name = option or os.environ.get(LOCALE_VARIABLE) or DEFAULT_LOCALE
    _locale(name)
    return name


@lru_cache(maxsize=256)
def _locale(name: str) -> Locale:
    """The parsed locale (cached: parsing one took longer than formatting an amount with it)."""
    try:
        return Locale.parse(name.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        raise LocaleError(f"unknown locale {name!r}: use a CLDR locale such as en, en-IN, ja-JP") from None


def _pattern(pattern: NumberPattern, places: int) -> NumberPattern:
    fixed = copy.copy(pattern)
    fixed.frac_prec = (places, places)
    return fixed


@lru_cache(maxsize=1024)
def _fixed(locale: str, kind: str, places: int) -> tuple[NumberPattern, Locale]:
    """The locale's ``kind`` pattern (decimal, currency, percent) at ``places`` decimals, with the locale: made
    once per (locale, kind, places). The live feed and the notifier format amounts by the thousand a second."""
    reader = _locale(locale)
    formats = {"decimal": reader.decimal_formats[None], "currency": reader.currency_formats["standard"],
               "percent": reader.percent_formats[None]}
    return _pattern(formats[kind], places), reader


def amount(value: Decimal, currency: str, locale: str = DEFAULT_LOCALE) -> str:
    """``value`` rounded to ``currency``'s minor unit, grouped, without a currency sign.

    >>> amount(Decimal("1234567"), "INR", "en-IN"), amount(Decimal("1234.5678"), "BHD"), amount(Decimal("9.5"), "JPY")
    ('12,34,567.00', '1,234.568', '10')
    """
    pattern, reader = _fixed(locale, "decimal", minor_unit(currency))
    return pattern.apply(round_money(value, currency), reader)


def money(value: Decimal, currency: str, locale: str = DEFAULT_LOCALE) -> str:
    """``value`` at ``currency``'s minor unit with the reader's currency sign and grouping.

    >>> money(Decimal("1234.5"), "BHD"), money(Decimal("15000000"), "IDR", "en-IN")
    ('BHD1,234.500', 'IDR1,50,00,000.00')
    """
    pattern, reader = _fixed(locale, "currency", minor_unit(currency))
    return pattern.apply(round_money(value, currency), reader, currency=currency, currency_digits=False)


def count(value: Decimal, locale: str = DEFAULT_LOCALE) -> str:
    """A count (demos, new logos; a split's share may be a fraction) without trailing zeros.

    >>> count(Decimal("5.00")), count(Decimal("1.50")), count(Decimal("12000"))
    ('5', '1.5', '12,000')
    """
    exact = value.normalize()
    places = max(0, -exact.as_tuple().exponent) if isinstance(exact.as_tuple().exponent, int) else 0
    pattern, reader = _fixed(locale, "decimal", places)
    return pattern.apply(value, reader)


def percent(ratio: Decimal, locale: str = DEFAULT_LOCALE) -> str:
    """An attainment ratio as a percentage with one decimal.

    >>> percent(Decimal("0.98817")), percent(Decimal("3.2963"), "en-IN")
    ('98.8%', '329.6%')
    """
    pattern, reader = _fixed(locale, "percent", 1)
    return pattern.apply(ratio, reader)


_NUMBER = re.compile(r"(?<![\w.@:/-])(?<!\d-)(-?)(\d{4,})(\.\d+)?(?![\w-])")
_ATTAINMENT = re.compile(r"(?<=attainment )(-?\d+\.\d+)(?![\w.])")


def grouped(text: str, locale: str = DEFAULT_LOCALE) -> str:
    """A trace line as a reader reads it: numbers of four or more digits grouped, their decimals kept
    (a step shows the exact calculation), an attainment ratio as a percentage; dates, periods and
    record ids are left alone.

    >>> grouped("006R00000042 split 2026-02-17: 16678880 INR x 1.2 = 20014656.0", "en-IN")
    '006R00000042 split 2026-02-17: 1,66,78,880 INR x 1.2 = 2,00,14,656.0'
    >>> grouped("quota 600000, attainment 1.2200")
    'quota 600,000, attainment 122.0%'
    """
    def group(match: re.Match[str]) -> str:
        pattern, reader = _fixed(locale, "decimal", len(match.group(3) or ".") - 1)
        return pattern.apply(Decimal(match.group(0)), reader)

    text = _ATTAINMENT.sub(lambda match: percent(Decimal(match.group(0)), locale), text)
    return _NUMBER.sub(group, text)
