"""The portal's read model on the real broker and PostgreSQL: its consumer projects ``crm.changes`` and
``earnings``, and replaying every message (a new consumer group from the beginning) changes nothing and
pushes no delta again; an older snapshot is ignored; an unreadable message is counted and passed over."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from prometheus_client import REGISTRY
from sqlalchemy import Engine, text

from attain.contracts.crm_changes import normalise
from attain.contracts.earnings import ComponentEarnings, EarningsSnapshot, SourceChange
from attain.planfiles import load_book
from attain.platform import topics
from attain.platform.avro import contract
from attain.platform.kafka import consumer_config, ensure_topics, producer_config
from attain.platform.settings import KafkaSettings
from services.portal.fanout import CHANNEL, Listener, notify_items
from services.portal.fanout import UNREADABLE as FANOUT_UNREADABLE
from services.portal.gauges import measure_lag
from services.portal.live import UNREADABLE, Hub, consume
from services.portal.readmodel import Delta, apply_snapshots, deltas_of, ensure_schema, make_engine, snapshots_of
from tests.polling import budget, wait_until

PLANS = Path(__file__).parents[1] / "e2e" / "portal_plans.yaml"


@pytest.fixture(scope="module")
def portal_engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    ensure_schema(engine)
    ensure_schema(engine)  # idempotent DDL: a second start changes nothing
    yield engine
    engine.dispose()


def snapshot(version: int, credited: str, ratio: str, earned: str, deal: str | None = None) -> EarningsSnapshot:
    component = ComponentEarnings("commission", credited, "1000000", ratio, earned, 1)
    changes = (SourceChange(f"{deal}-1", deal),) if deal else ()
    return EarningsSnapshot("ae-in-01", "2026-Q1", "portal-ae", 1, "INR", version, 1767225600000 + version,
                            (component,), earned, (f"e{version}",), None, "", changes)


def won(record_id: str, name: str, amount: str) -> bytes:
    record = normalise({"event_id": f"{record_id}-1", "record_id": record_id, "object_type": "Opportunity",
                        "change_type": "CREATE", "commit_timestamp": "2026-02-10T09:00:00Z",
                        "fields": {"owner_id": "ae-in-01", "name": name, "amount": amount, "is_won": True,
                                   "close_date": "2026-02-10", "currency": "INR"}}, "test", 0)
    return contract(topics.CRM_CHANGES).encode(record)


def run_consumer(kafka: KafkaSettings, engine: Engine, done: Callable[[], bool]) -> None:
    """The portal's consumer loop under a fresh group until ``done()``, then stopped."""
    stopping, assigned = threading.Event(), threading.Event()
    consumer = Consumer(consumer_config(kafka, f"portal-test-{uuid.uuid4()}", **{
        "enable.auto.commit": False, "auto.offset.reset": "earliest"}))
    thread = threading.Thread(target=consume, args=(consumer, engine, load_book([PLANS]), stopping,
                                                    assigned), daemon=True)
    thread.start()
    try:
        wait_until(done, budget(30), "the portal's consumer to project the messages")
    finally:
        stopping.set()
        thread.join(10)


def barrier(engine: Engine, hub: Hub, loop: asyncio.AbstractEventLoop) -> None:
    """Return once every delta committed before now reached ``hub`` (a listener hears them in commit order)."""
    marker = hub.subscribe("barrier")
    with engine.begin() as connection:
        notify_items(connection, [Delta("barrier", "p", 1, "INR", Decimal(0), Decimal(0), None, None, None, 0)])

    async def heard() -> None:
        await asyncio.wait_for(marker.get(), budget(10))

    loop.run_until_complete(heard())
    hub.unsubscribe("barrier", marker)


