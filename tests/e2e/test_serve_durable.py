"""`attain serve --data DIR` keeps everything across a clean stop and a kill -9 of its whole process tree.

One real Apache Kafka (KRaft, Maven jars, needs a JDK) and one embedded PostgreSQL, both kept in DIR,
with the services: started three times on the same DIR. Events are posted and the serve is stopped
while the pipeline is still working on them (once with SIGTERM, as Ctrl-C; once SIGKILL to every
process of it, PostgreSQL and Kafka included); each start goes on where the last one stopped. At the
end the ledger equals the batch recompute of every event posted, nothing was quarantined, the lineage
adopted at the first start is still the one booked, and a token signed before the crash still opens the
ledger API (same issuer keys, same issuer address).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from attain.core.recompute import recompute
from attain.embedded.durable import MARKER, database_url, port_names
from attain.embedded.issuer import EmbeddedIssuer
from attain.embedded.ports import free_ports
from attain.sample import opportunity_events
from cli.main import changes_of
from services.issuer.directory import mint_token
from services.ledger.db import ledger_totals, make_engine
from services.ledger.lineage import status
from tests.e2e.conftest import PLANS
from tests.polling import budget, wait_until

REPS = sorted(f"t{n:02d}" for n in range(35, 41))
REPO = Path(__file__).resolve().parents[2]


class Serve:
    """One ``attain serve --data DIR`` process, its output in ``DIR/../serve-N.out``."""

    def __init__(self, data: Path, *args: str) -> None:
        self.data = data
        self.output = data.parent / f"serve-{time.monotonic_ns()}.out"
        with open(self.output, "wb") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--data", str(data), *args],
                                            stdout=out, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True)
        wait_until(self._ready, 180, "attain serve to be serving", 0.2)
        self.running: dict[str, Any] = json.loads((data / "running.json").read_text())

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            pytest.fail(f"attain serve exited with {self.process.returncode}:\n{self.output.read_text()[-4000:]}")
        running = self.data / "running.json"
        return running.exists() and json.loads(running.read_text())["pid"] == self.process.pid

    def post(self, events: list[dict[str, Any]]) -> None:
        issuer = EmbeddedIssuer(self.data / "issuer", port=int(self.running["issuer"].rsplit(":", 1)[1]))
        headers = {"Authorization": f"Bearer {issuer.client_token('attain-ingest-client')}"}
        with httpx.Client(timeout=60, headers=headers) as client:
            for start in range(0, len(events), 50):
                response = client.post(f"{self.running['services']['ingest']}/v1/events", json=events[start:start + 50])
                assert response.status_code == 202, response.text

    def engine(self) -> Any:
        return make_engine(database_url(self.running))

    def stop(self) -> int:
        """Ctrl-C's way: SIGTERM to serve, which stops everything it started."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=budget(90))
        assert code == 0, f"attain serve exited with {code} on SIGTERM:\n{self.output.read_text()[-4000:]}"
        return code

    def kill_tree(self) -> int:
        """SIGKILL to serve and every process it started (services, issuer, Kafka's JVM, PostgreSQL), at once."""
        started = ours(self.data)
        self.process.kill()
        for process in started:
            process.kill()
        code = self.process.wait(timeout=budget(30))  # reaped by Popen, which keeps its status
        psutil.wait_procs(started, timeout=budget(30))
        return code


