"""The `attain` command fails like a good tool: one line naming the problem and what to do, documented exit
codes, a traceback only with --debug, --version, JSON output with money as text, tables that never cut money.

The CLI runs as a subprocess (`python -m cli`, what the `attain` console script runs), as a user would run it;
nothing needs a broker or database: the unreachable ones are closed ports on this machine.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path

import pytest
from rich.console import Console
from rich.table import Table

from attain import cli_support
from tests.polling import budget

ROOT = Path(__file__).parents[2]
SIMULATE = ["--plans", "examples/apac", "--events", "examples/apac/events.jsonl", "--period", "2026-Q1"]


def attain(*argv: str, columns: int | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **env}
    environment.pop("ATTAIN_DEBUG", None) if "ATTAIN_DEBUG" not in env else None
    if columns is not None:
        environment["COLUMNS"] = str(columns)
    return subprocess.run([sys.executable, "-m", "cli", *argv], cwd=ROOT, env=environment, capture_output=True,
                          text=True, timeout=budget(60))


def closed_port() -> int:
    """A local port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("attain: error: ")
    return lines[0]


def test_a_missing_file_is_one_line_naming_it_with_exit_2():
    done = attain("simulate", "--plans", "examples/apac", "--events", "no/such/events.jsonl", "--period", "2026-Q1")
    line = one_error_line(done)
    assert done.returncode == cli_support.USAGE
    assert "no/such/events.jsonl: no such file or directory" in line and "check the path" in line


def test_a_bad_period_is_one_line_saying_how_to_write_one_with_exit_2():
    done = attain("simulate", *SIMULATE[:-1], "2026-Q5")
    line = one_error_line(done)
    assert done.returncode == cli_support.USAGE
    assert "'2026-Q5' is not a period" in line and "2026-Q1" in line


def test_an_unreachable_broker_is_one_line_naming_it_and_the_setting_with_exit_1():
    port = closed_port()
    done = attain("dlq", "--bootstrap", f"127.0.0.1:{port}", "list")
    line = one_error_line(done)
    assert done.returncode == cli_support.FAILURE
    assert f"cannot reach the Kafka broker at 127.0.0.1:{port}" in line and "ATTAIN_KAFKA_BOOTSTRAP" in line


def test_an_unreachable_database_is_one_line_naming_it_and_the_setting_with_exit_1():
    port = closed_port()
    done = attain("audit", "verify", "--database-url", f"postgresql+psycopg://postgres@127.0.0.1:{port}/attain")
    line = one_error_line(done)
    assert done.returncode == cli_support.FAILURE
    assert "cannot reach the ledger database" in line and f"port {port}" in line
    assert "--database-url or ATTAIN_LEDGER_DATABASE_URL" in line


def test_an_unreachable_notifier_is_one_line_naming_it_with_exit_1():
    port = closed_port()
    done = attain("watch", "ae-in-01", "--target", f"127.0.0.1:{port}")
    line = one_error_line(done)
    assert done.returncode == cli_support.FAILURE
    assert "cannot reach the notifier" in line and f"127.0.0.1:{port}" in line and "--target" in line


@pytest.mark.parametrize("how", ["flag-first", "flag-last", "environment"])
def test_debug_adds_the_traceback_to_the_same_line(how):
    argv = ["simulate", *SIMULATE[:-1], "2026-Q5"]
    done = (attain("--debug", *argv) if how == "flag-first" else attain(*argv, "--debug") if how == "flag-last"
            else attain(*argv, ATTAIN_DEBUG="1"))
    assert done.returncode == cli_support.USAGE
    assert "Traceback (most recent call last)" in done.stderr and "PeriodError" in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("attain: error: bad period")


def test_a_usage_error_exits_2_and_help_documents_the_exit_codes():
    assert attain("simulate", "--plans", "examples/apac").returncode == cli_support.USAGE
    shown = attain("--help", columns=120)
    assert shown.returncode == 0
    for code, meaning in (("0", "ok"), ("1", "failure"), ("2", "usage"), ("3", "differences found"),
                          ("4", "partly rejected")):
        assert f"  {code}  {meaning}" in shown.stdout
    assert "--debug" in shown.stdout


def test_version_is_the_installed_one():
    done = attain("--version")
    assert (done.returncode, done.stdout.strip()) == (0, f"attain {version('attain')}")


def test_simulate_and_explain_json_parse_and_hold_money_as_text():
    simulated = attain("simulate", *SIMULATE, "--format", "json")
    assert simulated.returncode == 0
    data = json.loads(simulated.stdout)
    indonesia = next(p for p in data["participants"] if p["rep_id"] == "ae-id-01")
    assert indonesia["total_earned"] == "131620000.00" and indonesia["currency"] == "IDR"
    explained = attain("explain", *SIMULATE, "--rep", "ae-sg-01", "--format", "json")
    assert explained.returncode == 0
    trace = json.loads(explained.stdout)
    assert (trace["format"], trace["rep_id"], trace["total_earned"]) == ("attain.explain/v1", "ae-sg-01", "47580.00")
    (commission,) = trace["components"]
    assert commission["earned_amount"] == "47580.00" and commission["tier"] == "accelerated"
    assert len(commission["lines"]) == 9 and all(isinstance(line["value"], str) for line in commission["lines"])
    assert Decimal(commission["credited_value"]) == sum(Decimal(line["value"]) for line in commission["lines"])


