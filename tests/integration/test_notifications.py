"""Milestones from an earnings snapshot on the real broker to each channel, recorded once under restarts.

The receivers do what the real services do with what they get: the Web Push receiver verifies the VAPID
JWT (ES256, the key in ``k=``, ``aud`` its own origin) and decrypts the aes128gcm body with ``http-ece`` and
the subscription's private key, as a browser would; the Slack and Teams receivers check their JSON formats;
the mail sink is aiosmtpd.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import http_ece
import jwt
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from confluent_kafka import Producer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid

from attain.contracts.earnings import ComponentEarnings, EarningsSnapshot, SourceChange
from attain.contracts.notifications import DELIVERED
from attain.embedded.ports import free_port
from attain.notify.preferences import Preferences, PushSubscription
from attain.platform import topics
from attain.platform.avro import contract
from attain.platform.kafka import consumer_config, ensure_topics, producer_config
from attain.platform.reading import read_until_idle
from attain.platform.settings import KafkaSettings
from services.notifier.channels import Channels, ChannelSettings, Outgoing
from services.notifier.milestones import Deliverer, Detector, MilestoneHub, Store, consume_milestones
from tests.polling import budget


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Receivers:
    """Slack, Teams and Web Push endpoints on one local HTTP server; what each accepted, by idempotency id."""

    def __init__(self) -> None:
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.slack: list[dict] = []
        self.teams: list[dict] = []
        self.push: list[dict] = []
        self.failing = 0
        self.browser_key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)
        point = self.browser_key.public_key().public_bytes(serialization.Encoding.X962,
                                                            serialization.PublicFormat.UncompressedPoint)
        self.subscription = PushSubscription(f"{self.origin}/push/device-1", b64(point), b64(self.auth))

    async def _slack(self, request: web.Request) -> web.Response:
        body = await request.json()
        assert isinstance(body["text"], str) and body["blocks"][0]["type"] == "section", body
        self.slack.append({"key": request.headers["Idempotency-Key"], **body})
        return web.Response(text="ok")

    async def _teams(self, request: web.Request) -> web.Response:
        body = await request.json()
        (attachment,) = body["attachments"]
        assert body["type"] == "message" and attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
        assert attachment["content"]["type"] == "AdaptiveCard", body
        self.teams.append({"key": request.headers["Idempotency-Key"], **body})
        return web.Response(status=202)

    async def _failing(self, _request: web.Request) -> web.Response:
        self.failing += 1
        return web.Response(status=503, text="down for the test")

    async def _push(self, request: web.Request) -> web.Response:
        scheme, _, params = request.headers["Authorization"].partition(" ")
        assert scheme == "vapid", request.headers["Authorization"]
        fields = dict(part.strip().split("=", 1) for part in params.split(","))
        server_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(fields["k"]))
        claims = jwt.decode(fields["t"], server_key, algorithms=["ES256"], audience=self.origin)  # verifies the JWT
        assert claims["sub"].startswith("mailto:") and claims["exp"] > time.time()
        assert request.headers["Content-Encoding"] == "aes128gcm" and int(request.headers["TTL"]) > 0
        clear = http_ece.decrypt(await request.read(), private_key=self.browser_key, auth_secret=self.auth,
                                 version="aes128gcm")
        self.push.append({"topic": request.headers.get("Topic"), **json.loads(clear)})
        return web.Response(status=201)

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        runner = web.AppRunner(self.app())
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        try:
            yield
        finally:
            await runner.cleanup()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/slack", self._slack)
        app.router.add_post("/teams", self._teams)
        app.router.add_post("/failing", self._failing)
        app.router.add_post("/push/device-1", self._push)
        return app


class Mailbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, _server, _session, envelope):  # noqa: N802 - aiosmtpd's hook name
        from email import message_from_bytes

        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


def snapshot(rep: str, version: int, earned: str, attainment: str, deal: str) -> EarningsSnapshot:
    return EarningsSnapshot(rep, "2026-Q1", "ae", 1, "EUR", version, int(time.time() * 1000),
                            (ComponentEarnings("commission", earned, "10000", attainment, earned, 1),),
                            earned, (f"{deal}-e",), None, "", (SourceChange(f"{deal}-e", deal),))


@pytest.fixture(scope="module")
def kafka(pipeline_kafka_bootstrap: str) -> KafkaSettings:
    settings = KafkaSettings(bootstrap=pipeline_kafka_bootstrap, partitions=1)
    kept = [topics.NOTIFICATIONS, topics.NOTIFICATION_PREFERENCES]
    ensure_topics(settings, [topics.EARNINGS, topics.PAYOUTS, topics.LEDGER_EVENTS, topics.NOTIFICATIONS_DLQ, *kept],
                  kept)
    return settings


def publish(kafka: KafkaSettings, *snapshots: EarningsSnapshot) -> None:
    producer = Producer(producer_config(kafka))
    for item in snapshots:
        producer.produce(topics.EARNINGS, contract(topics.EARNINGS).encode(item.to_avro()), item.rep_id.encode())
    assert producer.flush(30) == 0


class Notifier:
    """The notifier's milestone path as the service wires it (services/notifier/app.py), on this loop."""

    def __init__(self, kafka: KafkaSettings, channels: Channels, group: str, **producer: object) -> None:
        self.producer = Producer(producer_config(kafka, **producer))
        self.store = Store(kafka, self.producer)
        self.store.load()
        self.hub = MilestoneHub(100)
        self.deliverer = Deliverer(self.store, channels, self.hub, self.producer, attempts=3, initial=0.05,
                                   longest=0.2)
        self.kafka, self.group = kafka, group
        self.stopping, self.assigned = threading.Event(), threading.Event()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        from confluent_kafka import Consumer

        self.deliverer.resume()
        consumer = Consumer(consumer_config(self.kafka, self.group, **{"enable.auto.commit": False}))
        self.thread = threading.Thread(target=consume_milestones, daemon=True, args=(
            consumer, Detector(self.store, (Decimal("0.50"), Decimal("1.00"))),
            lambda record: loop.call_soon_threadsafe(self.deliverer.submit, record), self.stopping, self.assigned))
        self.thread.start()

    async def stop(self) -> None:
        self.stopping.set()
        await asyncio.to_thread(self.thread.join, 10)
        await self.deliverer.stop()


