"""The ledger service as a process, a real broker and its own PostgreSQL: crashes and outages lose and
double nothing."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from confluent_kafka import Producer
from sqlalchemy import func, select

from attain.embedded._process import log_tail, spawn, terminate
from attain.embedded.ports import free_port
from attain.embedded.postgres import EmbeddedPostgres
from attain.platform import topics
from attain.platform.avro import contract
from attain.platform.kafka import ensure_topics, producer_config
from attain.platform.settings import KafkaSettings
from services.ledger.db import ledger_totals, make_engine, migrate
from services.ledger.schema import entries
from tests.polling import deadline_in, wait_until


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    data = tmp_path_factory.mktemp("ledger-pg") / "data"
    server = EmbeddedPostgres(data, delete_on_stop=False)  # the restart test must find its data again
    server.start()
    yield server
    server.stop()
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="module")
def engine(postgres):
    migrate(postgres.url)
    engine = make_engine(postgres.url)
    yield engine
    engine.dispose()


class LedgerProcess:
    def __init__(self, bootstrap, database_url, log_dir, **env):
        self.port = free_port()
        self.group = f"ledger-test-{uuid.uuid4().hex[:8]}"
        self.env = {**os.environ, "ATTAIN_KAFKA_BOOTSTRAP": bootstrap, "ATTAIN_LEDGER_DATABASE_URL": database_url,
                    "ATTAIN_LEDGER_PORT": str(self.port), "ATTAIN_LEDGER_GROUP_ID": self.group,
                    "ATTAIN_LEDGER_RETRY_BACKOFF_SECONDS": "0.3", **env}
        self.log = log_dir / f"ledger-{uuid.uuid4().hex[:6]}.log"
        self.process = None

    def start(self, pause_at=None, **env):
        """``pause_at``: (fault point, seconds) to sleep at, through ``tests/integration/faulty_service.py``."""
        self.log = self.log.with_name(f"ledger-{uuid.uuid4().hex[:6]}.log")
        run = ["tests.integration.faulty_service", pause_at[0], str(pause_at[1])] if pause_at else []
        self.process = spawn([sys.executable, "-m", *run, "services.ledger"], self.log, env={**self.env, **env})
        wait_until(lambda: self.ready() is not None, 60, f"ledger up ({self.log})", interval=0.2)

    def ready(self):
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/health/ready", timeout=2).status_code
        except httpx.HTTPError:
            return None

    def metric(self, name):
        text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text
        return sum(float(line.split()[-1]) for line in text.splitlines()
                   if line.startswith((name + " ", name + "{")))


def publish(bootstrap, reps, version, amount_of):
    producer = Producer(producer_config(KafkaSettings(bootstrap=bootstrap)))
    earnings = contract(topics.EARNINGS)
    for rep in reps:
        amount = amount_of(rep)
        producer.produce(topics.EARNINGS, key=rep.encode(), value=earnings.encode({
            "rep_id": rep, "period": "2026-Q1", "plan_id": "svc", "plan_version": 1, "currency": "INR",
            "snapshot_version": version, "computed_at": datetime.now(UTC), "total_earned": amount,
            "trigger_event_ids": [], "trigger_ingested_at": None,
            "components": [{"component_id": "commission", "credited_value": "0", "quota": None,
                            "attainment_ratio": None, "earned_amount": amount, "source_record_count": 1}]}))
    assert producer.flush(30) == 0


def entry_count(engine, reps):
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(entries).where(entries.c.rep_id.in_(reps))
                                  ).scalar_one()


def book_markers(bootstrap, engine, tag):
    """Publish one marker snapshot on every partition of the earnings topic, after what was sent, and wait
    until the ledger booked them all: everything before them on the topic was processed (a watermark)."""
    producer = Producer(producer_config(KafkaSettings(bootstrap=bootstrap)))
    partitions = len(producer.list_topics(topics.EARNINGS, timeout=10).topics[topics.EARNINGS].partitions)
    markers = [f"marker-{tag}-{uuid.uuid4().hex[:6]}-{p}" for p in range(partitions)]
    earnings = contract(topics.EARNINGS)
    for partition, rep in enumerate(markers):
        producer.produce(topics.EARNINGS, key=rep.encode(), partition=partition, value=earnings.encode({
            "rep_id": rep, "period": "2026-Q1", "plan_id": "svc", "plan_version": 1, "currency": "INR",
            "snapshot_version": 1, "computed_at": datetime.now(UTC), "total_earned": "1.00",
            "trigger_event_ids": [], "trigger_ingested_at": None,
            "components": [{"component_id": "commission", "credited_value": "0", "quota": None,
                            "attainment_ratio": None, "earned_amount": "1.00", "source_record_count": 1}]}))
    assert producer.flush(30) == 0
    wait_until(lambda: entry_count(engine, markers) == len(markers), 90, "the marker snapshots", interval=0.2)


def consume_to_the_end(consumer, topic, keep, timeout=60):
    """Consume ``topic`` until the consumer's position reached every partition's high watermark (read now, after
    the messages of interest were published): a watermark instead of sleeping and hoping nothing else comes."""
    from confluent_kafka import TopicPartition

    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
    deadline = deadline_in(timeout)
    while True:
        positions = {tp.partition: tp.offset for tp in consumer.position([TopicPartition(topic, p) for p in ends])}
        if all(ends[p] == 0 or positions.get(p, -1) >= ends[p] for p in ends):
            return
        assert time.monotonic() < deadline, f"{topic} not read to its end {ends} (at {positions})"
        for message in consumer.consume(100, 0.5):
            if not message.error():
                keep(message)


@pytest.fixture(scope="module")
def broker(kafka_bootstrap):
    ensure_topics(KafkaSettings(bootstrap=kafka_bootstrap), [topics.EARNINGS, topics.EARNINGS_DLQ, topics.PAYOUTS])
    return kafka_bootstrap


def test_sigkill_between_db_commit_and_offset_commit_duplicates_nothing(broker, postgres, engine, tmp_path):
    reps = [f"K{n:03d}-{uuid.uuid4().hex[:4]}" for n in range(200)]
    ledger = LedgerProcess(broker, postgres.url, tmp_path)
    ledger.start(pause_at=("ledger.after_db_commit", 60))
    publish(broker, reps, 1, lambda rep: "100.00")
    wait_until(lambda: entry_count(engine, reps) > 0, 60, "a committed batch", interval=0.2)
    ledger.process.send_signal(signal.SIGKILL)  # committed in the DB, offsets not committed
    ledger.process.wait(10)
    committed_before_kill = entry_count(engine, reps)
    ledger.start()
    try:
        wait_until(lambda: entry_count(engine, reps) == len(reps), 90, "every rep's entry", interval=0.2)
        wait_until(lambda: ledger.metric("attain_ledger_snapshots_stale_total") >= committed_before_kill,
                   30, "the replayed batch to be recognised as applied", interval=0.2)
        book_markers(broker, engine, "kill")  # booked after any replay of the killed batch
        assert entry_count(engine, reps) == len(reps)
        totals = ledger_totals(engine)
        assert all(totals[(rep, "2026-Q1")] == Decimal("100.00") for rep in reps)
    finally:
        terminate(ledger.process, grace=10)


def book_first_snapshots_then_stop_the_database(ledger, broker, postgres, engine, reps: list[str]) -> None:
    """Once ``ledger`` is ready: a first snapshot (10.00) per rep, all booked, then PostgreSQL stopped."""
    wait_until(lambda: ledger.ready() == 200, 60, "ready", interval=0.2)
    publish(broker, reps, 1, lambda rep: "10.00")
    wait_until(lambda: entry_count(engine, reps) == len(reps), 60, "first snapshots", interval=0.2)
    engine.dispose()
    postgres.stop()


def test_postgres_restart_mid_stream_loses_nothing_and_readiness_reports_it(broker, postgres, engine, tmp_path):
    reps = [f"R{n:03d}-{uuid.uuid4().hex[:4]}" for n in range(100)]
    ledger = LedgerProcess(broker, postgres.url, tmp_path)
    ledger.start()
    try:
        book_first_snapshots_then_stop_the_database(ledger, broker, postgres, engine, reps)
        wait_until(lambda: ledger.ready() == 503, 30, "readiness to report the outage", interval=0.2)
        errors = ledger.metric("attain_ledger_db_errors_total")
        publish(broker, reps, 2, lambda rep: "25.50")  # arrives while the database is down
        wait_until(lambda: ledger.metric("attain_ledger_db_errors_total") > errors, 30,
                   "the ledger to try the batch sent during the outage", interval=0.2)
        assert ledger.ready() == 503
        postgres.start()
        wait_until(lambda: ledger.ready() == 200, 60, "readiness after the restart", interval=0.2)
        wait_until(lambda: entry_count(engine, reps) == 2 * len(reps), 90, "the snapshots sent during the outage",
                   interval=0.2)
        totals = ledger_totals(engine)
        assert all(totals[(rep, "2026-Q1")] == Decimal("25.50") for rep in reps)
    finally:
        terminate(ledger.process, grace=10)
        print(log_tail(ledger.log))


POLL_INTERVAL_S = 10  # the consumer's max.poll.interval for the outage test (production: 300 s, Kafka's default)


def test_a_database_outage_longer_than_the_poll_interval_is_waited_out_through_a_rebalance_and_a_lost_member(
        broker, postgres, engine, tmp_path):
    """The issue's case is PostgreSQL down 10 minutes, twice the consumer's 5-minute max poll interval. Scaled for
    CI: max.poll.interval.ms = 10 s and an outage of at least 3x that (30 s). During the outage a second ledger
    joins the group (a rebalance), and the first is frozen (SIGSTOP) past the session timeout so the group evicts
    it (a lost membership). Afterwards both book what was sent during the outage: nothing lost, nothing doubled."""
    reps = [f"O{n:03d}-{uuid.uuid4().hex[:4]}" for n in range(60)]
    settings = {"ATTAIN_LEDGER_MAX_POLL_INTERVAL_MS": str(POLL_INTERVAL_S * 1000),
                "ATTAIN_LEDGER_RETRY_BACKOFF_MAX_SECONDS": "2"}
    first = LedgerProcess(broker, postgres.url, tmp_path, **settings)
    second = LedgerProcess(broker, postgres.url, tmp_path, **settings, ATTAIN_LEDGER_GROUP_ID=first.group)
    second.group = first.group
    first.start()
    try:
        book_first_snapshots_then_stop_the_database(first, broker, postgres, engine, reps)
        outage_started = time.monotonic()
        wait_until(lambda: first.ready() == 503, 30, "readiness to report the outage", interval=0.2)
        publish(broker, reps, 2, lambda rep: "25.50")  # arrives while the database is down
        wait_until(lambda: first.metric("attain_ledger_db_errors_total") >= 2, 30, "the held batch's retries",
                   interval=0.2)

        second.start()  # joins the group: a rebalance while the first holds a batch it cannot book
        holds = "attain_ledger_assigned_partitions"
        wait_until(lambda: first.metric(holds) >= 1 and second.metric(holds) >= 1, 60,
                   "the rebalance to give both members partitions", interval=0.2)
        assert first.metric("attain_ledger_partitions_given_up_total") >= 1
        first.process.send_signal(signal.SIGSTOP)  # frozen past the session timeout: the group drops it
        try:
            wait_until(lambda: second.metric(holds) == 4, 60, "the group to give everything to the second member",
                       interval=0.2)
        finally:
            first.process.send_signal(signal.SIGCONT)
        wait_until(lambda: first.metric(holds) >= 1, 60, "the dropped member to rejoin", interval=0.2)

        # The outage lasts at least three poll intervals; the old loop left the group after one and died.
        wait_until(lambda: time.monotonic() - outage_started >= 3 * POLL_INTERVAL_S, 4 * POLL_INTERVAL_S,
                   "three poll intervals of outage", interval=0.5)
        assert first.process.poll() is None and second.process.poll() is None, "a ledger exited during the outage"
        assert first.ready() == 503 and second.ready() == 503
        outage_seconds = time.monotonic() - outage_started
        postgres.start()
        back = time.monotonic()
        wait_until(lambda: entry_count(engine, reps) == 2 * len(reps), 90, "the snapshots sent during the outage",
                   interval=0.2)
        print(f"outage {outage_seconds:.1f}s; booked {time.monotonic() - back:.1f}s after the database was back")
        wait_until(lambda: first.ready() == 200 and second.ready() == 200, 60, "readiness after the outage",
                   interval=0.2)
        book_markers(broker, engine, "outage")  # a replay of the held batch would show up as a third entry
        assert entry_count(engine, reps) == 2 * len(reps)
        totals = ledger_totals(engine)
        assert all(totals[(rep, "2026-Q1")] == Decimal("25.50") for rep in reps)
        assert first.metric("attain_ledger_db_errors_total") >= 3
    finally:
        for ledger in (first, second):
            if ledger.process is not None:
                ledger.process.send_signal(signal.SIGCONT)
                terminate(ledger.process, grace=10)
        print(log_tail(first.log, 30))


def approve_earnings(engine, scope: str, reps: tuple[str, ...], amount: str) -> None:
    """Book ``amount`` INR of commission for each rep in ``scope``'s 2026-Q1, then lock and approve that period."""
    from attain.ledger.approvals import Actor
    from services.ledger.db import apply_snapshots
    from services.ledger.period_service import decide, lock_period

    apply_snapshots(engine, [{"rep_id": rep, "period": "2026-Q1", "plan_id": scope, "plan_version": 1,
                              "currency": "INR", "snapshot_version": 1, "total_earned": amount,
                              "trigger_event_ids": [], "components": [{"component_id": "commission",
                                                                       "earned_amount": amount}]}
                             for rep in reps])
    lock_period(engine, scope, "2026-Q1", "prep")
    for user, role in (("m", "manager"), ("c", "comp_admin"), ("f", "finance")):
        decide(engine, scope, "2026-Q1", Actor(user, frozenset({role})), True, "ok")


