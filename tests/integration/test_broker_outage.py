"""Ingest with the broker hung or gone: it answers 503 within 5 s, says so in its readiness, and accepts again
once the broker is back. A broker of this module's own (embedded Tansu on a fixed port, so it can come back at
the same address), the ingest service as a process."""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from attain.embedded._process import log_tail, spawn, terminate
from attain.embedded.ports import LOCALHOST, free_port, wait_for_kafka
from attain.embedded.tansu import _broker_argv, _clean_env, _tansu_binary
from attain.platform import topics
from attain.platform.kafka import ensure_topics
from attain.platform.settings import KafkaSettings
from tests.integration.ingest_support import DEV_SECRET, dev_token
from tests.polling import wait_until

ANSWER_LIMIT_S = 5.0  # the promise: a caller learns within 5 s that it must retry (a bound, not a benchmark)


class RestartableBroker:
    """Tansu on one port across restarts (its storage is memory: a restart forgets topics and data)."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.bootstrap = f"{LOCALHOST}:{self.port}"
        self.log = log_dir / "tansu.log"
        self.process = None

    def start(self) -> None:
        self.process = spawn(_broker_argv(_tansu_binary(), self.port), self.log, env=_clean_env())
        wait_for_kafka(self.bootstrap, 30)
        ensure_topics(KafkaSettings(bootstrap=self.bootstrap), [topics.CRM_CHANGES, topics.CRM_CHANGES_DLQ])

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)
            terminate(self.process, grace=5)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RestartableBroker]:
    broker = RestartableBroker(tmp_path)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def ingest(broker: RestartableBroker, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = tmp_path / "ingest.log"
    process = spawn([sys.executable, "-m", "services.ingest"], log,
                    env={**os.environ, "ATTAIN_KAFKA_BOOTSTRAP": broker.bootstrap, "ATTAIN_INGEST_PORT": str(port),
                         "ATTAIN_AUTH_DEV_HS256_SECRET": DEV_SECRET})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: ready(url) == 200, 60, f"ingest ready ({log})", interval=0.2)
        yield url
    finally:
        terminate(process, grace=10)
        print(log_tail(log, 20))


def ready(url: str) -> int | None:
    try:
        return httpx.get(f"{url}/health/ready", timeout=2).status_code
    except httpx.HTTPError:
        return None


def post_event(url: str) -> tuple[int, float]:
    record = f"outage-{uuid.uuid4().hex[:8]}"
    event = {"event_id": f"{record}-e", "record_id": record, "object_type": "Opportunity", "change_type": "UPDATE",
             "commit_timestamp": "2026-01-15T10:00:00Z", "fields": {"amount": "10.00", "owner_id": "rep-1"}}
    started = time.monotonic()
    # the client would wait; the service must not
    response = httpx.post(f"{url}/v1/events", json=event, timeout=120,
                          headers={"Authorization": f"Bearer {dev_token()}"})
    return response.status_code, time.monotonic() - started


def test_a_hung_broker_gets_503_within_5_s_and_not_ready_then_events_flow_again(broker, ingest):
    assert post_event(ingest)[0] == 202
    broker.process.send_signal(signal.SIGSTOP)  # up but unresponsive: connections hang, nothing is refused
    try:
        status, seconds = post_event(ingest)
        print(f"hung broker: POST answered {status} in {seconds:.2f}s")
        assert status == 503 and seconds < ANSWER_LIMIT_S
        wait_until(lambda: ready(ingest) == 503, 10, "readiness to report the hung broker", interval=0.2)
        status, seconds = post_event(ingest)  # known down: refused at once
        print(f"hung broker, known: POST answered {status} in {seconds:.2f}s")
        assert status == 503 and seconds < ANSWER_LIMIT_S
    finally:
        broker.process.send_signal(signal.SIGCONT)
    wait_until(lambda: ready(ingest) == 200, 30, "readiness once the broker answers again", interval=0.2)
    assert post_event(ingest)[0] == 202


def test_a_stopped_broker_gets_503_within_5_s_and_not_ready_then_a_restarted_one_is_used(broker, ingest):
    assert post_event(ingest)[0] == 202
    broker.stop()
    wait_until(lambda: ready(ingest) == 503, 10, "readiness to report the stopped broker", interval=0.2)
    status, seconds = post_event(ingest)
    print(f"stopped broker: POST answered {status} in {seconds:.2f}s")
    assert status == 503 and seconds < ANSWER_LIMIT_S
    broker.start()  # same address; an empty memory broker, its topics created again
    wait_until(lambda: ready(ingest) == 200, 60, "readiness once the broker is back", interval=0.2)
    wait_until(lambda: post_event(ingest)[0] == 202, 30, "events accepted again", interval=0.5)
