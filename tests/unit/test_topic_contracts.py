"""Each topic's typed contract: Avro bytes -> type -> Avro bytes, and the dead-letter codes every service writes."""

import ast
import doctest
import importlib
import io
import pathlib
import pkgutil
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fastavro import schemaless_writer

import attain.contracts
from attain.contracts.crm_changes import change_from_avro, crm_change_record, normalise
from attain.contracts.dead_letters import DeadLetter, ErrorCode, Refused
from attain.contracts.earnings import ComponentEarnings, EarningsSnapshot
from attain.contracts.payouts import EarningAmount, PayoutControl, PayoutLine
from attain.ledger.payroll import CurrencyTotal
from attain.platform.avro import MARKER, contract, schema_fingerprint
from attain.platform.consume import decode_each, decoder

ROOT = pathlib.Path(__file__).resolve().parents[2]
APPROVED = datetime(2026, 4, 1, 9, 30, tzinfo=UTC)
SNAPSHOT = EarningsSnapshot(
    "ae-in-01", "2026-Q1", "ae", 3, "INR", 7, 1767225600123,
    (ComponentEarnings("commission", "1250000.50", "5000000", "0.2500001", "62500.03", 4),
     ComponentEarnings("spiff", "3", None, None, "0", 3)),
    "62500.03", ("evt-1", "evt-2"), 1767225600001, "k/t/e2")


def test_an_earnings_snapshot_survives_avro_bytes_and_back():
    codec = contract("earnings")
    assert EarningsSnapshot.from_avro(codec.decode(codec.encode(SNAPSHOT.to_avro()))) == SNAPSHOT


def test_an_earnings_v1_message_decodes_to_a_typed_snapshot_without_lineage():
    codec = contract("earnings")
    v1 = codec.versions[0]
    record = {key: value for key, value in SNAPSHOT.to_avro().items() if key != "lineage"}
    body = io.BytesIO()
    schemaless_writer(body, v1, record)
    snapshot = EarningsSnapshot.from_avro(codec.decode(MARKER + schema_fingerprint(v1) + body.getvalue()))
    assert snapshot.lineage == ""
    assert snapshot.components[1].quota is None
    assert snapshot.computed_at == 1767225600123 and snapshot.trigger_ingested_at == 1767225600001
    assert snapshot.earned_by_component() == {"commission": Decimal("62500.03"), "spiff": Decimal("0")}


def test_a_payout_line_and_its_control_record_survive_avro_bytes_and_back():
    line = PayoutLine("ae/2026-Q1/r1/INR", "r1", "2026-Q1", "INR", Decimal("-12.50"), 3, APPROVED, "fin-1", "E-7",
                      (EarningAmount("COMM", Decimal("7.50"), 2), EarningAmount("DRAWREC", Decimal("-20.00"), 1)))
    payouts = contract("payouts")
    assert PayoutLine.from_avro(payouts.decode(payouts.encode(line.to_avro()))) == line
    control = PayoutControl("ae/2026-Q1/control", "ae", "2026-Q1", 1, (CurrencyTotal("INR", 1, Decimal("-12.50")),),
                            APPROVED, "fin-1")
    controls = contract("payouts.control")
    assert PayoutControl.from_avro(controls.decode(controls.encode(control.to_avro()))) == control


def test_a_dead_letter_survives_avro_bytes_and_back_with_its_code_as_text():
    letter = DeadLetter.now(original=b"\x00\xff{", reason="amount: lone \ud800", error_code=ErrorCode.OUT_OF_BOUNDS,
                            source="topic:crm.changes/0/5", service="calculator")
    codec = contract("crm.changes.dlq")
    record = codec.decode(codec.encode(letter.to_avro()))
    assert record["error_code"] == "out_of_bounds" and record["reason"] == "amount: lone \\ud800"
    assert DeadLetter.from_avro(record) == letter


def test_a_crm_change_normalised_by_ingest_reads_back_as_the_cores_change():
    record = normalise({"event_id": "e1", "record_id": "006A", "object_type": "Opportunity",
                        "commit_timestamp": "2026-01-15T10:00:00Z", "commit_number": 7,
                        "fields": {"amount": Decimal("125000.50"), "is_won": True}}, "http", 99)
    codec = contract("crm.changes")
    change = change_from_avro(crm_change_record(codec.decode(codec.encode(record))))
    assert (change.record_id, change.change_type, change.fields) == (
        "006A", "UPDATE", {"amount": "125000.50", "is_won": "true"})
    assert (change.version.commit_timestamp_ms, change.version.commit_number) == (1768471200000, 7)


