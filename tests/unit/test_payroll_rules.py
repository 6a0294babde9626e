"""Payroll rules: the earning-code mapping, a line's split by code, a period's control totals, contract v2."""

from __future__ import annotations

import doctest
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fastavro import schemaless_writer
from pydantic import ValidationError

import attain.ledger.payroll
from attain.ledger.payroll import (
    DEFAULT_EARNING_CODES,
    CurrencyTotal,
    EarningCodeError,
    EarningCodes,
    control_totals,
    split_by_code,
)
from attain.platform.avro import MARKER, contract, load_schema_file, schema_fingerprint
from attain.platform.schemas import schemas_dir


def test_an_entry_takes_its_components_code_else_its_kinds_else_the_default():
    codes = EarningCodes.parse("commission=COMM,spiff=BONUS,kind:draw=DRAW,kind:carried=CARRY,*=OTHER")
    assert codes.code_for("spiff", "earned") == "BONUS"
    assert codes.code_for("spiff", "adjustment") == "BONUS"  # a prior-period correction of a spiff
    assert codes.code_for("commission", "clawback") == "COMM"  # the component wins over the kind
    assert codes.code_for("manual", "draw") == "DRAW"
    assert codes.code_for("manual", "manual") == "OTHER"
    assert codes.carried_code() == "CARRY"
    assert EarningCodes.parse("*=X").carried_code() == "X"


def test_the_documented_default_mapping():
    codes = EarningCodes.parse(DEFAULT_EARNING_CODES)
    assert [codes.code_for(c, k) for c, k in [("commission", "earned"), ("x", "draw"), ("x", "draw_recovery"),
                                              ("x", "clawback"), ("manual", "manual")]] == [
        "COMM", "DRAW", "DRAWREC", "CLAWBACK", "COMM"]
    assert codes.carried_code() == "CARRY"


@pytest.mark.parametrize("text, message", [
    ("commission=COMM", "map '\\*' too"),
    ("commission COMM,*=X", "is not KEY=CODE"),
    ("commission=,*=X", "must be 1-40"),
    ("commission=A B,*=X", "must be 1-40"),
    ("a=X,a=Y,*=Z", "mapped twice"),
])
def test_a_mapping_that_cannot_be_used_is_refused_with_what_to_write(text, message):
    with pytest.raises(EarningCodeError, match=message):
        EarningCodes.parse(text)


def test_the_ledger_refuses_a_bad_mapping_at_start_up(monkeypatch):
    from services.ledger.config import LedgerSettings

    monkeypatch.setenv("ATTAIN_LEDGER_EARNING_CODES", "commission=COMM")
    with pytest.raises(ValidationError, match="map"):
        LedgerSettings()
    monkeypatch.setenv("ATTAIN_LEDGER_EARNING_CODES", "commission=COMM,*=INC")
    assert LedgerSettings().codes.code_for("commission", "earned") == "COMM"


def test_a_split_adds_up_to_the_line_amount_exactly():
    # 100.004 + 50.004 + 0.003 = 150.011 -> line 150.01; parts round to 100.00 + 50.00 + 0.00 = 150.00,
    # the 0.01 left goes to the largest part; the part that rounds to zero is left out.
    amount, parts = split_by_code({"COMM": (Decimal("100.004"), 3), "BONUS": (Decimal("50.004"), 1),
                                   "OTHER": (Decimal("0.003"), 1)}, "INR")
    assert amount == Decimal("150.01")
    assert parts == [("BONUS", Decimal("50.00"), 1), ("COMM", Decimal("100.01"), 3)]
    # A negative part (a clawback under its own code) and JPY's zero minor unit.
    amount, parts = split_by_code({"COMM": (Decimal("980"), 2), "CLAWBACK": (Decimal("-1200"), 1)}, "JPY")
    assert (amount, parts) == (Decimal("-220"), [("CLAWBACK", Decimal("-1200"), 1), ("COMM", Decimal("980"), 2)])
    assert split_by_code({"COMM": (Decimal("10.00"), 1), "DRAW": (Decimal("-10.00"), 1)}, "INR")[0] == 0


def test_control_totals_count_distinct_lines_and_sum_per_currency():
    lines = [("s/p/a/INR", "INR", Decimal("1250.50")), ("s/p/b/INR", "INR", Decimal("-200.25")),
             ("s/p/b/USD", "USD", Decimal("400.00")), ("s/p/a/INR", "INR", Decimal("1250.50"))]  # a re-sent copy
    assert control_totals(lines) == (3, [CurrencyTotal("INR", 2, Decimal("1050.25")),
                                         CurrencyTotal("USD", 1, Decimal("400.00"))])
    assert control_totals([]) == (0, [])


def test_payouts_v2_reads_a_line_written_with_v1():
    v1 = load_schema_file(schemas_dir() / "payouts" / "v1.avsc")
    record = {"payout_id": "s/2026-Q1/r1/INR", "rep_id": "r1", "period": "2026-Q1", "currency": "INR",
              "amount": "10.00", "entry_count": 1, "approved_at": datetime(2026, 4, 1, tzinfo=UTC),
              "approved_by": "fin-1"}
    body = io.BytesIO()
    schemaless_writer(body, v1, record)
    decoded = contract("payouts").decode(MARKER + schema_fingerprint(v1) + body.getvalue())
    assert decoded == {**record, "hr_id": None, "earnings": []}


def test_the_control_record_round_trips():
    codec = contract("payouts.control")
    record = {"control_id": "s/2026-Q1/control", "scope": "s", "period": "2026-Q1", "line_count": 2,
              "totals": [{"currency": "INR", "line_count": 2, "amount": "1050.25"}],
              "approved_at": datetime(2026, 4, 1, tzinfo=UTC), "approved_by": "fin-1"}
    assert codec.decode(codec.encode(record)) == record


def test_the_worked_examples_in_the_docstrings_hold():
    assert doctest.testmod(attain.ledger.payroll).failed == 0


def test_the_org_gives_an_hr_id_as_text_and_a_bad_one_is_refused_with_its_path():
    from attain.core.plan_parser import PlanError, parse_plan_book

    plans = [{"id": "ae", "currency": "INR", "components": [
        {"id": "commission", "measure": "closed_won_amount", "rate": "0.05"}]}]
    book = parse_plan_book({"plans": plans, "participants": [{"id": "r1", "plan": "ae", "hr_id": "E-1"},
                                                             {"id": "r2", "plan": "ae", "hr_id": 2002}]})
    assert sorted(book.participants) == ["r1", "r2"]
    with pytest.raises(PlanError, match=r"participants\[0\]\.hr_id"):
        parse_plan_book({"plans": plans, "participants": [{"id": "r1", "plan": "ae", "hr_id": ["E-1"]}]})