async def until(check, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + budget(timeout)
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def test_a_snapshot_reaches_every_channel_once_and_a_restart_sends_nothing_again(kafka, tmp_path):
    rep = f"n-{uuid.uuid4().hex[:6]}"
    receivers, mailbox = Receivers(), Mailbox()
    vapid = Vapid()
    vapid.generate_keys()
    vapid.save_key(str(tmp_path / "vapid.pem"))
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()

    async def scenario() -> None:
        async with receivers.serving():
            channels = Channels(ChannelSettings(smtp_host="127.0.0.1", smtp_port=smtp.port,
                                                vapid_private_key=str(tmp_path / "vapid.pem"),
                                                vapid_subject="mailto:ops@example.com"))
            group = f"milestones-{uuid.uuid4().hex[:6]}"
            first = Notifier(kafka, channels, group)
            first.store.put_preferences(Preferences(
                rep, ("push", "slack", "teams", "email"), locale="fr", email=f"{rep}@example.com",
                slack_webhook=f"{receivers.origin}/slack", teams_webhook=f"{receivers.origin}/teams",
                push=(receivers.subscription,)).check(), rep)
            first.start(asyncio.get_running_loop())
            publish(kafka, snapshot(rep, 1, "5000", "0.5", "006M1"))
            await until(lambda: len(receivers.slack) == 2 and len(mailbox.messages) == 2 and len(receivers.push) == 2
                        and len(receivers.teams) == 2, "two milestones on each channel")
            keys = {f"{rep}|2026-Q1|earned|v1", f"{rep}|2026-Q1|attainment|commission|0.50"}
            assert {item["key"] for item in receivers.slack} == keys == {item["key"] for item in receivers.teams}
            assert {item["id"] for item in receivers.push} == keys  # decrypted: the key is the idempotency id
            assert {m["X-Attain-Milestone-Key"] for m in mailbox.messages} == keys
            earned = next(item for item in receivers.slack if "earned" in item["key"])
            assert earned["text"] == "Vos gains pour 2026-Q1 ont changé de 5\u202f000,00\u00a0€ et s’élèvent à " \
                                     "5\u202f000,00\u00a0€ (affaires 006M1)."
            assert next(p for p in receivers.push if "earned" in p["id"])["fields"]["deals"] == "006M1"
            await until(lambda: all(first.store.records[k].status == DELIVERED for k in keys), "delivered records")
            await first.stop()

            # a restart, and the same snapshot again (a replay from the start under a new group): nothing resent
            second = Notifier(kafka, channels, f"{group}-replayed")
            assert {k for k, r in second.store.records.items() if r.rep_id == rep and r.status == DELIVERED} == keys
            second.start(asyncio.get_running_loop())
            publish(kafka, snapshot(rep, 1, "5000", "0.5", "006M1"), snapshot(rep, 2, "10500", "1.05", "006M2"))
            await until(lambda: len(receivers.slack) == 4, "the next snapshot's milestones")
            await asyncio.sleep(0.3)  # deliveries run concurrently; a resent one would have arrived with these
            assert [item["key"] for item in receivers.slack[2:]] != [] and len(receivers.slack) == 4
            assert {item["key"] for item in receivers.slack[2:]} == {
                f"{rep}|2026-Q1|earned|v2", f"{rep}|2026-Q1|attainment|commission|1.00"}
            # a clawback below 100%, then above it again: the clawback is news, the second crossing is not
            publish(kafka, snapshot(rep, 3, "9500", "0.95", "006M2"), snapshot(rep, 4, "10200", "1.02", "006M3"))
            await until(lambda: len(receivers.slack) == 7, "the clawback's and the next earnings' milestones")
            await asyncio.sleep(0.3)
            assert sorted(item["key"] for item in receivers.slack[4:]) == [
                f"{rep}|2026-Q1|clawback|commission|v3", f"{rep}|2026-Q1|earned|v3", f"{rep}|2026-Q1|earned|v4"]
            clawback = next(item for item in receivers.teams if "clawback" in item["key"])
            assert clawback["attachments"][0]["content"]["body"][0]["text"] == \
                "commission pour 2026-Q1 a baissé de 1\u202f000,00\u00a0€ à 9\u202f500,00\u00a0€ après une annulation."
            await second.stop()
            await channels.close()

    try:
        asyncio.run(scenario())
    finally:
        smtp.stop()


def test_a_webhook_that_keeps_failing_ends_in_the_dead_letter_topic_after_the_retries(kafka):
    rep = f"f-{uuid.uuid4().hex[:6]}"
    receivers = Receivers()

    async def scenario() -> None:
        async with receivers.serving():
            channels = Channels(ChannelSettings())
            notifier = Notifier(kafka, channels, f"milestones-{uuid.uuid4().hex[:6]}")
            failing = Preferences(rep, ("slack",), slack_webhook=f"{receivers.origin}/failing")
            notifier.store.put_preferences(failing, rep)
            notifier.start(asyncio.get_running_loop())
            publish(kafka, snapshot(rep, 1, "100", "0.01", "006F1"))
            key = f"{rep}|2026-Q1|earned|v1"
            await until(lambda: key in notifier.store.records and notifier.store.records[key].status == DELIVERED,
                        "the delivery given up")
            assert notifier.store.records[key].channels == ("dlq:slack",)
            assert receivers.failing == 3  # every attempt reached the webhook
            await notifier.stop()
            await channels.close()

    asyncio.run(scenario())
    letters = [contract(topics.NOTIFICATIONS_DLQ).decode(m.value())
               for m in read_until_idle(kafka, topics.NOTIFICATIONS_DLQ, idle_seconds=0.5)]
    (letter,) = [d for d in letters if d["source"] == f"slack:{rep}|2026-Q1|earned|v1"]
    assert letter["error_code"] == "delivery_failed" and letter["service"] == "notifier"
    assert "3 attempts failed; last: webhook answered 503" in letter["reason"]
    assert json.loads(letter["original"])["id"] == f"{rep}|2026-Q1|earned|v1"


def test_preferences_api_a_person_edits_their_own_an_admin_anyones_and_they_are_kept(kafka, minter):
    import httpx

    from attain.platform.identity import TokenVerifier
    from services.notifier.preferences_api import add_preferences_routes

    rep, other = f"p-{uuid.uuid4().hex[:6]}", f"q-{uuid.uuid4().hex[:6]}"
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1/people/{rep}/notification-preferences"
    wanted = {"channels": ["email", "slack"], "locale": "fr", "time_zone": "Europe/Paris", "quiet_start": "22:00",
              "quiet_end": "07:00", "digest": "daily", "email": "rep@example.com",
              "slack_webhook": "https://hooks.slack.com/services/T0/B0/x"}

    async def scenario() -> None:
        store = Store(kafka, Producer(producer_config(kafka)))
        app = web.Application()
        add_preferences_routes(app, store, TokenVerifier(minter.settings))
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        async with httpx.AsyncClient(timeout=10) as client:
            assert (await client.get(url)).status_code == 401
            assert (await client.get(url, headers=minter.bearer(other))).status_code == 403
            assert (await client.put(url, json=wanted, headers=minter.bearer(other))).status_code == 403
            fresh = await client.get(url, headers=minter.bearer(rep))
            assert fresh.status_code == 200 and fresh.json()["channels"] == []
            bad = await client.put(url, json={**wanted, "time_zone": "Mars/Olympus"}, headers=minter.bearer(rep))
            assert bad.status_code == 400 and "time_zone" in bad.json()["error"]
            kept = await client.put(url, json=wanted, headers=minter.bearer(rep))
            assert kept.status_code == 200, kept.text
            admin = await client.get(url, headers=minter.bearer("boss", roles=["admin"], regions=["*"]))
            assert {k: admin.json()[k] for k in wanted} == wanted
        await runner.cleanup()

    asyncio.run(scenario())
    again = Store(kafka, Producer(producer_config(kafka)))
    again.load()  # what a restarted notifier reads
    assert again.preferences[rep].channels == ("email", "slack") and again.preferences[rep].quiet_start == "22:00"


def test_the_demo_mail_sink_keeps_what_the_notifier_sends_in_a_maildir(tmp_path):
    import mailbox
    from email.header import decode_header, make_header

    from attain.embedded.stack import Stack

    stack = Stack(workdir=tmp_path, plans_file=tmp_path / "plans.yaml", mail_sink=True)
    stack._start_mail_sink()  # what Stack.start does for `attain run`
    try:
        channels = Channels(ChannelSettings(smtp_host="127.0.0.1", smtp_port=stack.smtp_port))
        item = Outgoing("r1|2026-Q1|approved|ae|EUR", "approved", "Your payout of €10.00 for 2026-Q1 was approved.",
                        {"amount": "10"})
        asyncio.run(channels.send("email", Preferences("r1", ("email",), email="r1@example.com"), item))
        (kept,) = mailbox.Maildir(stack.mailbox).values()
        assert str(make_header(decode_header(kept["Subject"]))) == item.sentence
        assert kept["X-Attain-Milestone-Key"] == item.key
    finally:
        stack.stop()


def test_a_daily_digest_sends_the_days_milestones_in_one_message_at_its_hour(kafka):
    from datetime import UTC, datetime, timedelta

    rep = f"d-{uuid.uuid4().hex[:6]}"
    receivers = Receivers()
    digest_at = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)  # 08:00 in Paris
    started: list[float] = []

    def now() -> datetime:  # 1.5 s before the digest hour when first asked (the first milestone), then runs on
        if not started:
            started.append(time.monotonic())
        return digest_at - timedelta(seconds=1.5) + timedelta(seconds=time.monotonic() - started[0])

    async def scenario() -> None:
        async with receivers.serving():
            channels = Channels(ChannelSettings())
            notifier = Notifier(kafka, channels, f"milestones-{uuid.uuid4().hex[:6]}")
            notifier.deliverer._now = now
            notifier.store.put_preferences(Preferences(
                rep, ("slack",), time_zone="Europe/Paris", digest="daily", digest_at="08:00",
                slack_webhook=f"{receivers.origin}/slack").check(), rep)
            notifier.start(asyncio.get_running_loop())
            publish(kafka, snapshot(rep, 1, "100", "0.01", "006D1"), snapshot(rep, 2, "5100", "0.51", "006D2"))
            await until(lambda: receivers.slack, "the digest")
            assert now() >= digest_at  # not before its hour
            await asyncio.sleep(0.3)
            (digest,) = receivers.slack
            assert digest["key"] == f"digest|{rep}|2026-12-01T07:00Z"
            assert digest["text"].splitlines() == [
                "3 updates on your pay:",
                "• Your earnings for 2026-Q1 changed by €100.00 to €100.00 (deals 006D1).",
                "• Your earnings for 2026-Q1 changed by €5,000.00 to €5,100.00 (deals 006D2).",
                "• You reached 50.0% of quota on commission for 2026-Q1."]
            await until(lambda: sum(r.status == DELIVERED for r in notifier.store.of_rep(rep)) == 3, "all delivered")
            await notifier.stop()
            await channels.close()

    asyncio.run(scenario())


