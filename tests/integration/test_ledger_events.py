"""ledger.events on a real PostgreSQL and broker: each fact (a statement issued, an issued statement changed,
a period paid, a dispute answered) is written once through the outbox in its own transaction, published again
by a relay that died before marking it (same event_id), and the notifier records one milestone per key under
that redelivery, a replay from offset 0 and a restart."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

from confluent_kafka import Producer
from sqlalchemy import func, select

from attain.contracts.earnings import ComponentEarnings, EarningsSnapshot, SourceChange
from attain.contracts.ledger_events import LedgerEvent
from attain.contracts.notifications import DELIVERED
from attain.ledger.approvals import Actor
from attain.ledger.entries import Entry
from attain.notify.preferences import Preferences
from attain.platform import topics
from attain.platform.avro import contract
from attain.platform.kafka import ensure_topics, producer_config
from attain.platform.reading import read_until_idle
from attain.platform.settings import KafkaSettings
from services.ledger.db import apply_snapshots
from services.ledger.disputes import raise_dispute, resolve_dispute
from services.ledger.ledger_events import statements_changed
from services.ledger.payouts import OutboxRelay
from services.ledger.period_service import decide, lock_period, mark_paid
from services.ledger.schema import entries, ledger_events, outbox
from services.notifier.channels import Channels, ChannelSettings
from tests.integration.test_notifications import Notifier, Receivers, until

APPROVERS = (Actor("mgr-1", frozenset({"manager"})), Actor("admin-1", frozenset({"comp_admin"})),
             Actor("fin-1", frozenset({"finance"})))


def snapshot(rep: str, plan: str, version: int, earned: str, deal: str, period: str = "2026-Q1") -> EarningsSnapshot:
    return EarningsSnapshot(rep, period, plan, 1, "EUR", version, 0,
                            (ComponentEarnings("commission", earned, None, None, earned, 1),), earned,
                            (f"{deal}-e{version}",), None, "", (SourceChange(f"{deal}-e{version}", deal),))


def a_quarter_of_facts(engine, plan: str, rep: str) -> dict[str, str]:
    """Lock (twice: rejected, locked again), a late CRM change, approve, pay, a dispute answered: the facts'
    kinds by event id, as the ledger should publish them."""
    apply_snapshots(engine, [snapshot(rep, plan, 1, "100.00", "006A")])
    lock_period(engine, plan, "2026-Q1", "prep-1")
    decide(engine, plan, "2026-Q1", APPROVERS[0], False, "check the deal first")  # back to open
    lock_period(engine, plan, "2026-Q1", "prep-1")  # issued again: the same fact
    apply_snapshots(engine, [snapshot(rep, plan, 2, "130.00", "006B")])  # the CRM changed an issued statement
    apply_snapshots(engine, [snapshot(rep, plan, 2, "130.00", "006B")])  # redelivered: nothing new
    for actor in APPROVERS:
        decide(engine, plan, "2026-Q1", actor, True, "ok")
    mark_paid(engine, plan, "2026-Q1", "fin-1")
    with engine.connect() as connection:
        entry_id = connection.execute(select(func.min(entries.c.entry_id)).where(entries.c.rep_id == rep)).scalar()
    dispute = raise_dispute(engine, entry_id, rep, "deal 006A was bigger")
    resolve_dispute(engine, dispute, "admin-1", "agreed", adjustment=Decimal("5.00"), scope=plan, period="2026-Q2")
    return {f"statement_ready|{plan}|2026-Q1|{rep}": "statement_ready",
            f"statement_changed|{rep}|2026-Q1|{plan}|EUR|v2": "statement_changed",
            f"paid|{plan}/2026-Q1/{rep}/EUR": "paid",
            f"dispute_answered|{dispute}|1": "dispute_answered"}


def published(kafka: KafkaSettings, rep: str) -> list[LedgerEvent]:
    codec = contract(topics.LEDGER_EVENTS)
    return [LedgerEvent.from_avro(codec.decode(m.value()))
            for m in read_until_idle(kafka, topics.LEDGER_EVENTS, idle_seconds=0.5) if m.key() == rep.encode()]


def test_each_ledger_fact_is_written_once_and_published_with_the_same_id_after_a_relay_restart(
        engine, kafka_bootstrap):
    kafka = KafkaSettings(bootstrap=kafka_bootstrap)
    ensure_topics(kafka, [topics.LEDGER_EVENTS, topics.PAYOUTS, topics.PAYOUTS_CONTROL])
    plan, rep = f"lev-{uuid.uuid4().hex[:6]}", f"le-{uuid.uuid4().hex[:6]}"
    relay = OutboxRelay(engine, Producer(producer_config(kafka)))
    expected = a_quarter_of_facts(engine, plan, rep)

    with engine.connect() as connection:
        written = dict(connection.execute(select(ledger_events.c.event_id, ledger_events.c.kind)
                                          .where(ledger_events.c.rep_id == rep)).all())
        rows = connection.execute(select(outbox).where(outbox.c.topic == topics.LEDGER_EVENTS,
                                                       outbox.c.message_key == rep, outbox.c.published_at.is_(None))
                                  .order_by(outbox.c.outbox_id)).all()
    assert written == expected
    assert len(rows) == 4  # one outbox row per fact, though the period was locked twice and v2 booked twice
    relay.publish(rows)  # published, then the ledger "died" before marking them sent
    relay.publish_pending()  # the restarted relay publishes them again
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(outbox).where(
            outbox.c.message_key == rep, outbox.c.published_at.is_(None))).scalar() == 0

    events = published(kafka, rep)
    assert sorted(e.event_id for e in events) == sorted([*expected, *expected])  # twice on the wire, same ids
    by_kind = {e.fact.kind: e for e in events}
    assert by_kind["statement_changed"].fact.amount == Decimal("30.00")
    assert by_kind["statement_changed"].fact.details["deals"] == "006B"
    assert by_kind["statement_changed"].fact.details["cause"] == "crm"
    assert (by_kind["paid"].fact.currency, by_kind["paid"].fact.amount, by_kind["paid"].fact.actor_id) == (
        "EUR", Decimal("100.00"), "fin-1")
    assert by_kind["dispute_answered"].fact.details["status"] == "adjusted"
    assert by_kind["dispute_answered"].fact.amount == Decimal("5.00")


def test_one_snapshot_correcting_a_period_in_two_scopes_is_a_fact_for_each_scope(engine):
    """The facts are grouped by scope; when their id did not name it, ``publish`` (one fact per id) kept one of
    the two silently, before the notifier saw either."""
    rep = f"ls-{uuid.uuid4().hex[:6]}"
    booked = [Entry(kind="adjustment", rep_id=rep, period="2026-Q2", component_id="commission", amount=Decimal(amount),
                    currency="EUR", idempotency_key=f"{rep}-{scope}", plan_id="ae", scope=scope, snapshot_version=3,
                    corrects_period="2026-Q1") for scope, amount in (("in", "10.00"), ("sg/ae", "-4.00"))]
    with engine.begin() as connection:
        assert statements_changed(connection, booked, []) == 2
        facts = connection.execute(select(ledger_events.c.event_id, ledger_events.c.scope)
                                   .where(ledger_events.c.rep_id == rep).order_by(ledger_events.c.event_id)).all()
    assert [tuple(fact) for fact in facts] == [(f"statement_changed|{rep}|2026-Q1|in|EUR|v3", "in"),
                                               (f"statement_changed|{rep}|2026-Q1|sg/ae|EUR|v3", "sg/ae")]


def test_the_notifier_records_each_ledger_milestone_once_under_redelivery_replay_and_restart(
        engine, pipeline_kafka_bootstrap):
    kafka = KafkaSettings(bootstrap=pipeline_kafka_bootstrap, partitions=1)
    kept = [topics.NOTIFICATIONS, topics.NOTIFICATION_PREFERENCES]
    ensure_topics(kafka, [topics.EARNINGS, topics.PAYOUTS, topics.PAYOUTS_CONTROL, topics.LEDGER_EVENTS,
                          topics.NOTIFICATIONS_DLQ, *kept], kept)
    plan, rep = f"lnv-{uuid.uuid4().hex[:6]}", f"ln-{uuid.uuid4().hex[:6]}"
    dispute = next(k for k in a_quarter_of_facts(engine, plan, rep) if k.startswith("dispute")).split("|")[1]
    relay = OutboxRelay(engine, Producer(producer_config(kafka)))
    with engine.connect() as connection:
        rows = connection.execute(select(outbox).where(outbox.c.message_key == rep, outbox.c.published_at.is_(None))
                                  .order_by(outbox.c.outbox_id)).all()
    relay.publish(rows)
    relay.publish_pending()  # every fact twice on the wire
    expected = {
        f"{rep}|2026-Q1|statement_ready|{plan}": "Your statement for 2026-Q1 is ready.",
        f"{rep}|2026-Q1|statement_changed|{plan}|EUR|v2":
            "Your issued statement for 2026-Q1 changed by +€30.00: a CRM change (deals 006B).",
        f"{rep}|2026-Q1|approved|{plan}|EUR": "Your payout of €100.00 for 2026-Q1 was approved.",  # from payouts
        f"{rep}|2026-Q1|paid|{plan}|EUR": "Your payout of €100.00 for 2026-Q1 was paid.",
        f"{rep}|2026-Q1|dispute_answered|{dispute}|1":
            f"Your dispute #{dispute} on 2026-Q1 was answered with an adjustment of +€5.00.",
        f"{rep}|2026-Q2|statement_ready|{plan}": "Your statement for 2026-Q2 is ready.",
    }
    receivers = Receivers()

    def delivered(store) -> list[str]:
        return sorted(k for k, r in list(store.records.items()) if r.rep_id == rep and r.status == DELIVERED)

    async def scenario() -> None:
        async with receivers.serving():
            channels = Channels(ChannelSettings())
            first = Notifier(kafka, channels, f"milestones-{uuid.uuid4().hex[:6]}")
            first.store.put_preferences(Preferences(rep, ("slack",), slack_webhook=f"{receivers.origin}/slack"), rep)
            first.start(asyncio.get_running_loop())
            await until(lambda: len(delivered(first.store)) == 5, "the five milestones delivered")
            await first.stop()
            # a restart reading every fact again from offset 0 (a new group), then the next period issued: once
            # its milestone is recorded, the replay before it (one partition) went through the detector
            second = Notifier(kafka, channels, f"milestones-{uuid.uuid4().hex[:6]}")
            second.start(asyncio.get_running_loop())
            apply_snapshots(engine, [snapshot(rep, plan, 1, "10.00", "006C", "2026-Q2")])
            lock_period(engine, plan, "2026-Q2", "prep-1")
            relay.publish_pending()
            await until(lambda: len(delivered(second.store)) == 6, "the next period's statement delivered")
            await second.stop()
            await channels.close()

    asyncio.run(scenario())
    assert sorted((item["key"], item["text"]) for item in receivers.slack) == sorted(expected.items())