def refusal(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", "serve", "--data", str(data), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=budget(60))


def ours(data: Path) -> list[psutil.Process]:
    """Live processes started by a serve on ``data`` (they carry its marker)."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.status() != psutil.STATUS_ZOMBIE and process.environ().get(MARKER) == str(data):
                found.append(process)
        except psutil.Error:
            continue
    return found


def ledger_equals_recompute(serve: Serve, book: Any, events: list[dict[str, Any]]) -> bool:
    expected = {key: e.total_earned for key, e in recompute(book, changes_of(events)).items() if e.total_earned}
    engine = serve.engine()
    try:
        booked = {key: total for key, total in ledger_totals(engine).items() if key[0] in REPS and total}
    finally:
        engine.dispose()
    return booked == expected


@pytest.fixture
def data(tmp_path: Path) -> Iterator[Path]:
    folder = (tmp_path / "serve").resolve()
    yield folder
    leftover = ours(folder)  # a failed test leaves nothing running
    for process in leftover:
        process.kill()
    psutil.wait_procs(leftover, timeout=30)


def test_serve_resumes_after_a_clean_stop_and_after_kill_9_of_its_whole_tree(data, book):
    started = time.monotonic()
    events = opportunity_events(REPS, deals=48, seed=41, prefix="006SRV")
    batches = [events[:12], events[12:24], events[24:36], events[36:]]
    ports = [f"--port={name}={port}" for name, port in zip(port_names(), free_ports(len(port_names())), strict=True)]

    first = Serve(data, "--plans", str(PLANS), *ports)
    first.post(batches[0])
    wait_until(lambda: ledger_equals_recompute(first, book, batches[0]), 90, "ledger == recompute (batch 1)")
    engine = first.engine()
    lineage = status(engine)["adopted"]
    engine.dispose()
    assert lineage, "the first lineage is adopted"
    old_token = mint_token(data / "issuer", first.running["issuer"], "attain", REPS[0], roles=["rep"])
    first.post(batches[1])
    assert first.stop() == 0  # at once: batch 2 is still on its way through the pipeline
    assert ours(data) == [], "a clean stop leaves no process running"
    assert not (data / "postgres" / "postmaster.pid").exists(), "PostgreSQL was shut down"

    second = Serve(data)  # no --plans, no --port: the kept ones
    assert second.running["services"] == first.running["services"] and second.running["kafka"] == first.running[
        "kafka"], "the same addresses after a restart"
    wait_until(lambda: ledger_equals_recompute(second, book, events[:24]), 90, "ledger == recompute (batches 1-2)")
    second.post(batches[2])
    assert second.kill_tree() == -signal.SIGKILL  # mid-stream again, and nothing stops cleanly this time
    assert ours(data) == []

    third = Serve(data)
    third.post(batches[3])
    wait_until(lambda: ledger_equals_recompute(third, book, events), 90, "ledger == recompute (all batches)")
    engine = third.engine()
    try:
        after = status(engine)
    finally:
        engine.dispose()
    assert after["adopted"] == lineage and after["quarantined"] == [], after  # the calculator kept its lineage
    totals = {key: total for key, total in ledger_totals(third.engine()).items() if key[0] in REPS and total}
    assert sum(totals.values(), Decimal(0)) > 0
    rep_entries = httpx.get(f"{third.running['services']['ledger']}/v1/reps/{REPS[0]}/entries",
                            headers={"Authorization": f"Bearer {old_token}"}, timeout=30)
    assert rep_entries.status_code == 200, rep_entries.text  # the issuer's keys and address survived
    refused = refusal(data)  # while it serves, the same folder is refused, and so is a port it uses
    assert refused.returncode == 1 and f"another attain serve (pid {third.process.pid})" in refused.stderr, refused
    ledger_port = third.running["services"]["ledger"].rsplit(":", 1)[1]
    refused = refusal(data.parent / "other", "--plans", str(PLANS), f"--port=ledger={ledger_port}")
    assert refused.returncode == 1 and "port(s) in use" in refused.stderr, refused
    assert f"{ledger_port} (ledger)" in refused.stderr and not (data.parent / "other" / "serve.json").exists()
    log = (data / "calculator.log").read_text()
    assert log.count("new lineage: the calculator's state starts from nothing") == 1, "one lineage, made once"
    assert third.stop() == 0
    print(f"\nserve durable: three starts, one clean stop, one kill -9: {time.monotonic() - started:.1f}s")