def test_an_approved_payout_line_is_one_milestone_even_when_the_ledger_publishes_it_twice(kafka):
    """One line published twice is one milestone; the same rep's period approved in a second scope (a plan id with
    a ``/``) is another: both are recorded and delivered (the key once named only the currency: the second was
    dropped)."""
    from datetime import UTC, datetime

    from attain.contracts.payouts import EarningAmount, PayoutLine

    rep = f"a-{uuid.uuid4().hex[:6]}"
    receivers = Receivers()
    line, other = (PayoutLine(f"{scope}/2026-Q1/{rep}/INR", rep, "2026-Q1", "INR", Decimal(amount), 3,
                              datetime(2026, 4, 2, tzinfo=UTC), "fin-1", None,
                              (EarningAmount("COMM", Decimal(amount), 3),))
                   for scope, amount in (("ae", "1234567"), ("in/se", "500")))

    async def scenario() -> None:
        async with receivers.serving():
            channels = Channels(ChannelSettings())
            notifier = Notifier(kafka, channels, f"milestones-{uuid.uuid4().hex[:6]}")
            notifier.store.put_preferences(
                Preferences(rep, ("slack",), locale="en-IN", slack_webhook=f"{receivers.origin}/slack"), rep)
            notifier.start(asyncio.get_running_loop())
            producer = Producer(producer_config(kafka))
            encoded = contract(topics.PAYOUTS).encode(line.to_avro())
            for _ in range(2):  # the outbox relay may publish a line again: payroll dedupes on payout_id, we on key
                producer.produce(topics.PAYOUTS, encoded, line.payout_id.encode())
            producer.produce(topics.PAYOUTS, contract(topics.PAYOUTS).encode(other.to_avro()), other.payout_id.encode())
            assert producer.flush(30) == 0
            key, second = f"{rep}|2026-Q1|approved|ae|INR", f"{rep}|2026-Q1|approved|in/se|INR"
            await until(lambda: all(k in notifier.store.records and notifier.store.records[k].status == DELIVERED
                                    for k in (key, second)), "both approvals delivered")
            await asyncio.sleep(0.3)
            assert sorted((item["key"], item["text"]) for item in receivers.slack) == [
                (key, "Your payout of ₹12,34,567.00 for 2026-Q1 was approved."),
                (second, "Your payout of ₹500.00 for 2026-Q1 was approved.")]
            assert notifier.store.records[key].fields["approved_by"] == "fin-1"
            assert notifier.store.records[second].fields["payout_id"] == other.payout_id
            await notifier.stop()
            await channels.close()

    asyncio.run(scenario())


