"""The portal's live feed at the socket level, on the real broker, PostgreSQL and ledger API.

The portal's pages and consumer are served in-process (its routes, the consume thread, a session opened from a
token of the session's real issuer: the browser's sign-in round trip is the e2e test's); the ledger's API admits
and logs each stream as in production.

- A client that stops reading (its TCP receive window fills) is cut off, connection and all, once its queue is
  full, while another stream of the same rep receives every delta and the consumer keeps committing.
- A milestone recorded by the notifier on ``notifications`` reaches the rep's stream once, in the reader's
  language (a kind the catalogues do not know with the recorded sentence), not again for its ``delivered``
  rewrite nor after a full replay by a new group; the rep home lists it.
- The consumer holds one database connection; ended by the server (PostgreSQL restarted, the backend
  terminated), the next batch is projected on a new one and still reaches the stream.
- A stream ends within a keep-alive once its session is gone (deleted, as signing out on another replica does,
  or expired), while another stream of the same rep stays open.
- The event loop never waits for the database: with every connection of the pool taken, a page's session
  lookup and a sign-in wait in threads while the loop goes on.
- Sign-ins are limited per client address (here behind one trusted proxy, by ``X-Forwarded-For``): 429.
"""

from __future__ import annotations

import asyncio
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import pytest
from aiohttp import web
from confluent_kafka import Consumer, Producer, TopicPartition
from sqlalchemy import Engine, text
from sqlalchemy.dialects.postgresql import insert

from attain.contracts.earnings import ComponentEarnings, EarningsSnapshot, SourceChange
from attain.contracts.notifications import DELIVERED, NotificationRecord, standing_key
from attain.core.milestones import approved
from attain.embedded.ports import free_port
from attain.notify.messages import sentence
from attain.platform import topics
from attain.platform.avro import contract
from attain.platform.identity import TokenVerifier
from attain.platform.kafka import consumer_config, ensure_topics, producer_config
from attain.platform.settings import KafkaSettings
from services.ledger.auth import LedgerGuard
from services.ledger.config import LedgerSettings
from services.ledger.schema import participants
from services.portal.auth import SESSION_COOKIE, OidcClient, Sessions, open_session
from services.portal.fanout import Listener
from services.portal.ledger_client import Ledger
from services.portal.live import DROPPED, RECONNECTED, Hub, consume
from services.portal.milestones import ensure_schema as ensure_milestones_schema
from services.portal.readmodel import APPLICATION_NAME, ensure_schema, make_engine
from services.portal.sessions import digest, ensure_tables
from services.portal.throttle import PerAddress
from services.portal.web import Portal, add_routes
from tests.integration.ledger_api_support import serving_api
from tests.polling import budget, wait_until

QUEUE_SIZE = 5
ROUND = 4  # deltas a round: fewer than a queue holds, so a stream that reads is never behind
SLOW_REP, MILESTONE_REP, ENDING_REP, RECONNECT_REP = "live-slow-01", "live-ms-01", "live-end-01", "live-db-01"
KEEPALIVE = 1.0  # seconds: a stream's keep-alive, and how often it re-checks its session
LOGINS = 3  # sign-ins a minute per address
T = TypeVar("T")


@dataclass
class Served:
    url: str
    kafka: KafkaSettings
    engine: Engine
    hub: Hub
    loop: asyncio.AbstractEventLoop
    sessions: Sessions
    verifier: TokenVerifier
    group: str

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(30)

    def count(self, rep: str) -> int:
        async def count() -> int:
            return self.hub.count(rep)
        return self.run(count())

    def cookie(self, token: str, lifetime: int = 3600) -> str:
        sid, _ = self.run(open_session(self.sessions, self.verifier, token, lifetime))
        return sid


def start_consumer(served: Served, group: str) -> Callable[[], None]:
    """The portal's consume loop under ``group`` in a thread; returns its stop."""
    stopping, assigned = threading.Event(), threading.Event()
    consumer = Consumer(consumer_config(served.kafka, group, **{
        "enable.auto.commit": False, "auto.offset.reset": "earliest"}))
    thread = threading.Thread(target=consume, args=(consumer, served.engine, None, stopping, assigned), daemon=True)
    thread.start()
    assert assigned.wait(budget(30)), "the portal's consumer got no partitions"

    def stop() -> None:
        stopping.set()
        thread.join(10)
    return stop


