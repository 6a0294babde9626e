"""Periods, approvals, payouts through the outbox and the audit chain, on a real PostgreSQL and broker."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

import pytest
from confluent_kafka import Consumer, Producer
from sqlalchemy import select, text

from attain.ledger.approvals import Actor, ApprovalError
from attain.ledger.periods import PeriodError, PeriodState
from attain.platform import topics
from attain.platform.avro import contract
from attain.platform.kafka import ensure_topics, producer_config
from attain.platform.settings import KafkaSettings
from services.ledger.audit import verify_audit
from services.ledger.db import apply_snapshots, ledger_totals
from services.ledger.payouts import OutboxRelay, export_csv, export_xlsx, lines_of
from services.ledger.period_service import decide, lock_period, mark_paid, period_view
from services.ledger.postings import PostingError, post_manual
from services.ledger.schema import entries, outbox
from tests.polling import deadline_in

MANAGER = Actor("mgr-1", frozenset({"manager"}))
ADMIN = Actor("admin-1", frozenset({"comp_admin"}))
FINANCE = Actor("fin-1", frozenset({"finance"}))




def snapshot(rep, version, earned, period="2026-Q1", plan="ae"):
    return {
        "rep_id": rep, "period": period, "plan_id": plan, "plan_version": 1, "currency": "INR",
        "snapshot_version": version, "total_earned": earned, "trigger_event_ids": [f"e{version}"],
        "components": [{"component_id": "commission", "earned_amount": earned}],
    }


def entries_of(engine, rep):
    with engine.connect() as connection:
        return connection.execute(
            select(entries.c.period, entries.c.kind, entries.c.amount, entries.c.corrects_period)
            .where(entries.c.rep_id == rep).order_by(entries.c.entry_id)).all()


def approve_all(engine, scope, period):
    for actor in (MANAGER, ADMIN, FINANCE):
        view = decide(engine, scope, period, actor, True, f"ok by {actor.user_id}")
    return view


def test_a_late_snapshot_for_a_locked_period_becomes_a_prior_period_adjustment(engine):
    apply_snapshots(engine, [snapshot("P1", 1, "100.00", plan="late")])
    assert lock_period(engine, "late", "2026-Q1", "prep-1") == PeriodState.LOCKED
    apply_snapshots(engine, [snapshot("P1", 2, "130.00", plan="late")])
    apply_snapshots(engine, [snapshot("P1", 2, "130.00", plan="late")])  # replay adds nothing
    assert entries_of(engine, "P1") == [
        ("2026-Q1", "earned", Decimal("100.00"), None),
        ("2026-Q2", "adjustment", Decimal("30.00"), "2026-Q1"),
    ]
    assert ledger_totals(engine)[("P1", "2026-Q1")] == Decimal("130.00")
    assert period_view(engine, "late", "2026-Q2").state == PeriodState.OPEN


def test_a_manual_entry_stays_when_the_next_snapshot_arrives(engine):
    apply_snapshots(engine, [snapshot("P5", 1, "100.00", plan="manual")])
    post_manual(engine, actor_id="admin-1", rep_id="P5", scope="manual", period="2026-Q1",
                component_id="commission", kind="manual", amount="15.00", currency="INR",
                reason="deal 7 credited by hand", idempotency_key="manual-P5-1")
    with pytest.raises(PostingError, match="more decimals"):
        post_manual(engine, actor_id="admin-1", rep_id="P5", scope="manual", period="2026-Q1",
                    component_id="commission", kind="manual", amount="0.001", currency="INR",
                    reason="too precise", idempotency_key="manual-P5-2")
    apply_snapshots(engine, [snapshot("P5", 2, "120.00", plan="manual")])
    assert [(kind, amount) for _, kind, amount, _ in entries_of(engine, "P5")] == [
        ("earned", Decimal("100.00")), ("manual", Decimal("15.00")), ("earned", Decimal("20.00"))]
    assert ledger_totals(engine)[("P5", "2026-Q1")] == Decimal("120.00")


def test_the_approval_chain_enforces_order_and_separation_of_duties(engine):
    apply_snapshots(engine, [snapshot("P2", 1, "50.00", plan="sod"), snapshot("mgr-2", 1, "10.00", plan="sod")])
    with pytest.raises(PeriodError, match="open"):
        decide(engine, "sod", "2026-Q1", MANAGER, True, "")
    lock_period(engine, "sod", "2026-Q1", "prep-1")
    with pytest.raises(ApprovalError, match="next step is manager"):
        decide(engine, "sod", "2026-Q1", FINANCE, True, "")
    with pytest.raises(ApprovalError, match="paid by this payout"):
        decide(engine, "sod", "2026-Q1", Actor("mgr-2", frozenset({"manager"})), True, "")
    with pytest.raises(ApprovalError, match="prepared"):
        decide(engine, "sod", "2026-Q1", Actor("prep-1", frozenset({"manager"})), True, "")
    decide(engine, "sod", "2026-Q1", MANAGER, True, "numbers match the CRM")
    view = decide(engine, "sod", "2026-Q1", ADMIN, False, "P2 quota is wrong")
    assert view.state == PeriodState.OPEN
    lock_period(engine, "sod", "2026-Q1", "prep-1")
    assert approve_all(engine, "sod", "2026-Q1").state == PeriodState.APPROVED
    assert [(line["rep_id"], line["amount"]) for line in lines_of(engine, "sod", "2026-Q1")] == [
        ("P2", Decimal("50.00")), ("mgr-2", Decimal("10.00"))]


def read_payouts(bootstrap, expected, prefix, timeout=60):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"payroll-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topics.PAYOUTS])
    messages = []
    deadline = deadline_in(timeout)
    while time.monotonic() < deadline and len(messages) < expected:
        message = consumer.poll(0.5)
        if message is not None and not message.error() and message.key().decode().startswith(prefix):
            messages.append((message.key().decode(), contract(topics.PAYOUTS).decode(message.value())))
    consumer.close()
    return messages


def test_payouts_reach_payroll_once_in_effect_even_if_the_relay_dies_before_marking(engine, kafka_bootstrap):
    ensure_topics(KafkaSettings(bootstrap=kafka_bootstrap), [topics.PAYOUTS, topics.PAYOUTS_CONTROL,
                                                             topics.LEDGER_EVENTS])
    producer = Producer(producer_config(KafkaSettings(bootstrap=kafka_bootstrap)))
    relay = OutboxRelay(engine, producer)
    relay.publish_pending()  # what other tests left pending: the counts below are this test's alone
    apply_snapshots(engine, [snapshot("P3", 1, "700.00", plan="pay"), snapshot("P4", 1, "-20.00", plan="pay")])
    lock_period(engine, "pay", "2026-Q1", "prep-1")
    approve_all(engine, "pay", "2026-Q1")
    # The service "died" right after the approving commit: nothing published yet, the outbox holds it.
    with engine.connect() as connection:
        pending = connection.execute(select(outbox).where(outbox.c.published_at.is_(None),
                                                          outbox.c.message_key.like("pay/%"))
                                     .order_by(outbox.c.outbox_id)).all()
    assert [row.topic for row in pending] == ["payouts", "payouts", "payouts.control"]  # the lines, then control
    relay.publish(pending)  # published, then "died" before marking them sent
    # the restarted relay publishes them again, and the two statement-ready facts of the lock (ledger.events)
    assert relay.publish_pending() == 5
    assert relay.publish_pending() == 0
    received = [(key, value) for key, value in read_payouts(kafka_bootstrap, 4, "pay/")]
    assert len(received) == 4
    by_id = {key: value for key, value in received}
    assert sorted(by_id) == ["pay/2026-Q1/P3/INR", "pay/2026-Q1/P4/INR"]
    assert by_id["pay/2026-Q1/P3/INR"]["amount"] == "700.00"
    assert by_id["pay/2026-Q1/P4/INR"]["payout_id"] == "pay/2026-Q1/P4/INR"
    csv_text = export_csv(lines_of(engine, "pay", "2026-Q1"))
    assert "pay/2026-Q1/P3/INR,P3,2026-Q1,INR,700.00,1," in csv_text
    assert export_xlsx(lines_of(engine, "pay", "2026-Q1"))[:2] == b"PK"
    assert mark_paid(engine, "pay", "2026-Q1", "fin-1") == PeriodState.PAID
    assert entries_of(engine, "P3")[-1][1:3] == ("payment", Decimal("-700.00"))


def test_the_audit_chain_records_every_transition_and_detects_an_edited_row(engine, database_url):
    # its own period through every transition (not another test's), so it holds run alone or in any order
    apply_snapshots(engine, [snapshot("A1", 1, "40.00", plan="audit")])
    post_manual(engine, actor_id="admin-1", rep_id="A1", scope="audit", period="2026-Q1",
                component_id="commission", kind="manual", amount="5.00", currency="INR",
                reason="audit test", idempotency_key=f"manual-A1-{uuid.uuid4().hex[:8]}")
    lock_period(engine, "audit", "2026-Q1", "prep-1")
    decide(engine, "audit", "2026-Q1", MANAGER, True, "fine")
    assert decide(engine, "audit", "2026-Q1", ADMIN, False, "not yet").state == PeriodState.OPEN  # reopen
    lock_period(engine, "audit", "2026-Q1", "prep-1")
    assert approve_all(engine, "audit", "2026-Q1").state == PeriodState.APPROVED
    assert mark_paid(engine, "audit", "2026-Q1", "fin-1") == PeriodState.PAID
    checked, breaks = verify_audit(engine)
    assert checked >= 10 and breaks == []
    with engine.connect() as connection:
        actions = set(connection.execute(text("SELECT action FROM audit_log")).scalars())
    assert actions >= {"plan.version_applied", "period.lock", "period.reopen", "period.approve", "period.pay",
                       "approval.approve", "approval.reject", "payouts.prepared", "entry.manual"}
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_or_delete"))
        connection.execute(text("UPDATE audit_log SET details = jsonb_set(details, '{comment}', '\"changed\"') "
                                "WHERE action = 'approval.approve' AND sequence = "
                                "(SELECT min(sequence) FROM audit_log WHERE action = 'approval.approve')"))
        connection.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_or_delete"))
        edited = connection.execute(text("SELECT min(sequence) FROM audit_log WHERE action = 'approval.approve'"))
        edited_sequence = edited.scalar_one()
    _, breaks = verify_audit(engine)
    assert [b.sequence for b in breaks] == [edited_sequence]
    assert "edited" in breaks[0].reason


def test_periods_can_be_kept_per_region_instead_of_per_plan(engine):
    from sqlalchemy.dialects.postgresql import insert

    from services.ledger.schema import participants

    with engine.begin() as connection:
        connection.execute(insert(participants), [{"rep_id": "RS1", "region": "rg-south", "manager_id": None},
                                                  {"rep_id": "RN1", "region": "rg-north", "manager_id": None}])

    def both(version, amount):
        return [snapshot("RS1", version, amount, plan="shared"), snapshot("RN1", version, amount, plan="shared")]

    apply_snapshots(engine, both(1, "10.00"), scope_by="region")
    lock_period(engine, "rg-south", "2026-Q1", "prep-1")  # only the south closes its books
    apply_snapshots(engine, both(2, "12.00"), scope_by="region")
    assert entries_of(engine, "RS1")[-1] == ("2026-Q2", "adjustment", Decimal("2.00"), "2026-Q1")
    assert entries_of(engine, "RN1")[-1] == ("2026-Q1", "earned", Decimal("2.00"), None)
    approve_all(engine, "rg-south", "2026-Q1")
    assert [(line["rep_id"], line["amount"]) for line in lines_of(engine, "rg-south", "2026-Q1")] == [
        ("RS1", Decimal("10.00"))]
