"""The Salesforce ingest process, SIGKILLed mid-stream and restarted: every event reaches crm.changes
exactly once in effect (each event id present; a redelivered one carries identical content)."""

from __future__ import annotations

import os
import signal
import sys
import uuid
from collections import defaultdict

import httpx
from confluent_kafka import Consumer, TopicPartition

from attain.embedded._process import spawn
from attain.embedded.ports import free_port
from tests.fakes.cdc_events import OPPORTUNITY_SCHEMA_ID
from tests.fakes.pubsub_server import FakeSalesforce
from tests.integration.salesforce_support import MAPPING_FILE, REPO, changes_with_prefix, rsa_key_pair
from tests.integration.test_salesforce_subscriber import opportunity_payloads
from tests.polling import wait_until

_, PUBLIC_KEY = rsa_key_pair()
CHANNEL = "/data/OpportunityChangeEvent"
TOTAL = 15_000


def positions_written(bootstrap: str, topic: str) -> int:
    """Records on the replay-position topic so far (0 before it exists)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions)
    finally:
        consumer.close()


def test_kill_mid_stream_and_restart_publishes_every_event_exactly_once_in_effect(kafka_bootstrap, tmp_path):
    prefix = f"006K{uuid.uuid4().hex[:8].upper()}"
    secret_file = tmp_path / "client-secret"
    secret_file.write_text("s3cret\n")
    with FakeSalesforce(PUBLIC_KEY, max_batch=50, batch_pause_s=0.03) as sf:  # 15,000 events: 9 s or more
        env = {
            **os.environ,
            "ATTAIN_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "ATTAIN_SALESFORCE_PUBSUB_TARGET": sf.target,
            "ATTAIN_SALESFORCE_PUBSUB_INSECURE": "true",
            "ATTAIN_SALESFORCE_CHANNELS": CHANNEL,
            "ATTAIN_SALESFORCE_MAPPING_FILE": str(MAPPING_FILE),
            "ATTAIN_SALESFORCE_REPLAY_POLICY": "EARLIEST",
            "ATTAIN_SALESFORCE_REPLAY_STORE": "kafka",
            "ATTAIN_SALESFORCE_REPLAY_TOPIC": f"ingest.salesforce.replay.{prefix}",
            "ATTAIN_SALESFORCE_AUTH_FLOW": "client_credentials",
            "ATTAIN_SALESFORCE_LOGIN_URL": sf.login_url,
            "ATTAIN_SALESFORCE_CLIENT_ID": sf.oauth.client_id,
            "ATTAIN_SALESFORCE_CLIENT_SECRET_FILE": str(secret_file),
            "ATTAIN_SALESFORCE_PORT": str(free_port()),
            "PYTHONPATH": str(REPO),
        }
        sf.pubsub.append(CHANNEL, OPPORTUNITY_SCHEMA_ID, opportunity_payloads(prefix, TOTAL))
        log = tmp_path / "ingest-salesforce.log"
        first = spawn([sys.executable, "-m", "services.ingest.salesforce"], log, env=env, cwd=REPO)
        try:
            # Kill only once a position is stored, so the restart has one to resume from.
            wait_until(lambda: sf.pubsub.delivered >= 3000
                       and positions_written(kafka_bootstrap, env["ATTAIN_SALESFORCE_REPLAY_TOPIC"]) > 0,
                       90, "the first events and a stored replay position")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        published_before_kill = len(changes_with_prefix(kafka_bootstrap, prefix))
        assert 0 < published_before_kill < TOTAL, "the kill must land mid-stream"
        sf.pubsub.append(CHANNEL, OPPORTUNITY_SCHEMA_ID, opportunity_payloads(prefix, 1000, start=TOTAL))

        second = spawn([sys.executable, "-m", "services.ingest.salesforce"], log, env=env, cwd=REPO)
        try:
            wait_until(lambda: len({r["event_id"] for r in changes_with_prefix(kafka_bootstrap, prefix)})
                       >= TOTAL + 1000, 180, f"all events (log: {log})")
            ready = httpx.get(f"http://127.0.0.1:{env['ATTAIN_SALESFORCE_PORT']}/health/ready", timeout=5)
            assert ready.status_code == 200 and ready.json()["detail"] == "subscribed", ready.text
            metrics_text = httpx.get(f"http://127.0.0.1:{env['ATTAIN_SALESFORCE_PORT']}/metrics", timeout=5).text
            assert 'attain_ingest_salesforce_replay_lag_seconds{channel="/data/OpportunityChangeEvent"}' in metrics_text
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(20) == 0, log.read_text()[-3000:]

    records = changes_with_prefix(kafka_bootstrap, prefix)
    copies = defaultdict(list)
    for record in records:
        copies[record["event_id"]].append({k: v for k, v in record.items() if k != "ingested_at"})
    assert len(copies) == TOTAL + 1000
    assert {r["record_id"] for r in records} == {f"{prefix}{n:05d}" for n in range(TOTAL + 1000)}
    assert all(all(c == same[0] for c in same) for same in copies.values()), "a redelivery changed content"
    resumed = sf.pubsub.subscribes[-1]
    assert resumed.replay_preset == 2, "the restart must resume from the stored replay id, not a preset"
    assert int.from_bytes(resumed.replay_id, "big") > 0
    redelivered = len(records) - TOTAL - 1000
    # only the tail at the kill arrives twice: the unacknowledged events (at most MAX_IN_FLIGHT, 2000)
    # plus those acknowledged since the last position write (at most SAVE_INTERVAL_S, 0.2 s, of them)
    assert redelivered < published_before_kill, "the restart must not start over"
    assert redelivered <= 2000 + 6000, (published_before_kill, redelivered)