@pytest.fixture(scope="module")
def served(pipeline_kafka_bootstrap: str, database_url: str, engine: Engine, minter: Any) -> Iterator[Served]:
    kafka = KafkaSettings(bootstrap=pipeline_kafka_bootstrap, partitions=1, fetch_max_wait_ms=20)
    ensure_topics(kafka, [topics.CRM_CHANGES, topics.EARNINGS])
    ensure_topics(kafka, [topics.NOTIFICATIONS], compacted=[topics.NOTIFICATIONS])
    portal_engine = make_engine(database_url)
    ensure_schema(portal_engine)
    ensure_milestones_schema(portal_engine)
    ensure_tables(portal_engine)
    with engine.begin() as connection:  # the ledger admits a rep's own stream of a rep it knows
        connection.execute(insert(participants), [{"rep_id": rep, "region": "south"}
                                                  for rep in (SLOW_REP, MILESTONE_REP, ENDING_REP, RECONNECT_REP)])
    settings = LedgerSettings(database_url=database_url, rate_limit="")
    verifier = TokenVerifier(minter.settings)
    loop = asyncio.new_event_loop()
    loop_thread = threading.Thread(target=loop.run_forever, daemon=True)
    loop_thread.start()
    port = free_port()
    with serving_api(engine, settings, LedgerGuard(settings, verifier)) as ledger_url:
        hub = Hub(QUEUE_SIZE)
        sessions = Sessions(portal_engine)
        listener = Listener(database_url, loop, hub.publish_all).start()  # deltas come through PostgreSQL
        wait_until(listener.listening.is_set, budget(10), "the portal's listener")

        async def start() -> tuple[web.AppRunner, Ledger]:
            ledger = Ledger(ledger_url)
            app = web.Application()
            add_routes(app, Portal(portal_engine, None, ledger, sessions, verifier,
                                   OidcClient(minter.issuer.url, "attain-portal", f"http://127.0.0.1:{port}/cb", None),
                                   hub, f"http://127.0.0.1:{port}", "en-IN", 3600, keepalive_seconds=KEEPALIVE,
                                   login_limit=PerAddress(f"{LOGINS}/minute"), proxy_hops=1))
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            return runner, ledger

        runner, ledger = asyncio.run_coroutine_threadsafe(start(), loop).result(15)
        served = Served(f"http://127.0.0.1:{port}", kafka, portal_engine, hub, loop, sessions, verifier,
                        f"portal-live-{uuid.uuid4()}")
        stop = start_consumer(served, served.group)
        try:
            yield served
        finally:
            stop()
            listener.stop()
            loop.call_soon_threadsafe(hub.close_all)  # as the service does: every open stream ends first
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(15)
            asyncio.run_coroutine_threadsafe(ledger.close(), loop).result(15)
            loop.call_soon_threadsafe(loop.stop)
            loop_thread.join(10)
            portal_engine.dispose()


def read_events(url: str, cookie: str, into: queue.Queue[tuple[str, str]], language: str = "en-IN") -> None:
    """Each SSE event of the stream at ``url`` as (event, data) into ``into`` (a thread, until the stream ends)."""
    event = ""
    try:
        with httpx.stream("GET", url, cookies={SESSION_COOKIE: cookie}, headers={"Accept-Language": language},
                          timeout=httpx.Timeout(10, read=None)) as response:
            into.put(("status", str(response.status_code)))
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    into.put((event, line[6:]))
        into.put(("end", ""))
    except httpx.HTTPError as error:
        into.put(("error", str(error)))


def listen(served: Served, rep: str, cookie: str, language: str = "en-IN") -> queue.Queue[tuple[str, str]]:
    events: queue.Queue[tuple[str, str]] = queue.Queue()
    threading.Thread(target=read_events, args=(f"{served.url}/reps/{rep}/events", cookie, events, language),
                     daemon=True).start()
    assert events.get(timeout=budget(10)) == ("status", "200")
    return events


