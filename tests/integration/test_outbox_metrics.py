"""The payout outbox's metrics on a real PostgreSQL and broker: the backlog and its oldest row's age while
lines wait, the lines published per pay period once the relay ran, and the backlog back at zero."""

from __future__ import annotations

from datetime import timedelta

from confluent_kafka import Producer
from prometheus_client import REGISTRY
from sqlalchemy import update

from attain.platform import topics
from attain.platform.kafka import ensure_topics, producer_config
from attain.platform.settings import KafkaSettings
from services.ledger.db import apply_snapshots
from services.ledger.payouts import OutboxRelay
from services.ledger.period_service import lock_period
from services.ledger.schema import outbox
from tests.integration.test_ledger_periods import approve_all, snapshot


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_outbox_backlog_age_and_payout_lines_per_period(engine, kafka_bootstrap):
    ensure_topics(KafkaSettings(bootstrap=kafka_bootstrap),
                  [topics.PAYOUTS, topics.PAYOUTS_CONTROL, topics.LEDGER_EVENTS])
    relay = OutboxRelay(engine, Producer(producer_config(KafkaSettings(bootstrap=kafka_bootstrap))))
    relay.publish_pending()  # what other tests left pending
    relay.measure_backlog()
    assert value("attain_ledger_outbox_backlog") == 0
    assert value("attain_ledger_outbox_oldest_age_seconds") == 0

    apply_snapshots(engine, [snapshot("OM1", 1, "300.00", period="2026-Q3", plan="obm"),
                             snapshot("OM2", 1, "40.00", period="2026-Q3", plan="obm")])
    lock_period(engine, "obm", "2026-Q3", "prep-1")
    approve_all(engine, "obm", "2026-Q3")
    with engine.begin() as connection:  # the rows were written a minute ago and are still waiting
        connection.execute(update(outbox).where(outbox.c.published_at.is_(None))
                           .values(created_at=outbox.c.created_at - timedelta(minutes=1)))
    relay.measure_backlog()
    # two statement-ready facts (ledger.events, at the lock), two lines and the control record
    assert value("attain_ledger_outbox_backlog") == 5
    assert 60 <= value("attain_ledger_outbox_oldest_age_seconds") < 120

    lines = value("attain_ledger_payout_lines_published_total", period="2026-Q3")
    controls = value("attain_ledger_outbox_published_total", topic=topics.PAYOUTS_CONTROL)
    assert relay.publish_pending() == 5
    relay.measure_backlog()
    assert value("attain_ledger_payout_lines_published_total", period="2026-Q3") == lines + 2
    assert value("attain_ledger_outbox_published_total", topic=topics.PAYOUTS_CONTROL) == controls + 1
    assert value("attain_ledger_outbox_backlog") == 0
    assert value("attain_ledger_outbox_oldest_age_seconds") == 0