def test_a_full_producer_queue_delays_ledger_milestones_and_loses_none(kafka):
    """Room for one message in the notifier's producer: a batch of ledger facts fills it (``BufferError``) while
    their records are staged. Each is recorded once there is room again, none dead-lettered. Before, the write sat
    inside the except meant for unreadable facts, and a full queue dead-lettered a good fact (or ended the loop)."""
    from datetime import UTC, datetime

    from attain.contracts.ledger_events import PAID, LedgerEvent

    reps = [f"q-{uuid.uuid4().hex[:6]}" for _ in range(6)]
    producer = Producer(producer_config(kafka))
    for rep in reps:  # on the topic before the notifier starts: one batch
        event = LedgerEvent.of(f"paid|{rep}", PAID, rep, "ae", "2026-Q1", datetime(2026, 4, 2, tzinfo=UTC), "EUR",
                               Decimal("10"), "fin-1")
        producer.produce(topics.LEDGER_EVENTS, contract(topics.LEDGER_EVENTS).encode(event.to_avro()), rep.encode())
    assert producer.flush(30) == 0
    keys = {f"{rep}|2026-Q1|paid|ae|EUR" for rep in reps}

    async def scenario() -> None:
        channels = Channels(ChannelSettings())
        notifier = Notifier(kafka, channels, f"milestones-{uuid.uuid4().hex[:6]}",
                            **{"queue.buffering.max.messages": 1, "batch.num.messages": 1})
        notifier.start(asyncio.get_running_loop())
        await until(lambda: keys <= notifier.store.records.keys() or not notifier.thread.is_alive(),
                    "every paid milestone recorded")
        assert notifier.thread.is_alive() and keys <= notifier.store.records.keys()
        await notifier.stop()
        await channels.close()

    asyncio.run(scenario())
    dead = [m.value() or b"" for m in read_until_idle(kafka, topics.NOTIFICATIONS_DLQ, idle_seconds=0.5)]
    assert not [value for value in dead if any(rep.encode() in value for rep in reps)]
