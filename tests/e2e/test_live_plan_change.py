"""A plan change published while events flow (issue 14 item 1): the running calculator takes the new version of
the plan book without a restart and recomputes; the ledger's totals follow a batch recompute under the new
version, a locked period gets prior-period adjustments, and a rollback brings the first numbers back."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from attain.contracts.reference import Action, ReferenceVersion
from attain.core.recompute import recompute
from attain.embedded._process import spawn
from attain.embedded.stack import Stack
from attain.planfiles import load_book_texts
from attain.platform.reference import ReferenceTopics, publish
from attain.platform.settings import KafkaSettings
from attain.sample import opportunity_events
from cli.main import changes_of
from services.ledger.db import make_engine
from services.ledger.schema import entries
from tests.e2e.conftest import PLANS, bearer, budget, post, run_stack, totals_for, wait_until

REPS = ["t25", "t26", "t27", "t28", "t29"]  # no other e2e module uses them: they share crm.changes
SCOPE, PERIOD = "ae-test", "2026-Q1"
RUN = uuid.uuid4().hex[:8]
NAMES = ReferenceTopics(f"test.reference.versions.{RUN}", f"test.reference.publications.{RUN}")


@pytest.fixture(scope="module")
def live_stack(tmp_path_factory: pytest.TempPathFactory, pipeline_kafka_bootstrap: str, database_url: str
               ) -> Iterator[Stack]:
    yield from run_stack(tmp_path_factory.mktemp("live"), pipeline_kafka_bootstrap, database_url,
                         ATTAIN_REFERENCE_VERSIONS_TOPIC=NAMES.versions,
                         ATTAIN_REFERENCE_PUBLICATIONS_TOPIC=NAMES.publications)


def version_at(rate: str) -> ReferenceVersion:
    text = Path(PLANS).read_text(encoding="utf-8")
    assert 'rate: "0.05"' in text
    return ReferenceVersion.of_files({"plans.yaml": text.replace('rate: "0.05"', f'rate: "{rate}"')}, "comp-admin")


def expected(version: ReferenceVersion, events: list[dict]) -> dict[tuple[str, str], Decimal]:
    book = load_book_texts(version.file_map)
    return {key: e.total_earned for key, e in recompute(book, changes_of(events)).items() if key[0] in REPS}


def ready_version(stack: Stack) -> str:
    return httpx.get(stack.services["calculator"].health_url, timeout=10).json().get("reference_version", "")


def metric(stack: Stack, name: str) -> float | None:
    page = httpx.get(stack.services["calculator"].health_url.replace("/health/ready", "/metrics"), timeout=10).text
    return next((float(line.rsplit(" ", 1)[1]) for line in page.splitlines() if line.startswith(name + " ")), None)


def test_a_published_plan_change_is_recomputed_live_and_a_locked_period_gets_adjustments(live_stack):
    stack = live_stack
    kafka = KafkaSettings(bootstrap=stack.kafka_bootstrap)
    calculator = stack.services["calculator"].process
    assert calculator is not None
    pid = calculator.pid
    assert ready_version(stack).startswith("file-")  # nothing published yet: the plans file

    events = opportunity_events(REPS, deals=40, seed=14, prefix="006LIVE")
    half = len(events) // 2
    assert all(r.status_code == 202 for r in post(stack, events[:half]))
    seven = version_at("0.07")  # the rate goes from 5% to 7% while the second half of the events flows
    assert publish(kafka, seven, "comp-admin", "rate 7%", names=NAMES).action is Action.PUBLISH
    assert all(r.status_code == 202 for r in post(stack, events[half:]))
    want_seven = expected(seven, events)
    assert want_seven and all(total > 0 for total in want_seven.values())
    wait_until(lambda: totals_for(stack, set(REPS)) == want_seven, timeout=60, what="ledger == recompute at 7%")
    assert ready_version(stack) == seven.version_id

    api = httpx.Client(base_url=f"http://127.0.0.1:{stack.services['ledger'].port}", timeout=30)
    assert api.post(f"/v1/periods/{SCOPE}/{PERIOD}/lock", headers=bearer(stack, "prep", ["comp_admin"], ["*"])
                    ).json() == {"state": "locked"}

    nine = version_at("0.09")
    publish(kafka, nine, "comp-admin", "rate 9%", names=NAMES)
    want_nine = expected(nine, events)
    wait_until(lambda: totals_for(stack, set(REPS)) == want_nine, timeout=60, what="ledger == recompute at 9%")
    engine = make_engine(stack.database_url or "")
    try:
        with engine.connect() as connection:
            adjustments = connection.execute(
                select(entries.c.rep_id, entries.c.period, entries.c.amount)
                .where(entries.c.corrects_period == PERIOD, entries.c.rep_id.in_(REPS))).all()
    finally:
        engine.dispose()
    # the locked quarter is not rewritten: the 2 points go to the next open quarter as adjustments
    assert {period for _, period, _ in adjustments} == {"2026-Q2"}
    assert {rep: sum(a for r, _, a in adjustments if r == rep) for rep, _ in want_nine} == {
        rep: want_nine[(rep, PERIOD)] - want_seven[(rep, PERIOD)] for rep, _ in want_nine}

    # a version that does not parse: reported and counted, the book in use stays
    broken = ReferenceVersion.of_files({"plans.yaml": "plans: [{id: ae-test, currency: INR, components: ["}, "x")
    publish(kafka, broken, "comp-admin", "typo", names=NAMES)
    wait_until(lambda: metric(stack, "attain_calculator_reference_rejected_total") == 1, timeout=20,
               what="the broken version counted")
    assert ready_version(stack) == nine.version_id
    assert metric(stack, f'attain_calculator_reference_version_info{{version_id="{nine.version_id}"}}') == 1

    # the rollback as a comp admin does it: the attain command, against the running stack
    done = subprocess.run(
        [sys.executable, "-m", "cli", "plans", "rollback", "--to", seven.version_id, "--user", "comp-admin",
         "--reason", "undo 9%", "--bootstrap", stack.kafka_bootstrap, "--versions-topic", NAMES.versions,
         "--publications-topic", NAMES.publications], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert seven.version_id in done.stdout and "current again" in done.stdout
    wait_until(lambda: totals_for(stack, set(REPS)) == want_seven, timeout=60, what="ledger == recompute, rolled back")
    assert ready_version(stack) == seven.version_id
    assert calculator.poll() is None and stack.services["calculator"].process.pid == pid  # never restarted

    a_calculator_killed_during_the_recompute_redoes_it_after_a_restart(stack)


def a_calculator_killed_during_the_recompute_redoes_it_after_a_restart(live_stack):
    """Run at the end of the test above (its events and published versions; one test, so random order keeps them in
    sequence). The calculator is started with a pause at the point where a partition's recompute is stored but its
    applied version id is not; SIGKILLed there, the restarted calculator finds the partitions whose applied id is
    not the current version and recomputes them: the ledger ends at the recompute under the current version."""
    stack = live_stack
    kafka = KafkaSettings(bootstrap=stack.kafka_bootstrap)
    service = stack.services["calculator"]
    assert ready_version(stack).startswith("rv-"), "runs after the test above (its events, a published version)"
    events = opportunity_events(REPS, deals=40, seed=14, prefix="006LIVE")  # the first test's, all posted
    stack.kill_service("calculator")
    service.process = spawn([sys.executable, "-m", "tests.integration.faulty_service",
                             "calculator.after_recompute_flush", "20", "services.calculator"],
                            service.log_path, env=stack.env())
    stack.wait_ready(names=("calculator",), timeout=budget(60))
    lines = len(service.log_path.read_text().splitlines())
    eleven = version_at("0.11")
    publish(kafka, eleven, "comp-admin", "rate 11%", names=NAMES)
    wait_until(lambda: f'"plan book version in use", "service": "calculator", "reference_version": '
               f'"{eleven.version_id}"' in service.log_path.read_text(), timeout=20, what="the version taken")
    stack.kill_service("calculator")  # within the pause after the first partition's flush: no applied id written
    log = service.log_path.read_text().splitlines()[lines:]
    assert not any('"partition recomputed under the plan book in use"' in line and eleven.version_id in line
                   for line in log)

    stack.start_service("calculator")
    stack.wait_ready(names=("calculator",), timeout=budget(60))
    want = expected(eleven, events)
    wait_until(lambda: totals_for(stack, set(REPS)) == want, timeout=60, what="ledger == recompute at 11%")
    redone = [line for line in service.log_path.read_text().splitlines()
              if '"partition recomputed under the plan book in use"' in line and eleven.version_id in line]
    assert len(redone) == 8  # 4 partitions x 2 stages, each redone after the restart
