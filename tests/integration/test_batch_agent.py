"""StreamApp.batch_agent and the faust adapter on a real broker: every record handed over once, in order,
acked only after the checkpoint, replayed after a crash before the ack; offsets skipped recorded as gaps.

The worker (``batch_agent_worker.py``) runs as a process, as the calculator does.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from attain.embedded._process import spawn, terminate
from attain.embedded.ports import free_port
from attain.platform.kafka import ensure_topics
from attain.platform.settings import KafkaSettings
from tests.polling import wait_until

WORKER = Path(__file__).with_name("batch_agent_worker.py")
REPO = Path(__file__).resolve().parents[2]


def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> dict[int, int]:
    """Produce ``records``; the number of records each partition got."""
    counts: dict[int, int] = defaultdict(int)
    errors = []

    def delivered(error, message):
        if error is not None:
            errors.append(error)
        else:
            counts[message.partition()] += 1

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for key, value in records:
        producer.produce(topic, key=key, value=value, on_delivery=delivered)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert not errors
    return dict(counts)


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        offsets = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return {tp.partition: tp.offset for tp in offsets}
    finally:
        consumer.close()


def high_watermark(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"watermark-{uuid.uuid4().hex[:8]}"})
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    finally:
        consumer.close()


def start_worker(bootstrap: str, topic: str, app_id: str, workdir: Path, extra_env: dict[str, str] | None = None):
    """A worker process in group ``app_id`` (``extra_env``: see ``batch_agent_worker.py``); its handled-records file."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, ATTAIN_KAFKA_BOOTSTRAP=bootstrap, ATTAIN_KAFKA_PARTITIONS="4",
               ATTAIN_KAFKA_FETCH_MAX_WAIT_MS="20", ATTAIN_KAFKA_REBALANCE_TIMEOUT_MS="10000",
               BATCH_AGENT_APP_ID=app_id, BATCH_AGENT_PORT=str(free_port()),
               PYTHONPATH=str(REPO), **(extra_env or {}))
    out = workdir / "handled.txt"
    process = spawn([sys.executable, str(WORKER), topic, str(out)], workdir / "worker.log", env=env, cwd=REPO)
    return process, out


def handled(out: Path) -> list[tuple[int, int, str]]:
    if not out.exists():
        return []
    return [(int(p), int(o), k) for p, o, k in (line.split() for line in out.read_text().splitlines())]


def test_every_record_reaches_the_handler_once_in_partition_order_and_its_offset_is_committed(
    kafka_bootstrap, tmp_path
):
    topic, app_id = f"batch-agent-{uuid.uuid4().hex[:8]}", f"batch-agent-{uuid.uuid4().hex[:8]}"
    ensure_topics(KafkaSettings(bootstrap=kafka_bootstrap), [topic])
    counts = produce(kafka_bootstrap, topic, [(f"k{n}".encode(), b"v") for n in range(3000)])
    process, out = start_worker(kafka_bootstrap, topic, app_id, tmp_path)
    try:
        wait_until(lambda: len(handled(out)) >= 3000, timeout=90, what="3,000 records handled")
        wait_until(lambda: committed(kafka_bootstrap, app_id, topic, 4) == counts, timeout=30,
                   what="offsets committed to the end of every partition")
    finally:
        terminate(process, grace=15)
    rows = handled(out)
    assert sorted(key for _, _, key in rows) == sorted(f"k{n}" for n in range(3000))  # each once
    by_partition: dict[int, list[int]] = defaultdict(list)
    for partition, offset, _ in rows:
        by_partition[partition].append(offset)
    assert {p: offsets for p, offsets in by_partition.items()} == {
        p: list(range(n)) for p, n in counts.items()}  # in offset order, none skipped


def test_a_handler_that_raises_crashes_the_worker_and_its_records_are_not_committed(kafka_bootstrap, tmp_path):
    topic, app_id = f"batch-agent-{uuid.uuid4().hex[:8]}", f"batch-agent-{uuid.uuid4().hex[:8]}"
    ensure_topics(KafkaSettings(bootstrap=kafka_bootstrap), [topic])
    produce(kafka_bootstrap, topic, [(b"same-key", b"ok")] * 5 + [(b"same-key", b"boom")])
    process, out = start_worker(kafka_bootstrap, topic, app_id, tmp_path)
    try:
        wait_until(lambda: process.poll() is not None, timeout=90, what="the worker to exit")
    finally:
        terminate(process, grace=15)
    assert process.returncode != 0
    assert "boom" in (tmp_path / "worker.log").read_text()
    # the batch holding the bad record was never acked: nothing past it is committed
    assert all(offset < 6 for offset in committed(kafka_bootstrap, app_id, topic, 4).values())


