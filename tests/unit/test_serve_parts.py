"""The parts of `attain serve` that need no broker: ports kept and checked, a stale postmaster.pid, the plan copy."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from attain.embedded.durable import (
    DEFAULT_PORTS,
    FIRST_EXTRA_PORT,
    ServeError,
    busy_ports,
    choose_ports,
    clear_stale_postmaster,
    copy_plans,
    port_names,
)


def test_a_port_comes_from_the_override_then_the_kept_file_then_the_default():
    ports = choose_ports({"ledger": 19083, "ingest": 19081}, {"ingest": 29081})
    assert ports["ingest"] == 29081 and ports["ledger"] == 19083 and ports["kafka"] == DEFAULT_PORTS["kafka"]
    assert set(ports) == set(port_names())
    assert choose_ports({}, {})["ledger"] == DEFAULT_PORTS["ledger"]
    assert FIRST_EXTRA_PORT not in ports.values() or set(ports) - set(DEFAULT_PORTS), "only a new name takes it"


def test_unknown_and_clashing_ports_are_refused_with_a_hint():
    with pytest.raises(ServeError, match="no port is called ledgr") as unknown:
        choose_ports({}, {"ledgr": 9000})
    assert "ledger" in unknown.value.hint
    with pytest.raises(ServeError, match="port 8083 is given to both"):
        choose_ports({}, {"ingest": 8083})


def test_a_port_something_listens_on_is_named_busy():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        assert busy_ports({"ledger": taken}) == [f"{taken} (ledger)"]
    assert busy_ports({"ledger": taken}) == []


def test_a_postmaster_pid_of_a_dead_process_is_removed_and_a_live_postgres_one_kept(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    pid_file = tmp_path / "postmaster.pid"
    pid_file.write_text(f"{gone.pid}\n{tmp_path}\n")
    assert clear_stale_postmaster(tmp_path) is True and not pid_file.exists()
    assert clear_stale_postmaster(tmp_path) is False  # nothing to remove
    pid_file.write_text("1\n")  # pid 1 is alive and is no postgres: stale too
    assert clear_stale_postmaster(tmp_path) is True and not pid_file.exists()


def test_the_plan_files_are_copied_alone_and_replace_the_last_copy(tmp_path):
    source = tmp_path / "plans"
    (source / "team").mkdir(parents=True)
    (source / "plans.yaml").write_text("plans: []\n")
    (source / "team" / "org.yaml").write_text("participants: []\n")
    (source / "events.jsonl").write_text("{}\n")
    target = tmp_path / "data" / "plans"
    target.parent.mkdir()
    copy_plans(source, target)
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) == [
        "plans.yaml", "team/org.yaml"]
    copy_plans(source / "plans.yaml", target)
    assert [p.name for p in target.iterdir()] == ["plans.yaml"]
    with pytest.raises(ServeError, match="does not exist"):
        copy_plans(tmp_path / "data" / "nothing", target)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ServeError, match="no plan files"):
        copy_plans(tmp_path / "empty", target)
    assert [p.name for p in target.iterdir()] == ["plans.yaml"], "a refused copy leaves the last one"


def test_processes_left_by_a_dead_serve_are_found_by_their_marker_and_stopped(tmp_path):
    import os

    from attain.embedded.durable import MARKER, leftovers, stop_processes

    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    left = subprocess.Popen(sleeper, env={**os.environ, MARKER: str(tmp_path)})
    other = subprocess.Popen(sleeper, env={**os.environ, MARKER: str(tmp_path / "another")})
    try:
        found = leftovers(tmp_path)
        assert [process.pid for process in found] == [left.pid]
        stop_processes(found, grace=10)
        assert not found[0].is_running(), "stopped (it would have slept for a minute)"
        assert other.poll() is None, "a serve on another folder is left alone"
        assert leftovers(tmp_path) == []
    finally:
        for process in (left, other):
            process.kill()
            process.wait()


def test_the_embedded_stack_creates_its_topics_whatever_the_shell_says(monkeypatch, tmp_path):
    """`attain run` starts from a bare shell (no ATTAIN_KAFKA_CREATE_TOPICS): the stack's own settings must still
    create topics, or publishing the demo's plan version finds no reference topics and the demo stops."""
    from pathlib import Path

    from attain.embedded.stack import Stack

    for value in (None, "false"):
        if value is None:
            monkeypatch.delenv("ATTAIN_KAFKA_CREATE_TOPICS", raising=False)
        else:
            monkeypatch.setenv("ATTAIN_KAFKA_CREATE_TOPICS", value)
        settings = Stack(workdir=tmp_path, plans_file=Path("examples/apac"), partitions=3).kafka_settings()
        assert (settings.create_topics, settings.partitions) == (True, 3)
