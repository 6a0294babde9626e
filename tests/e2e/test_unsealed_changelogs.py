"""The calculator without its changelog seals (``ATTAIN_KAFKA_SEAL_CHANGELOGS=false``), for brokers whose high
watermarks are right (Apache Kafka): killed mid-stream, it still recovers every table and the ledger still
equals a batch recompute, and no seal record is written.

The seal exists for Tansu, whose wrong high watermark makes faust's recovery miss the last batch of state
without it (attain.platform.streams.BatchProducer), so this module runs only on another broker: CI's Apache Kafka.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from attain.embedded.stack import Stack
from attain.platform.kafka import admin_client
from attain.platform.reading import read_until_idle
from attain.platform.streams import SEAL_KEY
from tests.e2e.conftest import run_stack
from tests.e2e.test_pipeline import kill_the_calculator_mid_stream

pytestmark = pytest.mark.skipif(
    not os.environ.get("ATTAIN_TEST_KAFKA"),
    reason="Tansu's wrong high watermark needs the seals: run with ATTAIN_TEST_KAFKA=apache")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, pipeline_kafka_bootstrap: str, database_url: str
          ) -> Iterator[Stack]:
    yield from run_stack(tmp_path_factory.mktemp("stack"), pipeline_kafka_bootstrap, database_url,
                         ATTAIN_KAFKA_SEAL_CHANGELOGS="false")


def changelog_keys(stack: Stack) -> list[bytes | None]:
    """The key of every record on the stack's calculator changelogs."""
    app_id, bootstrap = stack.extra_env["ATTAIN_CALCULATOR_APP_ID"], stack.kafka_bootstrap or ""
    names = [name for name in admin_client(bootstrap).list_topics(timeout=30).topics
             if name.startswith(f"{app_id}-") and name.endswith("-changelog")]
    assert names, f"no changelog of {app_id}"
    return [message.key() for name in names
            for message in read_until_idle(bootstrap, name, idle_seconds=0)]


def test_killed_mid_stream_without_seals_the_ledger_still_equals_a_recompute(stack, book):
    kill_the_calculator_mid_stream(stack, book, "006USL")
    keys = changelog_keys(stack)
    assert len(keys) > 100  # the tables' state of 500 deals
    assert SEAL_KEY not in keys
