"""Scale-out: two calculators and two ledger workers in one consumer group each, with a calculator joining
and another SIGKILLed while events flow; the ledger still equals a batch recompute, nothing quarantined."""

from __future__ import annotations

import json
import signal
import threading

import httpx
import pytest
from sqlalchemy import func, select

from attain.sample import opportunity_events
from services.ledger.db import make_engine
from services.ledger.schema import quarantined_snapshots
from tests.e2e.conftest import post, run_stack, totals_for, wait_until
from tests.e2e.test_pipeline import expected_totals
from tests.polling import budget


@pytest.fixture(scope="module")
def scaled(tmp_path_factory, pipeline_kafka_bootstrap, database_url):
    yield from run_stack(tmp_path_factory.mktemp("scaled"), pipeline_kafka_bootstrap, database_url)


def counter(stack, name: str, metric: str) -> float:
    """A process's counter from its /metrics page (0 while it does not answer)."""
    try:
        text = httpx.get(f"http://127.0.0.1:{stack.services[name].port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return 0.0
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(f"{metric} "))


def quarantined(stack) -> int:
    engine = make_engine(stack.database_url or "")
    try:
        with engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(quarantined_snapshots)).scalar_one())
    finally:
        engine.dispose()


class Poster(threading.Thread):
    """Posts ``events`` in batches of 10, a batch every 50 ms, until :meth:`stop` (or the end): a steady flow."""

    def __init__(self, stack, events) -> None:
        super().__init__(daemon=True)
        self.stack, self.events, self.responses, self._halt = stack, events, [], threading.Event()

    def run(self) -> None:
        for start in range(0, len(self.events), 10):
            if self._halt.is_set():
                return
            self.responses.extend(post(self.stack, self.events[start:start + 10]))
            self._halt.wait(0.05)

    def stop(self) -> list:
        """Stop posting; the events posted (all accepted)."""
        self._halt.set()
        self.join(timeout=budget(60))
        assert all(response.status_code == 202 for response in self.responses)
        return self.events[:10 * len(self.responses)]


def recovered_partitions(stack, name: str) -> list[list[int]]:
    """The active partitions of each table recovery the process logged."""
    lines = stack.services[name].log_path.read_text().splitlines()
    return [record["active_partitions"] for record in map(json.loads, lines)
            if record.get("message") == "tables recovered"]


def test_two_calculators_one_joining_and_one_killed_mid_stream_and_two_ledgers_book_the_recompute(scaled, book):
    stack = scaled
    stack.add_instance("ledger", "ledger-2")
    stack.wait_ready(names=("ledger-2",), timeout=budget(60))
    reps = {f"t{n}" for n in range(41, 57)}  # no other e2e module posts for them
    events = opportunity_events(sorted(reps), deals=3000, seed=16, prefix="006SCL")
    poster = Poster(stack, events)
    poster.start()

    # a second calculator joins the group while events flow, and takes partitions over
    wait_until(lambda: counter(stack, "calculator", "attain_calculator_events_total") > 100, timeout=60,
               what="the first calculator to be busy")
    stack.add_instance("calculator", "calculator-2")
    stack.wait_ready(names=("calculator-2",), timeout=budget(60))
    wait_until(lambda: counter(stack, "calculator-2", "attain_calculator_events_total") > 50, timeout=60,
               what="the joined calculator to consume events of its own partitions")
    assert 0 < len(recovered_partitions(stack, "calculator-2")[-1]) < 4, "the partitions are shared"

    # the first one is SIGKILLed mid-stream: the second takes its partitions over (from its standby copy)
    stack.kill_service("calculator", signal.SIGKILL)
    assert poster.is_alive(), "the stream had already ended at the kill"
    wait_until(lambda: recovered_partitions(stack, "calculator-2")[-1] == [0, 1, 2, 3], timeout=60,
               what="the surviving calculator to own every partition")
    handled = counter(stack, "calculator-2", "attain_calculator_events_total")
    wait_until(lambda: counter(stack, "calculator-2", "attain_calculator_events_total") > handled + 100,
               timeout=60, what="events to flow through the surviving calculator")
    posted = poster.stop()
    expected = expected_totals(book, posted)
    assert expected, "the events posted credit someone"

    try:
        wait_until(lambda: totals_for(stack, reps) == expected, timeout=90,
                   what="ledger == batch recompute with two calculators (one killed) and two ledger workers")
    except AssertionError:
        actual = totals_for(stack, reps)
        raise AssertionError("ledger != recompute: (ledger, recompute) " + repr(
            {key: (actual.get(key), expected.get(key)) for key in {*actual, *expected}
             if actual.get(key) != expected.get(key)})) from None
    assert all(counter(stack, name, "attain_ledger_snapshots_total") > 0 for name in ("ledger", "ledger-2")), \
        "both ledger workers book snapshots"
    assert quarantined(stack) == 0, "a snapshot of another lineage was quarantined"