def test_no_record_is_lost_when_a_second_worker_joins_while_records_arrive(kafka_bootstrap, tmp_path):
    """A rebalance mid-stream: records are handled at least once, and offsets end at the end.

    A fetch call made while the group rebalances returns, once it is over, records
    of the new generation; an earlier version dropped them as stale and then
    committed past them (150-176 records lost in a run like this one).
    """
    topic, app_id = f"batch-agent-{uuid.uuid4().hex[:8]}", f"batch-agent-{uuid.uuid4().hex[:8]}"
    ensure_topics(KafkaSettings(bootstrap=kafka_bootstrap), [topic])
    produced: dict[int, int] = defaultdict(int)

    def send(start: int, stop: int) -> None:
        for partition, count in produce(kafka_bootstrap, topic,
                                        [(f"k{n}".encode(), b"v") for n in range(start, stop)]).items():
            produced[partition] += count

    send(0, 500)
    first, first_out = start_worker(kafka_bootstrap, topic, app_id, tmp_path / "w1")
    second = None
    try:
        wait_until(lambda: len(handled(first_out)) >= 500, timeout=90, what="the first worker's 500 records")
        second, second_out = start_worker(kafka_bootstrap, topic, app_id, tmp_path / "w2")
        sent = 500
        for _ in range(40):  # keep records coming while the group rebalances
            send(sent, sent + 50)
            sent += 50
            time.sleep(0.5)
        wanted = {f"k{n}" for n in range(sent)}
        wait_until(lambda: {key for _, _, key in handled(first_out) + handled(second_out)} >= wanted,
                   timeout=90, what="every record handled by one worker or the other")
        wait_until(lambda: committed(kafka_bootstrap, app_id, topic, 4) == dict(produced), timeout=30,
                   what="offsets committed to the end of every partition")
    finally:
        terminate(first, grace=15)
        if second is not None:
            terminate(second, grace=15)
    assert {key for _, _, key in handled(first_out) + handled(second_out)} == wanted


