"""Lost broker state is detected, never booked; the documented recovery restores the ledger (docs/ledger.md).

The pipeline runs on an embedded Tansu broker of this module's own (whatever
ATTAIN_TEST_KAFKA says): the fault under test is Tansu's, a restart that keeps
the address and loses every topic, record and offset.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from attain.core.recompute import recompute
from attain.embedded._process import terminate
from attain.embedded.stack import SERVICES, Stack
from attain.sample import opportunity_events
from cli.main import changes_of
from services.ledger.audit import verify_audit
from services.ledger.db import make_engine
from services.ledger.lineage import adopt, status
from services.ledger.period_service import lock_period
from tests.e2e.conftest import PLANS, post, totals_for, wait_until
from tests.polling import budget

REPS = {f"t{n:02d}" for n in range(30, 36)}


@pytest.fixture(scope="module")
def lineage_stack(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[Stack]:
    run = uuid.uuid4().hex[:8]
    stack = Stack(workdir=tmp_path_factory.mktemp("lineage"), plans_file=PLANS, database_url=database_url,
                  extra_env={"ATTAIN_CALCULATOR_APP_ID": f"attain-calculator-{run}",
                             "ATTAIN_LEDGER_GROUP_ID": f"attain-ledger-{run}",
                             "ATTAIN_NOTIFIER_GROUP_ID": f"attain-notifier-{run}"})
    try:
        stack.start(timeout=budget(120))  # a start that fails half-way still stops what it started
        yield stack
    finally:
        stack.stop()


def expected_totals(book, events) -> dict[tuple[str, str], Decimal]:
    return {key: e.total_earned for key, e in recompute(book, changes_of(events)).items() if e.total_earned}


def metric(stack: Stack, service: str, name: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{stack.services[service].port}/metrics", timeout=5).text
    line = next(line for line in text.splitlines() if line.startswith(f"{name} "))
    return float(line.split()[1])


def cli(stack: Stack, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", *argv], env=stack.env(), capture_output=True,
                          text=True, timeout=budget(120))


def test_a_broker_that_lost_its_state_books_nothing_and_the_documented_recovery_restores_the_ledger(
        lineage_stack, book, tmp_path):
    stack = lineage_stack
    engine = make_engine(stack.database_url or "")
    events = opportunity_events(sorted(REPS), deals=40, seed=29, prefix="006LIN")
    expected = expected_totals(book, events)
    assert len(expected) >= 4, "the sample must credit several reps"
    assert all(r.status_code == 202 for r in post(stack, events))
    wait_until(lambda: totals_for(stack, REPS) == expected, what="ledger == recompute before the fault")
    lineage_before = status(engine)["adopted"]
    assert lineage_before, "the first lineage is adopted automatically"
    lock_period(engine, "ae-test", "2026-Q1", "preparer")  # a closed quarter, as in the incident
    booked = totals_for(stack, REPS)

    # The fault: the broker restarts empty at the same address.
    for name in SERVICES:
        process = stack.services[name].process
        assert process is not None
        terminate(process, grace=15)
    stack.restart_broker()

    # The calculator refuses to start over empty state while the ledger holds history, and says how to recover.
    stack.start_service("ledger")
    stack.wait_ready(60, names=("ledger",))
    stack.start_service("calculator")
    calculator = stack.services["calculator"].process
    assert calculator is not None
    assert calculator.wait(timeout=budget(90)) != 0
    log = stack.services["calculator"].log_path.read_text()
    assert "refusing to start" in log and "attain ledger adopt-lineage" in log and lineage_before in log

    # Recovery, as documented: rebuild mode, re-ingest (crm.changes is gone too: a backfill file), compare, adopt.
    stack.extra_env["ATTAIN_CALCULATOR_REBUILD"] = "true"
    for name in SERVICES:
        if name != "ledger":  # started above
            stack.start_service(name)
    stack.wait_ready(120)
    backfill = tmp_path / "history.jsonl"
    backfill.write_text("".join(json.dumps(event) + "\n" for event in events))
    assert stack.issuer is not None  # through ingest's door, with the sample ingest client's token
    loaded = cli(stack, "ingest", "backfill", str(backfill), "--url", stack.ingest_url,
                 "--token", stack.issuer.client_token("attain-ingest-client"))
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr

    def rebuilt_agrees() -> bool:
        pending = status(engine)["quarantined"]
        return len(pending) == 1 and adopt(engine, pending[0]["lineage"], "check", dry_run=True).differences == []

    wait_until(rebuilt_agrees, what="the rebuilt lineage's snapshots (quarantined) to equal the ledger")
    assert metric(stack, "ledger", "attain_ledger_snapshots_quarantined_total") > 0
    assert metric(stack, "notifier", "attain_notifier_snapshots_held_total") > 0  # reps are not told of a drop
    assert totals_for(stack, REPS) == booked, "a snapshot of the new lineage was booked"
    assert status(engine)["adopted"] == lineage_before

    shown = cli(stack, "ledger", "lineage")
    assert shown.returncode == 3 and "quarantined" in shown.stdout
    adopted = cli(stack, "ledger", "adopt-lineage", "--user", "ops-oncall")
    assert adopted.returncode == 0, adopted.stdout + adopted.stderr
    lineage_after = status(engine)["adopted"]
    assert lineage_after not in (None, lineage_before) and status(engine)["quarantined"] == []

    # The adopted lineage books normally again: ledger totals == a batch recompute of every event.
    more = opportunity_events(sorted(REPS), deals=6, seed=31, prefix="006LIM")
    assert all(r.status_code == 202 for r in post(stack, more))
    expected_after = expected_totals(book, [*events, *more])
    assert expected_after != expected
    wait_until(lambda: totals_for(stack, REPS) == expected_after, what="ledger == recompute after the recovery")
    assert verify_audit(engine)[1] == []
    engine.dispose()
