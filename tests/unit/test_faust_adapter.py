"""The faust adapter is the one place faust's internals are touched, checked against one faust version."""

import re
from pathlib import Path

from attain.platform.faust_adapter import CHECKED_AGAINST, installed_faust_version

REPO = Path(__file__).resolve().parents[2]
ADAPTER = REPO / "attain" / "platform" / "faust_adapter.py"
# faust (and aiokafka) private names the adapter relies on; docs/architecture.md lists why
PRIVATE = re.compile(r"\._(unacked_messages|read_offset|add_gap|new_consumer_thread|create_worker_consumer"
                     r"|fetch_max_wait_ms|key_partition)\b|actives_for_table|standbys_for_table|stream_inbound_time"
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