def received(events: queue.Queue[tuple[str, str]], count: int, kind: str, timeout: float) -> list[str]:
    """The next ``count`` events of ``kind`` (keepalives and other kinds skipped), or fail after ``timeout``."""
    found: list[str] = []
    while len(found) < count:
        event, data = events.get(timeout=timeout)
        assert event not in ("error", "status"), data
        if event == kind:
            found.append(data)
    return found


def snapshot(rep: str, version: int) -> bytes:
    """Pay up by 1.00 per version, on a deal whose long name makes each delta about 8 KB on the wire (the
    slow client's window and the portal's buffers fill in a few rounds)."""
    earned = f"{version}.00"
    deal = f"006LIVE{version:05d}-" + "x" * 8000
    return contract(topics.EARNINGS).encode(EarningsSnapshot(
        rep, "2026-Q1", "live", 1, "INR", version, 1767225600000 + version,
        (ComponentEarnings("commission", earned, None, None, earned, 1),), earned, (f"e{version}",), None, "",
        (SourceChange(f"e{version}", deal),)).to_avro())


def committed(served: Served, group: str, topic: str) -> int:
    probe = Consumer(consumer_config(served.kafka, group, **{"enable.auto.commit": False}))
    try:
        return int(probe.committed([TopicPartition(topic, 0)], timeout=10)[0].offset)
    finally:
        probe.close()


def test_a_client_that_stops_reading_is_cut_off_and_delays_nobody(served: Served, minter: Any) -> None:
    cookie = served.cookie(minter.token(SLOW_REP))
    fast = listen(served, SLOW_REP, cookie)
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: it fills at once
    slow.connect(("127.0.0.1", int(served.url.rsplit(":", 1)[1])))
    slow.sendall(f"GET /reps/{SLOW_REP}/events HTTP/1.1\r\nHost: portal\r\nCookie: {SESSION_COOKIE}={cookie}\r\n"
                 f"Accept: text/event-stream\r\n\r\n".encode())
    opened = b""
    while b": stream open" not in opened:
        opened += slow.recv(1024)
    assert opened.startswith(b"HTTP/1.1 200")  # from here on the slow client reads nothing
    wait_until(lambda: served.count(SLOW_REP) == 2, budget(10), "both streams subscribed", 0.1)

    producer = Producer(producer_config(served.kafka))
    last_offset: list[int] = []
    dropped_before, version = DROPPED._value.get(), 0
    while DROPPED._value.get() == dropped_before:  # rounds of deltas until the slow stream's queue overflows
        assert version < 400, "the slow client was never cut off"
        for _ in range(ROUND):
            version += 1
            producer.produce(topics.EARNINGS, snapshot(SLOW_REP, version), SLOW_REP.encode(),
                             on_delivery=lambda _error, message: last_offset.append(message.offset()))
        producer.flush(10)
        deltas = received(fast, ROUND, "delta", budget(15))  # the reader keeps up, round after round
        assert f"006LIVE{version:05d}" in deltas[-1]

    # the slow connection is closed by the portal, not just forgotten: the client reads to its end
    slow.settimeout(budget(10))
    try:
        while slow.recv(65536):
            pass
    except ConnectionResetError:
        pass  # reset: the portal aborted it with data unsent, as it should
    slow.close()
    assert served.count(SLOW_REP) == 1  # the reader's stream stays
    # and the consumer kept committing every batch while the slow client sat there
    wait_until(lambda: committed(served, served.group, topics.EARNINGS) == max(last_offset) + 1, budget(10),
               "the portal's consumer to commit the last snapshot")
    version += 1
    producer.produce(topics.EARNINGS, snapshot(SLOW_REP, version), SLOW_REP.encode())
    producer.flush(10)
    assert f"006LIVE{version:05d}" in received(fast, 1, "delta", budget(10))[0]


