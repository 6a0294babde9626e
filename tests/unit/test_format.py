"""attain.format: amounts at the currency's ISO 4217 minor unit, grouped for the reader."""

from __future__ import annotations

import doctest
import re
import zlib
from decimal import Decimal

import pytest

import attain.format
from attain.format import LocaleError, amount, count, grouped, money, percent, reader_locale
from services.ledger.statements import statement_pdf


def test_doctests():
    assert doctest.testmod(attain.format).failed == 0


def test_en_in_groups_in_lakhs_and_crores():
    assert money(Decimal("1234567"), "INR", "en-IN") == "₹12,34,567.00"
    assert amount(Decimal("123456789.5"), "INR", "en-IN") == "12,34,56,789.50"
    assert amount(Decimal("1234567"), "INR") == "1,234,567.00"


def test_each_currency_at_its_iso_minor_unit_not_cldr_digits():
    assert money(Decimal("5681280.4"), "JPY") == "¥5,681,280"
    assert money(Decimal("1234.5678"), "BHD") == "BHD1,234.568"
    assert amount(Decimal("15000000"), "IDR") == "15,000,000.00"  # ISO 4217: 2 decimals (CLDR shows 0)


def test_no_internal_precision_noise():
    bonus = Decimal("59000.00000000000000000000000")
    assert money(bonus, "INR") == "₹59,000.00" and amount(bonus, "SGD") == "59,000.00"
    assert percent(Decimal("0.9881714285714")) == "98.8%" and count(Decimal("5.00")) == "5"


def test_trace_numbers_grouped_and_dates_and_ids_untouched():
    line = "006R00000042 split 2026-02-17: 16678880 INR x 1.2 = -20014656.0 through 2026-Q1"
    assert grouped(line) == "006R00000042 split 2026-02-17: 16,678,880 INR x 1.2 = -20,014,656.0 through 2026-Q1"


def test_the_reader_locale_comes_from_the_option_then_the_environment(monkeypatch):
    monkeypatch.setenv("ATTAIN_LOCALE", "en-IN")
    assert reader_locale() == "en-IN" and reader_locale("ja-JP") == "ja-JP"
    monkeypatch.delenv("ATTAIN_LOCALE")
    assert reader_locale() == "en"
    with pytest.raises(LocaleError, match="unknown locale 'xx-YY'"):
        reader_locale("xx-YY")


def pdf_text(document: bytes) -> str:
    """The drawn text of a PDF: its content streams, inflated."""
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", document, re.S)
    return b"".join(zlib.decompress(stream) for stream in streams if stream[:1] == b"x").decode("latin-1")


def test_a_statement_pdf_shows_amounts_at_the_minor_unit_grouped_for_the_reader():
    section = {"currency": "INR", "opening_balance": "0.00", "adjustments": [], "draws": [], "payments": [],
               "draw_paid": "0", "draw_recovered": "0", "draw_balance": "0",
               "components": [{"component_id": "commission", "total": "1234567.5",
                               "entries": [{"entry_id": 7, "explanation": "deal 006A", "amount": "1234567.5"}]}],
               "total_payable": "1234567.5", "closing_balance": "1234567.5"}
    text = pdf_text(statement_pdf({"rep_id": "ae-in-01", "period": "2026-Q1", "currencies": [section]}, "en-IN"))
    assert "12,34,567.50" in text and "1234567.5" not in text
    yen = dict(section, currency="JPY")
    assert "1,234,568" in pdf_text(statement_pdf({"rep_id": "ae-jp-01", "period": "2026-Q1", "currencies": [yen]}))