def test_payouts_approved_while_the_service_was_down_are_published_once_it_is_back(broker, postgres, engine,
                                                                                  tmp_path):
    from confluent_kafka import Consumer

    from services.ledger.schema import outbox

    scope = f"down-{uuid.uuid4().hex[:6]}"
    approve_earnings(engine, scope, ("D1", "D2", "D3"), "40.00")
    # committed, and no ledger running to publish it: the outbox holds the lines
    ledger = LedgerProcess(broker, postgres.url, tmp_path)
    ledger.start()
    try:
        def pending():
            with engine.connect() as connection:
                return connection.execute(select(func.count()).select_from(outbox).where(
                    outbox.c.published_at.is_(None), outbox.c.message_key.like(f"{scope}/%"))).scalar_one()
        wait_until(lambda: pending() == 0, 60, "the relay to publish the outbox", interval=0.2)
    finally:
        terminate(ledger.process, grace=10)
    consumer = Consumer({"bootstrap.servers": broker, "group.id": f"payroll-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False, "session.timeout.ms": 6000})
    consumer.subscribe([topics.PAYOUTS])
    keys = []
    deadline = deadline_in(60)
    while time.monotonic() < deadline and len(keys) < 3:
        for message in consumer.consume(100, 0.5):
            if not message.error() and message.key().decode().startswith(scope):
                keys.append(message.key().decode())
    consume_to_the_end(consumer, topics.PAYOUTS, lambda message: keys.append(message.key().decode())
                       if message.key().decode().startswith(scope) else None)
    consumer.close()
    assert sorted(keys) == [f"{scope}/2026-Q1/D{n}/INR" for n in (1, 2, 3)]


def test_a_snapshot_the_ledger_cannot_book_is_dead_lettered_and_the_rest_of_its_batch_is_booked(
        broker, postgres, engine, tmp_path):
    from confluent_kafka import Consumer

    run = uuid.uuid4().hex[:6]
    good, unknown_currency, too_long = f"G-{run}", f"C-{run}", f"L-{run}" + "x" * 300
    producer = Producer(producer_config(KafkaSettings(bootstrap=broker)))
    earnings = contract(topics.EARNINGS)
    for rep, currency in ((good, "INR"), (unknown_currency, "RUPEE"), (too_long, "INR")):
        producer.produce(topics.EARNINGS, key=run.encode(), value=earnings.encode({  # one key: one batch, in order
            "rep_id": rep, "period": "2026-Q1", "plan_id": "poison", "plan_version": 1, "currency": currency,
            "snapshot_version": 1, "computed_at": datetime.now(UTC), "total_earned": "5.00",
            "trigger_event_ids": [], "trigger_ingested_at": None,
            "components": [{"component_id": "commission", "credited_value": "0", "quota": None,
                            "attainment_ratio": None, "earned_amount": "5.00", "source_record_count": 1}]}))
    assert producer.flush(30) == 0
    ledger = LedgerProcess(broker, postgres.url, tmp_path)
    ledger.start()
    try:
        wait_until(lambda: entry_count(engine, [good]) == 1, 60, "the good snapshot", interval=0.2)
        # the poison left it serving: ready once its probes have run (the broker probe answers every second)
        wait_until(lambda: ledger.ready() == 200, 30, "the ledger ready after the poison", interval=0.2)
    finally:
        terminate(ledger.process, grace=10)
    consumer = Consumer({"bootstrap.servers": broker, "group.id": f"dlq-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False, "session.timeout.ms": 6000})
    consumer.subscribe([topics.EARNINGS_DLQ])
    codes = {}
    deadline = deadline_in(60)
    while time.monotonic() < deadline and len(codes) < 2:
        for message in consumer.consume(100, 0.5):
            if message.error():
                continue
            envelope = contract(topics.EARNINGS_DLQ).decode(message.value())
            rep = earnings.decode(envelope["original"])["rep_id"]
            if rep in (unknown_currency, too_long):
                codes[rep] = (envelope["error_code"], envelope["reason"])
    consumer.close()
    assert codes[unknown_currency][0] == "invalid_snapshot" and "RUPEE" in codes[unknown_currency][1]
    assert codes[too_long][0] == "rejected" and "too long" in codes[too_long][1]
    assert entry_count(engine, [unknown_currency, too_long]) == 0


def test_sigkill_after_publishing_payouts_before_marking_them_republishes_the_same_lines(broker, postgres, engine,
                                                                                        tmp_path):
    from confluent_kafka import Consumer

    from services.ledger.schema import outbox

    scope = f"kill-{uuid.uuid4().hex[:6]}"
    approve_earnings(engine, scope, ("S1", "S2"), "75.00")

    consumer = Consumer({"bootstrap.servers": broker, "group.id": f"payroll-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False, "session.timeout.ms": 6000})
    consumer.subscribe([topics.PAYOUTS])
    received = []

    def receive(until_count, timeout=60):
        deadline = deadline_in(timeout)
        while time.monotonic() < deadline and len(received) < until_count:
            for message in consumer.consume(100, 0.5):
                if not message.error() and message.key().decode().startswith(scope):
                    received.append((message.key().decode(), message.value()))
        return len(received)

    def pending():
        with engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(outbox).where(
                outbox.c.published_at.is_(None), outbox.c.message_key.like(f"{scope}/%"))).scalar_one()

    ledger = LedgerProcess(broker, postgres.url, tmp_path)
    ledger.start(pause_at=("ledger.after_outbox_publish", 60))
    try:
        assert receive(2) == 2  # on the topic...
        ledger.process.send_signal(signal.SIGKILL)
        ledger.process.wait(10)
        assert pending() == 3  # ...but never marked sent (the 2 lines and the period's control record)
        ledger.start()
        wait_until(lambda: pending() == 0, 60, "the restarted relay to publish and mark", interval=0.2)
    finally:
        terminate(ledger.process, grace=10)
    assert receive(4) == 4
    consume_to_the_end(consumer, topics.PAYOUTS, lambda message: received.append(
        (message.key().decode(), message.value())) if message.key().decode().startswith(scope) else None)
    consumer.close()
    keys = [key for key, _ in received]
    assert sorted(keys) == sorted([f"{scope}/2026-Q1/S1/INR", f"{scope}/2026-Q1/S2/INR"] * 2)
    by_key = {}
    for key, value in received:
        by_key.setdefault(key, set()).add(value)
    assert all(len(copies) == 1 for copies in by_key.values())  # every copy byte-identical: dedupe on payout_id