def test_the_consumer_goes_on_after_its_database_connection_is_ended(served: Served, engine: Engine,
                                                                   minter: Any) -> None:
    stream = listen(served, RECONNECT_REP, served.cookie(minter.token(RECONNECT_REP)))
    producer = Producer(producer_config(served.kafka))
    producer.produce(topics.EARNINGS, snapshot(RECONNECT_REP, 1), RECONNECT_REP.encode())
    producer.flush(10)
    assert "006LIVE00001" in received(stream, 1, "delta", budget(15))[0]

    reconnected = RECONNECTED._value.get()
    with engine.connect() as connection:  # every portal connection, the consumer's held one among them
        ended_ = connection.execute(text(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
            "application_name = :name AND datname = current_database() AND pid <> pg_backend_pid()"),
            {"name": APPLICATION_NAME}).scalar_one()
    assert ended_ >= 1
    producer.produce(topics.EARNINGS, snapshot(RECONNECT_REP, 2), RECONNECT_REP.encode())
    producer.flush(10)
    assert "006LIVE00002" in received(stream, 1, "delta", budget(15))[0]
    assert RECONNECTED._value.get() == reconnected + 1  # the batch ran again on a new connection


def milestone_record(key: str, kind: str, english: str, status: str = "pending") -> NotificationRecord:
    return NotificationRecord(key, kind, MILESTONE_REP, "2026-Q1", status, {"currency": "EUR"}, english)


def test_a_milestone_reaches_the_stream_once_in_the_readers_language_also_after_a_replay(
        served: Served, minter: Any) -> None:
    cookie = served.cookie(minter.token(MILESTONE_REP))
    stream = listen(served, MILESTONE_REP, cookie, "fr-FR")
    paid = approved(MILESTONE_REP, "2026-Q1", "ae", "EUR", Decimal("1234.5"), "boss")
    record = NotificationRecord.of(paid, sentence(paid))  # recorded in English, shown in the reader's language
    unknown = milestone_record(f"{MILESTONE_REP}|2026-Q1|statement|v1", "statement",
                               "Your statement for 2026-Q1 is ready.")
    standing = NotificationRecord(standing_key(MILESTONE_REP, "2026-Q1"), "standing", MILESTONE_REP, "2026-Q1",
                                  "standing", {"currency": "EUR", "version": "1", "total": "0"})
    delivered = NotificationRecord(record.key, record.kind, record.rep_id, record.period, DELIVERED, record.fields,
                                   record.sentence, ("web",), record.recorded_at)
    producer = Producer(producer_config(served.kafka))

    def publish(*records: NotificationRecord) -> None:
        for item in records:
            producer.produce(topics.NOTIFICATIONS, contract(topics.NOTIFICATIONS).encode(item.to_avro()),
                             item.key.encode())
        producer.flush(10)

    publish(standing, record, unknown, delivered)
    publish(milestone_record(f"{MILESTONE_REP}|2026-Q1|marker|1", "marker", "first marker"))
    shown = received(stream, 3, "milestone", budget(15))  # the marker comes after any copy of the others
    assert "Votre paiement de 1\u202f234,50\xa0€ pour 2026-Q1 a été approuvé." in shown[0], shown[0]
    assert f'data-key="{record.key}"' in shown[0]
    assert "Your statement for 2026-Q1 is ready." in shown[1] and "first marker" in shown[2]

    replay_group = f"portal-replay-{uuid.uuid4()}"  # a new group reads every record again: nothing is new
    stop = start_consumer(served, replay_group)
    try:
        end = committed(served, served.group, topics.NOTIFICATIONS)
        wait_until(lambda: committed(served, replay_group, topics.NOTIFICATIONS) >= end, budget(15),
                   "the replay to read every record")
    finally:
        stop()
    publish(milestone_record(f"{MILESTONE_REP}|2026-Q1|marker|2", "marker", "second marker"))
    assert "second marker" in received(stream, 1, "milestone", budget(15))[0]  # nothing in between
    with served.engine.connect() as connection:
        held = connection.execute(text("SELECT key FROM portal.notifications WHERE rep_id = :r ORDER BY key"),
                                  {"r": MILESTONE_REP}).scalars().all()
    assert held == sorted([record.key, unknown.key, f"{MILESTONE_REP}|2026-Q1|marker|1",
                           f"{MILESTONE_REP}|2026-Q1|marker|2"])

    home = httpx.get(f"{served.url}/reps/{MILESTONE_REP}", cookies={SESSION_COOKIE: cookie},
                     headers={"Accept-Language": "fr-FR"})
    assert home.status_code == 200
    listed = home.text[home.text.index('id="notifications"'):]
    assert listed.index("second marker") < listed.index("a été approuvé")  # newest first


