"""The payroll contract end to end on a real PostgreSQL and broker: an approved period publishes its lines
(HR ids, earning codes) and one control record through the outbox, and the Java and Python consumer
examples of docs/payroll-contract.md read them from the broker, dedupe, and check them against it."""

from __future__ import annotations

import csv
import io
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from sqlalchemy import select

from attain.ledger.approvals import Actor
from attain.ledger.payroll import EarningCodes
from attain.platform import topics
from attain.platform.avro import contract
from attain.platform.kafka import ensure_topics, producer_config
from attain.platform.settings import KafkaSettings
from cli.main import main
from services.ledger.db import apply_snapshots
from services.ledger.payouts import OutboxRelay, PayrollNotReady, approved_lines, export_csv
from services.ledger.period_service import decide, lock_period
from services.ledger.postings import post_manual
from services.ledger.schema import outbox
from tests.integration.payroll_examples import run_java, run_python
from tests.polling import deadline_in

CODES = EarningCodes.parse("commission=COMM, spiff=BONUS, kind:draw=DRAW, *=OTHER")
PERIOD = "2026-Q1"


def run(*argv):
    with pytest.raises(SystemExit) as stopped:
        main(list(argv))
    return stopped.value.code


def snapshot(rep, scope, currency, components):
    total = sum((Decimal(amount) for amount in components.values()), Decimal(0))
    return {"rep_id": rep, "period": PERIOD, "plan_id": scope, "plan_version": 1, "currency": currency,
            "snapshot_version": 1, "total_earned": str(total), "trigger_event_ids": [f"{rep}-e1"],
            "components": [{"component_id": c, "earned_amount": a} for c, a in components.items()]}


def approve(engine, scope):
    lock_period(engine, scope, PERIOD, "prep-1")
    for user, role in (("mgr-1", "manager"), ("admin-1", "comp_admin"), ("fin-1", "finance")):
        decide(engine, scope, PERIOD, Actor(user, frozenset({role})), True, f"ok by {user}", codes=CODES)


