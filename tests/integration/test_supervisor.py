"""The supervisor behind `attain run`, on real child processes: a killed one is started again, a crash loop
backs off, every exit and restart is logged as JSON and shown."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from attain.embedded._process import spawn, terminate
from attain.embedded.supervisor import Supervisor
from tests.polling import wait_until


class Children:
    def __init__(self, log_dir: Path, argv: dict[str, list[str]]) -> None:
        self.argv = argv
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        for name in argv:
            self.start(name)

    def start(self, name: str) -> None:
        self.processes[name] = spawn(self.argv[name], self.log_dir / f"{name}.log")

    def stop(self) -> None:
        for process in self.processes.values():
            terminate(process, grace=5)


def events(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_a_killed_process_is_restarted_and_the_restart_is_logged_and_shown(tmp_path):
    sleeper = [sys.executable, "-c", "import time; time.sleep(300)"]
    children = Children(tmp_path, {"steady": sleeper, "victim": sleeper})
    shown: list[str] = []
    supervisor = Supervisor(("steady", "victim"), children.processes.get, children.start, tmp_path / "supervisor.log",
                            shown.append, initial_backoff=0.2, max_backoff=2.0).start()
    try:
        steady, victim = children.processes["steady"].pid, children.processes["victim"].pid
        children.processes["victim"].send_signal(signal.SIGKILL)
        wait_until(lambda: supervisor.restarts["victim"] == 1, 10, "the killed process to be restarted", 0.05)
        assert children.processes["victim"].pid != victim and children.processes["victim"].poll() is None
        assert children.processes["steady"].pid == steady and supervisor.restarts["steady"] == 0
        started, *logged = events(tmp_path / "supervisor.log")
        assert started["message"] == "supervising steady, victim"
        assert [e["message"].split(";")[0] for e in logged] == ["victim exited", "victim restarted"]
        assert logged[0]["exit_code"] == -signal.SIGKILL and 0 < logged[0]["restart_in_seconds"] <= 0.3
        assert any("victim exited" in line and "exit code -9" in line for line in shown)
        assert any("victim restarted" in line for line in shown)
    finally:
        supervisor.stop()
        children.stop()
    assert children.processes["victim"].poll() is not None  # stopping the supervisor restarts nothing


def test_a_crash_loop_backs_off_exponentially_up_to_the_cap(tmp_path):
    children = Children(tmp_path, {"crasher": [sys.executable, "-c", "raise SystemExit(3)"]})
    supervisor = Supervisor(("crasher",), children.processes.get, children.start, tmp_path / "supervisor.log",
                            initial_backoff=0.1, max_backoff=0.8).start()
    try:
        wait_until(lambda: supervisor.restarts["crasher"] >= 5, 20, "five restarts", 0.05)
    finally:
        supervisor.stop()
        children.stop()
    delays = [e["restart_in_seconds"] for e in events(tmp_path / "supervisor.log") if "restart_in_seconds" in e]
    assert all(e["exit_code"] == 3 for e in events(tmp_path / "supervisor.log") if "exit_code" in e)
    # about 0.1, 0.2, 0.4, 0.8, 0.8 (+ up to 0.02 jitter): doubling, then capped
    assert delays[:3] == sorted(delays[:3]) and delays[2] >= 2 * delays[0]
    assert max(delays) <= 0.8 + 0.02 + 1e-9 and delays[4] >= 0.8 - 1e-9