def ended(events: queue.Queue[tuple[str, str]], timeout: float) -> None:
    """Wait for the end of the stream (keep-alives and events before it skipped), or fail after ``timeout``."""
    event = ""
    while event != "end":
        event, data = events.get(timeout=timeout)
        assert event != "error", data


def test_a_stream_ends_within_a_keepalive_once_its_session_is_gone(served: Served, minter: Any) -> None:
    staying, leaving = served.cookie(minter.token(ENDING_REP)), served.cookie(minter.token(ENDING_REP))
    kept, signed_out = listen(served, ENDING_REP, staying), listen(served, ENDING_REP, leaving)
    wait_until(lambda: served.count(ENDING_REP) == 2, budget(10), "both streams subscribed", 0.1)
    time.sleep(KEEPALIVE * 1.5)  # a keep-alive or so passes: a session that holds keeps its stream
    assert served.count(ENDING_REP) == 2
    with served.engine.begin() as connection:  # signed out on another replica: the row is gone, nothing else
        connection.execute(text("DELETE FROM portal.sessions WHERE id_hash = :h"), {"h": digest(leaving)})
    gone = time.monotonic()
    ended(signed_out, budget(KEEPALIVE + 5))
    assert time.monotonic() - gone < KEEPALIVE + 1.0
    assert served.count(ENDING_REP) == 1 and kept.empty()  # the other stream stays, nothing sent meanwhile

    expiring = served.cookie(minter.token(ENDING_REP), lifetime=2)  # the session expires while its stream is open
    short = listen(served, ENDING_REP, expiring)
    opened = time.monotonic()
    ended(short, budget(2 + KEEPALIVE + 5))
    assert 1.0 < time.monotonic() - opened < 2 + KEEPALIVE + 1.0
    assert served.count(ENDING_REP) == 1


def test_a_busy_database_pool_never_holds_up_the_event_loop(served: Served, minter: Any) -> None:
    cookie = served.cookie(minter.token(MILESTONE_REP))
    answers: queue.Queue[int] = queue.Queue()

    def get(path: str, **headers: str) -> None:
        answers.put(httpx.get(f"{served.url}{path}", cookies={SESSION_COOKIE: cookie}, headers=headers,
                              timeout=60).status_code)

    pool = served.engine.pool
    free = pool.size() + pool._max_overflow - pool.checkedout()  # type: ignore[attr-defined]
    held = [served.engine.connect() for _ in range(free)]  # all but the consumer's own
    try:  # a page (its session lookup) and a sign-in now wait for a connection: in threads, not on the loop
        threading.Thread(target=get, args=("/",), daemon=True).start()
        threading.Thread(target=get, args=("/login",), kwargs={"X-Forwarded-For": "198.51.100.1"},
                         daemon=True).start()
        time.sleep(1.0)
        assert answers.empty()
        started = time.monotonic()
        served.count(MILESTONE_REP)  # a coroutine on the portal's loop
        assert time.monotonic() - started < 0.5
    finally:
        for connection in held:
            connection.close()
    assert [answers.get(timeout=budget(30)), answers.get(timeout=budget(30))] == [302, 302]  # home, the issuer


def test_sign_ins_are_limited_per_client_address(served: Served) -> None:
    def sign_in(address: str) -> httpx.Response:
        return httpx.get(f"{served.url}/login", headers={"X-Forwarded-For": f"10.9.9.9, {address}"}, timeout=10)

    def pending() -> int:
        with served.engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM portal.sign_ins")).scalar_one())

    before = pending()
    assert [sign_in("203.0.113.7").status_code for _ in range(LOGINS)] == [302] * LOGINS
    refused = sign_in("203.0.113.7")
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "Too many sign-ins" in refused.text
    assert pending() == before + LOGINS  # the refused one wrote nothing
    assert sign_in("203.0.113.8").status_code == 302  # another address (the proxy's own is not what counts)