def read_controls(bootstrap, control_id, timeout=30):
    """The control records of ``control_id`` on the topic, read from the beginning (assigned: no group join)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"control-{uuid.uuid4()}",
                         "enable.auto.commit": False})
    metadata = consumer.list_topics(topics.PAYOUTS_CONTROL, timeout=30).topics[topics.PAYOUTS_CONTROL]
    consumer.assign([TopicPartition(topics.PAYOUTS_CONTROL, p, 0) for p in metadata.partitions])
    found = []
    deadline = deadline_in(timeout)
    try:
        while time.monotonic() < deadline and not found:
            for message in consumer.consume(500, 0.5):
                if not message.error() and message.key() == control_id.encode():
                    found.append(contract(topics.PAYOUTS_CONTROL).decode(message.value()))
    finally:
        consumer.close()
    return found


def test_an_approved_period_reaches_java_and_python_payroll_consumers_complete(engine, database_url, tmp_path,
                                                                              kafka_bootstrap):
    ensure_topics(KafkaSettings(bootstrap=kafka_bootstrap), [topics.PAYOUTS, topics.PAYOUTS_CONTROL])
    scope = f"prl{uuid.uuid4().hex[:6]}"  # the broker is shared by the session: keys of this run only
    org = tmp_path / "org.yaml"
    org.write_text("participants:\n  - {id: pA, region: IN, hr_id: E-1001}\n  - {id: pB, region: US, hr_id: 2002}\n"
                   "  - {id: pC, region: IN}\n")
    assert run("ledger", "org", str(org), "--database-url", database_url) == 0
    apply_snapshots(engine, [snapshot("pA", scope, "INR", {"commission": "1000.00", "spiff": "250.50"}),
                             snapshot("pB", scope, "USD", {"commission": "300.00"}),
                             snapshot("pC", scope, "INR", {"commission": "40.00"})])
    post_manual(engine, actor_id="admin-1", rep_id="pB", scope=scope, period=PERIOD, component_id="draw",
                kind="draw", amount="100.00", currency="USD", reason="guaranteed draw",
                idempotency_key=f"{scope}-draw-pB")
    post_manual(engine, actor_id="admin-1", rep_id="pC", scope=scope, period=PERIOD, component_id="commission",
                kind="clawback", amount="-40.00", currency="INR", reason="deal cancelled",
                idempotency_key=f"{scope}-claw-pC")
    with pytest.raises(PayrollNotReady, match="is open, not approved"):
        approved_lines(engine, scope, PERIOD)
    approve(engine, scope)

    lines = approved_lines(engine, scope, PERIOD)  # pC nets to zero: no line
    def part(code, amount):
        return {"earning_code": code, "amount": amount, "entry_count": 1}

    assert [(line["rep_id"], line["hr_id"], line["currency"], line["amount"], line["entry_count"], line["earnings"])
            for line in lines] == [
        ("pA", "E-1001", "INR", Decimal("1250.50"), 2, [part("BONUS", "250.50"), part("COMM", "1000.00")]),
        ("pB", "2002", "USD", Decimal("400.00"), 2, [part("COMM", "300.00"), part("DRAW", "100.00")]),
    ]
    rows = list(csv.DictReader(io.StringIO(export_csv(lines))))
    assert [(r["payout_id"], r["amount"], r["hr_id"], r["earning_code"], r["earning_amount"]) for r in rows] == [
        (f"{scope}/{PERIOD}/pA/INR", "1250.50", "E-1001", "BONUS", "250.50"),
        (f"{scope}/{PERIOD}/pA/INR", "1250.50", "E-1001", "COMM", "1000.00"),
        (f"{scope}/{PERIOD}/pB/USD", "400.00", "2002", "COMM", "300.00"),
        (f"{scope}/{PERIOD}/pB/USD", "400.00", "2002", "DRAW", "100.00"),
    ]

    with engine.connect() as connection:  # the lines' outbox rows, then the control record's
        pending = connection.execute(select(outbox).where(outbox.c.published_at.is_(None),
                                                          outbox.c.message_key.like(f"{scope}/%"))
                                     .order_by(outbox.c.outbox_id)).all()
    assert [(row.topic, row.message_key) for row in pending] == [
        ("payouts", f"{scope}/{PERIOD}/pA/INR"), ("payouts", f"{scope}/{PERIOD}/pB/USD"),
        ("payouts.control", f"{scope}/{PERIOD}/control")]
    relay = OutboxRelay(engine, Producer(producer_config(KafkaSettings(bootstrap=kafka_bootstrap))))
    relay.publish(pending[:2])  # the lines went out, then the relay "died": they are published twice
    assert relay.publish_pending() >= 3

    controls = read_controls(kafka_bootstrap, f"{scope}/{PERIOD}/control")
    assert len(controls) == 1
    assert controls[0]["line_count"] == 2
    assert controls[0]["totals"] == [{"currency": "INR", "line_count": 1, "amount": "1250.50"},
                                     {"currency": "USD", "line_count": 1, "amount": "400.00"}]
    assert controls[0]["approved_by"] == "fin-1"

    expected = ["PAY E-1001 pA INR BONUS 250.50", "PAY E-1001 pA INR COMM 1000.00",
                "PAY 2002 pB USD COMM 300.00", "PAY 2002 pB USD DRAW 100.00",
                f"COMPLETE {scope}/{PERIOD} lines=2 duplicates=2 INR=1250.50 USD=400.00"]
    java = run_java(kafka_bootstrap, scope, PERIOD)
    assert (java.returncode, java.stdout.splitlines()) == (0, expected), java.stderr[-3000:]
    python = run_python(kafka_bootstrap, scope, PERIOD)
    assert (python.returncode, python.stdout.splitlines()) == (0, expected), python.stderr[-3000:]


def test_the_consumers_wait_for_the_control_record_and_say_a_period_is_incomplete(kafka_bootstrap):
    ensure_topics(KafkaSettings(bootstrap=kafka_bootstrap), [topics.PAYOUTS, topics.PAYOUTS_CONTROL])
    scope = f"none{uuid.uuid4().hex[:6]}"
    for runner in (run_java, run_python):
        result = runner(kafka_bootstrap, scope, PERIOD, timeout=2)
        assert (result.returncode, result.stdout.splitlines()) == (
            2, [f"INCOMPLETE {scope}/{PERIOD} lines=0 (no control record)"]), result.stderr[-3000:]


def test_the_consumers_refuse_a_period_whose_lines_do_not_add_up_to_the_control_record(kafka_bootstrap):
    """A control record that disagrees with the lines (a line lost or altered on the way): MISMATCH, exit 1."""
    ensure_topics(KafkaSettings(bootstrap=kafka_bootstrap), [topics.PAYOUTS, topics.PAYOUTS_CONTROL])
    scope = f"bad{uuid.uuid4().hex[:6]}"
    when = datetime(2026, 4, 1, tzinfo=UTC)
    line = {"payout_id": f"{scope}/{PERIOD}/r1/INR", "rep_id": "r1", "period": PERIOD, "currency": "INR",
            "amount": "100.00", "entry_count": 1, "approved_at": when, "approved_by": "fin-1", "hr_id": "E-1",
            "earnings": [{"earning_code": "COMM", "amount": "100.00", "entry_count": 1}]}
    control = {"control_id": f"{scope}/{PERIOD}/control", "scope": scope, "period": PERIOD, "line_count": 1,
               "totals": [{"currency": "INR", "line_count": 1, "amount": "120.00"}],
               "approved_at": when, "approved_by": "fin-1"}
    producer = Producer(producer_config(KafkaSettings(bootstrap=kafka_bootstrap)))
    producer.produce(topics.PAYOUTS, key=line["payout_id"].encode(), value=contract(topics.PAYOUTS).encode(line))
    producer.produce(topics.PAYOUTS_CONTROL, key=control["control_id"].encode(),
                     value=contract(topics.PAYOUTS_CONTROL).encode(control))
    assert producer.flush(30) == 0
    for runner in (run_java, run_python):
        result = runner(kafka_bootstrap, scope, PERIOD, timeout=30)
        assert result.returncode == 1, result.stdout + result.stderr[-3000:]
        assert result.stdout.startswith(f"MISMATCH {scope}/{PERIOD} ") and "120.00" in result.stdout
        assert "PAY " not in result.stdout  # nothing reported payable


def test_a_payroll_export_of_a_period_not_approved_is_refused_with_the_reason(engine, database_url, tmp_path):
    scope = f"exp{uuid.uuid4().hex[:6]}"
    out = tmp_path / "payroll.csv"
    assert run("ledger", "payroll", "--scope", scope, "--period", PERIOD, "--out", str(out),
               "--database-url", database_url) == 1
    assert not out.exists()
    apply_snapshots(engine, [snapshot("pX", scope, "INR", {"commission": "5.00"})])
    lock_period(engine, scope, PERIOD, "prep-1")
    with pytest.raises(PayrollNotReady, match=f"{scope}/{PERIOD} is locked, not approved"):
        approved_lines(engine, scope, PERIOD)
    assert run("ledger", "payroll", "--scope", scope, "--period", PERIOD, "--out", str(out),
               "--database-url", database_url) == 1
    assert not out.exists()
