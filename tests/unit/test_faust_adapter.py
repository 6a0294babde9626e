"""The faust adapter is the one place faust's internals are touched, checked against one faust version."""

import re
from pathlib import Path

from attain.platform.faust_adapter import CHECKED_AGAINST, installed_faust_version, stalled_partitions

REPO = Path(__file__).resolve().parents[2]
ADAPTER = REPO / "attain" / "platform" / "faust_adapter.py"
# faust (and aiokafka) private names the adapter relies on; docs/architecture.md lists why
PRIVATE = re.compile(r"\._(unacked_messages|read_offset|committed_offset|add_gap|new_consumer_thread"
                     r"|create_worker_consumer|fetch_max_wait_ms|key_partition)\b|actives_for_table|standbys_for_table|stream_inbound_time"
                     r"|\.data\.data\b")


def test_the_installed_faust_is_the_version_the_adapter_was_checked_against():
    installed = installed_faust_version()
    assert installed == CHECKED_AGAINST, (
        f"faust-streaming {installed} is installed, but attain/platform/faust_adapter.py was checked against "
        f"{CHECKED_AGAINST}: re-check each point of 'What the faust adapter relies on' in docs/architecture.md "
        f"against the new version, run tests/integration/test_batch_agent.py, then update CHECKED_AGAINST")


def test_no_module_but_the_adapter_touches_faust_internals():
    touching = sorted(str(path.relative_to(REPO)) for folder in ("attain", "services", "bench")
                      for path in (REPO / folder).rglob("*.py")
                      if path != ADAPTER and PRIVATE.search(path.read_text()))
    assert touching == []
    assert PRIVATE.search(ADAPTER.read_text())  # the pattern still finds what the adapter uses


def test_every_private_name_the_adapter_uses_is_documented():
    text = ADAPTER.read_text()
    own = {"consumer", "app", "run_batch"}  # the adapter's own attributes and method
    used = set(re.findall(r"\._([a-z][a-z_]+)", text)) - own
    documented = (REPO / "docs" / "architecture.md").read_text()
    assert used
    assert sorted(name for name in used if f"_{name}" not in documented) == []


def test_a_partition_is_stalled_only_when_records_wait_and_its_offset_has_not_moved_for_the_stall_time():
    watches = {}
    assert stalled_partitions(watches, {"a": (5, 9), "b": (3, 3), "c": (None, 4), "d": (2, None)}, 0, 30) == []
    assert set(watches) == {"a"}  # b has nothing waiting; c and d are not known
    assert stalled_partitions(watches, {"a": (5, 9)}, 29.99, 30) == []
    assert stalled_partitions(watches, {"a": (5, 10)}, 30, 30) == ["a"]  # more arriving is not progress
    assert stalled_partitions(watches, {"a": (5, 10)}, 45, 30) == []  # reported again only a stall time later
    assert stalled_partitions(watches, {"a": (5, 10)}, 60, 30) == ["a"]


def test_progress_nothing_waiting_or_losing_the_partition_starts_the_watch_again():
    watches = {}
    stalled_partitions(watches, {"a": (5, 9), "b": (1, 4)}, 0, 30)
    assert stalled_partitions(watches, {"a": (6, 9), "b": (1, 4)}, 29, 30) == []  # a moved at 29
    assert stalled_partitions(watches, {"a": (6, 9), "b": (1, 4)}, 30, 30) == ["b"]
    assert stalled_partitions(watches, {"a": (6, 9)}, 58, 30) == []  # b revoked: forgotten
    assert "b" not in watches
    assert stalled_partitions(watches, {"a": (9, 9)}, 70, 30) == []  # caught up: forgotten
    assert stalled_partitions(watches, {"a": (9, 12), "b": (1, 4)}, 71, 30) == []  # both watched afresh
    assert stalled_partitions(watches, {"a": (9, 12), "b": (1, 4)}, 101, 30) == ["a", "b"]