def test_projection_is_idempotent_under_a_full_replay(pipeline_kafka_bootstrap: str, portal_engine: Engine,
                                                      database_url: str) -> None:
    kafka = KafkaSettings(bootstrap=pipeline_kafka_bootstrap, partitions=1)
    ensure_topics(kafka, [topics.CRM_CHANGES, topics.EARNINGS])
    producer = Producer(producer_config(kafka))
    producer.produce(topics.CRM_CHANGES, won("006RM1", "Acme Corp", "600000"), key=b"006RM1")
    producer.produce(topics.CRM_CHANGES, won("006RM2", "Globex", "600000"), key=b"006RM2")
    first = snapshot(1, "600000", "0.6", "30000.00")
    second = snapshot(2, "1200000", "1.2", "66000.00", deal="006RM2")
    for item in (first, second, first):  # the older one again after the newer: ignored
        producer.produce(topics.EARNINGS, contract(topics.EARNINGS).encode(item.to_avro()), key=b"ae-in-01")
    producer.produce(topics.EARNINGS, b"not avro", key=b"ae-in-01")
    producer.flush(10)

    loop = asyncio.new_event_loop()
    hub = Hub(10)
    live = hub.subscribe("ae-in-01")
    listener = Listener(database_url, loop, hub.publish_all).start()  # the deltas come through PostgreSQL
    wait_until(listener.listening.is_set, budget(10), "the delta listener")
    unreadable_before = UNREADABLE.labels(topics.EARNINGS)._value.get()

    def projected() -> bool:  # both: the consumer may take the earnings partition before crm.changes
        return ([s.snapshot_version for s in snapshots_of(portal_engine, "ae-in-01")] == [2]
                and _counts(portal_engine)["changes"] == 2)

    run_consumer(kafka, portal_engine, projected)
    barrier(portal_engine, hub, loop)
    deltas = deltas_of(portal_engine, "ae-in-01", "2026-Q1")
    assert [(d.snapshot_version, str(d.amount), d.deal, d.tier_from, d.tier_to) for d in deltas] == [
        (2, "36000.00", "Globex", 1, 2), (1, "30000.00", None, None, 1)]
    assert live.qsize() == 2
    for topic in (topics.CRM_CHANGES, topics.EARNINGS):  # measured after the batch: caught up
        assert REGISTRY.get_sample_value("attain_portal_consumer_lag", {"topic": topic}) == 0, topic
    wait_until(lambda: UNREADABLE.labels(topics.EARNINGS)._value.get() == unreadable_before + 1, budget(5),
               "the unreadable message to be counted")
    counts = _counts(portal_engine)

    run_consumer(kafka, portal_engine, lambda: UNREADABLE.labels(topics.EARNINGS)._value.get()
                 == unreadable_before + 2)  # a new group: every message again, the last one included
    barrier(portal_engine, hub, loop)
    assert _counts(portal_engine) == counts == {"changes": 2, "opportunities": 2, "snapshots": 1, "deltas": 2}
    assert live.qsize() == 2  # nothing pushed twice
    with portal_engine.begin() as connection:
        assert apply_snapshots(connection, [first], load_book([PLANS])) == []
    listener.stop()
    loop.close()


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {table: int(connection.execute(text(f"SELECT count(*) FROM portal.{table}")).scalar() or 0)
                for table in ("changes", "opportunities", "snapshots", "deltas")}


def test_every_replica_hears_each_committed_delta_and_none_rolled_back(portal_engine: Engine, database_url: str):
    """Two portal replicas (two listeners, two hubs): a delta one consumer committed reaches both; one whose
    transaction rolled back reaches neither."""
    loop = asyncio.new_event_loop()
    hubs = [Hub(10), Hub(10)]
    streams = [hub.subscribe("ae-fanout") for hub in hubs]
    listeners = [Listener(database_url, loop, hub.publish_all).start() for hub in hubs]
    try:
        wait_until(lambda: all(listener.listening.is_set() for listener in listeners), budget(10), "the listeners")
        sent = Delta("ae-fanout", "2026-Q1", 7, "INR", Decimal("36000.00"), Decimal("66000.00"), "Globex", 1, 2,
                     1767225600007)
        with pytest.raises(RuntimeError), portal_engine.begin() as connection:
            notify_items(connection, [Delta("ae-fanout", "2026-Q1", 6, "INR", Decimal(1), Decimal(1), None, None,
                                             None, 0)])
            raise RuntimeError("the batch failed: rolled back")
        with portal_engine.begin() as connection:
            notify_items(connection, [sent])
        for hub in hubs:
            barrier(portal_engine, hub, loop)
        assert [stream.get_nowait() for stream in streams] == [sent, sent]
        assert [stream.qsize() for stream in streams] == [0, 0]  # the rolled-back one never came
    finally:
        for listener in listeners:
            listener.stop()
        loop.close()