class TopicReader:
    """Every (key, value) on a topic from its start, gathered as :meth:`read` is called."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex[:8]}",
                                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
        self.consumer.subscribe([topic])
        self.records: list[tuple[bytes, bytes]] = []

    def read(self) -> list[tuple[bytes, bytes]]:
        for message in self.consumer.consume(1000, timeout=0.5):
            if message.error() is None:
                self.records.append((message.key(), message.value()))
        return self.records

    def close(self) -> None:
        self.consumer.close()


def test_the_checkpoint_stores_outputs_before_the_ack_and_a_crash_before_the_ack_replays_the_batch(
    kafka_bootstrap, tmp_path
):
    """The worker copies records to an output topic and dies between the checkpoint's flush and its ack.

    It waits 1.5 s (three commit intervals) after the flush before dying, so a
    checkpoint that acked before flushing would have its offset committed.
    """
    suffix = uuid.uuid4().hex[:8]
    topic, output, app_id = f"batch-agent-{suffix}", f"batch-agent-out-{suffix}", f"batch-agent-{suffix}"
    ensure_topics(KafkaSettings(bootstrap=kafka_bootstrap, partitions=1), [topic, output])
    records = [(f"k{n}".encode(), b"die" if n == 150 else b"v") for n in range(300)]
    produce(kafka_bootstrap, topic, records)
    reader = TopicReader(kafka_bootstrap, output)
    env = {"BATCH_AGENT_OUTPUT": output, "BATCH_AGENT_DIE_AFTER_FLUSH": "die"}
    process, _ = start_worker(kafka_bootstrap, topic, app_id, tmp_path / "w1", env)
    try:
        wait_until(lambda: process.poll() is not None, timeout=90, what="the worker to die after the flush")
    finally:
        terminate(process, grace=15)
    assert process.returncode == 3
    wait_until(lambda: (b"k150", b"die") in reader.read(), timeout=30,
               what="the dying batch's output, flushed before the crash")
    assert committed(kafka_bootstrap, app_id, topic, 1)[0] <= 150  # the dying batch was never acked

    process, _ = start_worker(kafka_bootstrap, topic, app_id, tmp_path / "w2", {"BATCH_AGENT_OUTPUT": output})
    try:
        wait_until(lambda: reader.read().count((b"k150", b"die")) >= 2 and set(reader.read()) >= set(records),
                   timeout=90, what="the dying batch replayed and every record copied")
        wait_until(lambda: committed(kafka_bootstrap, app_id, topic, 1) == {0: 300}, timeout=30,
                   what="offsets committed to the end")
    finally:
        terminate(process, grace=15)
        reader.close()
    assert set(reader.records) == set(records)


def test_offsets_skipped_between_records_are_recorded_as_gaps_so_the_commit_reaches_the_end(
    kafka_bootstrap, tmp_path
):
    """Two interleaved transactions, then a plain record: records at 0-9, their markers at 10 and 11, one at 12.

    faust commits past a contiguous run of acked offsets, and past a single
    skipped offset; two in a row stop the commit unless the adapter records them
    as a gap.
    """
    suffix = uuid.uuid4().hex[:8]
    topic, app_id = f"batch-agent-{suffix}", f"batch-agent-{suffix}"
    ensure_topics(KafkaSettings(bootstrap=kafka_bootstrap, partitions=1), [topic])
    transactions = [Producer({"bootstrap.servers": kafka_bootstrap, "transactional.id": f"gaps-{suffix}-{n}"})
                    for n in range(2)]
    for n, producer in enumerate(transactions):
        producer.init_transactions(30)
        producer.begin_transaction()
        for key in range(n * 5, n * 5 + 5):
            producer.produce(topic, key=f"k{key}".encode(), value=b"v")
        assert producer.flush(30) == 0
    for producer in transactions:
        producer.commit_transaction(30)
    # A commit returns before the coordinator has written its markers (Apache Kafka writes them
    # asynchronously): wait until both are in the log, so the plain record lands after them.
    wait_until(lambda: high_watermark(kafka_bootstrap, topic) >= 12, timeout=30, what="both commit markers written")
    produce(kafka_bootstrap, topic, [(b"k10", b"v")])
    process, out = start_worker(kafka_bootstrap, topic, app_id, tmp_path)
    try:
        wait_until(lambda: len(handled(out)) >= 11, timeout=90, what="11 records handled")
        wait_until(lambda: committed(kafka_bootstrap, app_id, topic, 1) == {0: 13}, timeout=30,
                   what="the offset committed past both transactions' markers")
    finally:
        terminate(process, grace=15)
    assert [offset for _, offset, _ in handled(out)] == [*range(10), 12]


def test_a_partition_faust_stops_fetching_is_resumed_by_the_stall_guard_and_nothing_is_lost(kafka_bootstrap, tmp_path):
    """The worker makes faust stop fetching every partition after its first batch (as a restarted worker once
    did for good); records sent after that wait. The stall guard finds them waiting and unmoved for its stall
    time (2 s here), resumes each partition from its committed offset, and every record is handled."""
    topic, app_id = f"batch-agent-{uuid.uuid4().hex[:8]}", f"batch-agent-{uuid.uuid4().hex[:8]}"
    ensure_topics(KafkaSettings(bootstrap=kafka_bootstrap), [topic])
    first = produce(kafka_bootstrap, topic, [(f"k{n}".encode(), b"v") for n in range(200)])
    process, out = start_worker(kafka_bootstrap, topic, app_id, tmp_path, {
        "BATCH_AGENT_PAUSE_AFTER_FIRST_BATCH": "1", "BATCH_AGENT_STALL_SECONDS": "2"})
    log = tmp_path / "worker.log"
    try:
        wait_until(lambda: "paused every partition" in log.read_text(), timeout=90, what="the worker to pause")
        later = produce(kafka_bootstrap, topic, [(f"k{n}".encode(), b"v") for n in range(200, 600)])
        wanted = {f"k{n}" for n in range(600)}
        wait_until(lambda: {key for _, _, key in handled(out)} >= wanted, timeout=60,
                   what="every record handled after the pause")
        produced = {p: first.get(p, 0) + later.get(p, 0) for p in set(first) | set(later)}
        wait_until(lambda: committed(kafka_bootstrap, app_id, topic, 4) == produced, timeout=30,
                   what="offsets committed to the end of every partition")
        stalls = [line for line in log.read_text().splitlines() if "partition stalled" in line]
    finally:
        terminate(process, grace=15)
    assert {key for _, _, key in handled(out)} == wanted
    assert stalls, "the guard logged no stalled partition"