def test_the_decode_step_refuses_bad_bytes_and_refused_records_with_their_codes():
    codec = contract("earnings")

    def check(snapshot):
        if snapshot.currency == "XXX":
            raise Refused("no such currency", ErrorCode.INVALID_SNAPSHOT)

    good = codec.encode(SNAPSHOT.to_avro())
    refused = codec.encode({**SNAPSHOT.to_avro(), "currency": "XXX"})
    rejected = []
    decoded = decode_each([good, b"\xc3\x01junk", refused], lambda item: item,
                          decoder("earnings", EarningsSnapshot.from_avro, check),
                          lambda item, reason, code: rejected.append((item, code)))
    assert decoded == [(SNAPSHOT, good)]
    assert rejected == [(b"\xc3\x01junk", ErrorCode.UNDECODABLE), (refused, ErrorCode.INVALID_SNAPSHOT)]


def _code_literal(call):
    """The code a ``CreditingError(message, code)`` or ``Refusal(record, event, reason, code, ...)`` is given."""
    position = {"CreditingError": 1, "Refusal": 3}.get(getattr(call.func, "id", ""))
    if position is None or len(call.args) <= position:
        return None
    literal = call.args[position]
    return literal.value if isinstance(literal, ast.Constant) and isinstance(literal.value, str) else None


def _literal_codes_in(paths):
    """Every text literal handed to the core's CreditingError or a Refusal as its code, and CreditingError's
    default code."""
    codes = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and _code_literal(node) is not None:
                codes.add(_code_literal(node))
            if isinstance(node, ast.ClassDef) and node.name == "CreditingError":
                codes.update(default.value for item in node.body if isinstance(item, ast.FunctionDef)
                             for default in item.args.defaults if isinstance(default, ast.Constant))
    return codes


def test_every_code_the_core_refuses_a_change_with_is_an_error_code():
    core = sorted((ROOT / "attain" / "core").glob("*.py"))
    codes = _literal_codes_in(core)
    assert {"out_of_bounds", "negative_amount", "uncreditable", "error"} <= codes  # the scan finds them
    assert codes <= {code.value for code in ErrorCode}, codes - {code.value for code in ErrorCode}


def test_no_service_writes_a_dead_letter_code_as_free_text():
    """Dead letters are written with ErrorCode members; a quoted code next to a reject call is a regression."""
    values = {code.value for code in ErrorCode}
    offenders = []
    for path in [*(ROOT / "services").rglob("*.py"), *(ROOT / "attain").rglob("*.py")]:
        if "proto" in path.parts or path.name == "dead_letters.py" and "contracts" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            writes = any(call in line for call in ("reject(", "dead_letter(", "dead_letters.write(", "_dead_letter("))
            if writes and any(f'"{value}"' in line for value in values):
                offenders.append(f"{path.relative_to(ROOT)}:{number}")
    assert not offenders


def test_the_error_codes_are_distinct_lower_snake_case_wire_text():
    values = [code.value for code in ErrorCode]
    assert len(values) == len(set(values))
    assert all(value == value.lower() and " " not in value for value in values)
    assert str(ErrorCode.REP_UPDATE_FAILED) == "rep_update_failed"  # the wire text, not the member's name


@pytest.mark.parametrize("name", [m.name for m in pkgutil.iter_modules(attain.contracts.__path__, "attain.contracts.")
                                  if m.name != "attain.contracts.dead_letters"])
def test_the_contracts_worked_examples_hold(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0


def test_the_contracts_import_no_service():
    for path in (ROOT / "attain" / "contracts").glob("*.py"):
        imported = [node for node in ast.walk(ast.parse(path.read_text()))
                    if isinstance(node, ast.ImportFrom | ast.Import)]
        names = [node.module or "" for node in imported if isinstance(node, ast.ImportFrom)]
        names += [alias.name for node in imported if isinstance(node, ast.Import) for alias in node.names]
        assert not [name for name in names if name.split(".")[0] == "services"], path.name