def test_a_notification_the_listener_cannot_read_is_passed_over_and_the_next_still_arrives(
        portal_engine: Engine, database_url: str) -> None:
    """A stray or newer-format payload on the channel (anyone on the database may NOTIFY) is counted and passed
    over: the thread that feeds every live stream of the replica keeps listening."""
    loop = asyncio.new_event_loop()
    hub = Hub(10)
    stream = hub.subscribe("ae-stray")
    listener = Listener(database_url, loop, hub.publish_all).start()
    unreadable_before = FANOUT_UNREADABLE._value.get()
    try:
        wait_until(listener.listening.is_set, budget(10), "the listener")
        with portal_engine.begin() as connection:
            for stray in ("not json", '{"type": "delta", "rep_id": "ae-stray"}', '{"type": "badge"}', "[1, 2]",
                          '{"type": "delta", "rep_id": "ae-stray", "period": "q", "snapshot_version": 1, '
                          '"currency": "INR", "amount": "lots", "total": "1", "deal": null, "tier_from": null, '
                          '"tier_to": null, "computed_at": 0}'):
                connection.execute(text("SELECT pg_notify(:c, :p)"), {"c": CHANNEL, "p": stray})
        sent = Delta("ae-stray", "2026-Q1", 1, "INR", Decimal("1.00"), Decimal("1.00"), None, None, None, 1)
        with portal_engine.begin() as connection:
            notify_items(connection, [sent])
        barrier(portal_engine, hub, loop)
        assert stream.get_nowait() == sent
        assert listener.is_alive()
        assert FANOUT_UNREADABLE._value.get() == unreadable_before + 5
    finally:
        listener.stop()
        loop.close()


def test_the_lag_gauge_counts_the_messages_not_yet_projected(kafka_bootstrap: str) -> None:
    kafka = KafkaSettings(bootstrap=kafka_bootstrap, partitions=1)
    topic = f"portal-lag-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka, [topic])
    producer = Producer(producer_config(kafka))
    for n in range(5):
        producer.produce(topic, f"m{n}".encode(), key=b"k")
    producer.flush(10)
    consumer = Consumer(consumer_config(kafka, f"portal-lag-{uuid.uuid4()}", **{
        "enable.auto.commit": False, "auto.offset.reset": "earliest"}))
    consumer.subscribe([topic])

    def read_up_to(offset: int) -> bool:
        """Consume (at most up to ``offset``); whether the position reached it."""
        held = consumer.assignment()
        position = consumer.position(held)[0].offset if held else -1
        if position < offset:
            consumer.consume(offset - max(position, 0), 0.5)
        return bool(held) and consumer.position(held)[0].offset == offset

    try:
        wait_until(lambda: read_up_to(2), budget(30), "two messages")
        measure_lag(consumer, [topic])  # two of five projected
        assert REGISTRY.get_sample_value("attain_portal_consumer_lag", {"topic": topic}) == 3
        wait_until(lambda: read_up_to(5), budget(30), "the rest")
        measure_lag(consumer, [topic])
        assert REGISTRY.get_sample_value("attain_portal_consumer_lag", {"topic": topic}) == 0
    finally:
        consumer.close()