def test_explain_of_a_rep_without_a_plan_is_one_line_with_exit_1():
    done = attain("explain", *SIMULATE, "--rep", "nobody")
    assert done.returncode == cli_support.FAILURE
    assert "'nobody' has no plan in 2026-Q1" in one_error_line(done)


def test_plans_validate_json_lists_problems_and_exits_1(tmp_path):
    good = attain("plans", "validate", "examples/apac", "--format", "json")
    assert good.returncode == 0 and json.loads(good.stdout)["ok"] is True
    bad = tmp_path / "bad.yaml"
    bad.write_text("plans:\n  - id: x\n    version: one\n")
    refused = attain("plans", "validate", str(bad), "--format", "json")
    report = json.loads(refused.stdout)
    assert refused.returncode == 1 and report["ok"] is False and report["problems"]
    assert all(str(bad) in problem for problem in report["problems"])


def test_a_narrow_terminal_never_cuts_money_in_the_simulate_table():
    done = attain("simulate", *SIMULATE, columns=60)
    assert done.returncode == 0
    assert "…" not in done.stdout
    for amount in ("4,603,000,000.00", "3,500,000,000.00", "131,620,000.00", "1,202,572.22"):
        assert amount in done.stdout


@pytest.mark.parametrize("width", [40, 60, 200])
def test_print_table_keeps_a_large_inr_amount_whole_at_any_width(width):
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None)
    table = Table(title="payouts")
    for column in ("rep", "name", "component", "amount", "currency"):
        table.add_column(column, justify="right" if column == "amount" else "left")
    table.add_row("ae-in-01", "Aarav Sharma of the Southern Region", "commission", "12,34,56,78,90,123.45", "INR")
    cli_support.print_table(console, table)
    text = out.getvalue()
    assert "12,34,56,78,90,123.45" in text and "…" not in text
    assert "Aarav" in text and "Sharma" in text  # text columns wrap, they are not cut either


def test_json_output_turns_every_decimal_into_text():
    data = cli_support.plain({"amount": Decimal("1234567890123.4500"), "rows": [(Decimal("-0.01"), None)]})
    assert data == {"amount": "1234567890123.4500", "rows": [["-0.01", None]]}


def test_invalid_settings_are_one_line_naming_the_field_never_its_value():
    done = attain("dlq", "list", ATTAIN_KAFKA_PARTITIONS="not-a-number-7431")
    line = one_error_line(done)
    assert done.returncode == cli_support.USAGE
    assert "invalid settings: partitions:" in line and "not-a-number-7431" not in line


def test_a_bad_ledger_period_is_a_usage_error_before_any_database_work():
    port = closed_port()  # never reached: the period name is checked first
    done = attain("ledger", "payroll", "--scope", "ae", "--period", "2026-13",
                  "--database-url", f"postgresql+psycopg://postgres@127.0.0.1:{port}/attain")
    line = one_error_line(done)
    assert done.returncode == cli_support.USAGE
    assert "bad period '2026-13'" in line and "2026-Q1 or 2026-03" in line


def test_watch_json_keeps_the_notifiers_amounts_as_text_and_every_field():
    from services.notifier.commands import _update_json
    from services.notifier.proto import notifier_pb2

    update = notifier_pb2.EarningsUpdate(
        rep_id="ae-in-01", period="2026-Q1", plan_id="ae-india", currency="INR", snapshot_version=7,
        total_earned="123456789012.34", computed_at_ms=1, components=[notifier_pb2.ComponentProgress(
            component_id="commission", credited_value="9876543210.00", earned_amount="123456789012.34")])
    data = json.loads(json.dumps(_update_json(update)))
    assert data["total_earned"] == "123456789012.34" and data["snapshot_version"] == 7
    assert data["trigger_ingested_at_ms"] == 0
    assert data["components"] == [{"component_id": "commission", "credited_value": "9876543210.00", "quota": None,
                                   "attainment_ratio": None, "earned_amount": "123456789012.34"}]


def test_an_http_refusal_names_the_request_the_status_and_what_to_do():
    import httpx

    request = httpx.Request("POST", "http://127.0.0.1:8081/v1/backfill")
    refused = httpx.HTTPStatusError("401", request=request,
                                    response=httpx.Response(401, request=request, text="missing bearer token\n"))
    known = cli_support.describe(refused)
    assert known is not None and known.code == cli_support.FAILURE
    assert known.line() == ("attain: error: POST http://127.0.0.1:8081/v1/backfill answered 401: missing bearer "
                            "token; the service wants a valid token: check the token or its ATTAIN_* setting")


def test_an_unexpected_error_is_one_line_too_and_the_traceback_only_with_debug(capsys):
    def broken() -> int:
        raise RuntimeError("something attain did not foresee")

    assert cli_support.run_guarded(broken, debug=False) == cli_support.FAILURE
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip() == ("attain: error: unexpected RuntimeError: something attain did not foresee; this may be "
                           "a bug in attain: run again with --debug and report the traceback")
    assert cli_support.run_guarded(broken, debug=True) == cli_support.FAILURE
    assert "Traceback (most recent call last)" in capsys.readouterr().err
