"""Portal entrypoint: the pages over the read model and the ledger, its consumer, health and metrics."""

from __future__ import annotations

import asyncio
import logging
import threading

from aiohttp import web
from confluent_kafka import Consumer
from sqlalchemy import text

from attain.planfiles import load_book
from attain.platform import topics
from attain.platform.health import BrokerProbe
from attain.platform.http import add_operational_routes
from attain.platform.identity import AuthError, AuthSettings, TokenVerifier
from attain.platform.kafka import consumer_config, provide_topics
from attain.platform.service import Running, in_thread, run_service
from attain.platform.settings import KafkaSettings, load_settings
from services.portal.auth import OidcClient, Sessions
from services.portal.config import PortalSettings
from services.portal.fanout import Listener
from services.portal.gauges import count_streams
from services.portal.ledger_client import Ledger
from services.portal.live import CHANGES_TOPICS, LIVE_TOPICS, Hub, consume
from services.portal.milestones import ensure_schema as ensure_milestones_schema
from services.portal.readmodel import ensure_schema, make_engine
from services.portal.seen import ensure_seen
from services.portal.sessions import ensure_tables
from services.portal.throttle import PerAddress
from services.portal.web import Portal, add_routes

log = logging.getLogger("attain.portal")


async def build() -> Running:
    kafka = load_settings(KafkaSettings)
    settings = PortalSettings()
    auth = AuthSettings()
    try:
        verifier = TokenVerifier(auth)
    except AuthError as error:
        raise SystemExit(f"portal: {error}") from None
    if auth.issuer is None:
        raise SystemExit("portal: people sign in at an OpenID Connect issuer: set ATTAIN_AUTH_ISSUER")
    book = load_book([settings.plans_file]) if settings.plans_file else None
    provide_topics(kafka, [topics.CRM_CHANGES, topics.EARNINGS, topics.NOTIFICATIONS], compacted=[topics.NOTIFICATIONS])
    engine = make_engine(settings.database_url)
    await asyncio.to_thread(ensure_schema, engine)
    await asyncio.to_thread(ensure_tables, engine)  # sessions: shared by every replica, kept across restarts
    await asyncio.to_thread(ensure_seen, engine)
    await asyncio.to_thread(ensure_milestones_schema, engine)
    loop = asyncio.get_running_loop()
    hub = Hub(settings.subscriber_queue_size)
    count_streams(hub.count)
    base_url = settings.base_url()
    portal = Portal(engine, book, Ledger(settings.ledger_url), Sessions(engine), verifier,
                    OidcClient(auth.issuer, settings.client_id, f"{base_url}/auth/callback",
                               settings.issuer_browser_url),
                    hub, base_url, settings.locale, settings.session_seconds, off_pace=settings.off_pace,
                    keepalive_seconds=settings.keepalive_seconds, login_limit=PerAddress(settings.login_rate),
                    proxy_hops=settings.proxy_hops)

    # Two consumers, each with a group of its own: the bulk of CRM changes, and what live streams wait for
    # (earnings, milestones), so a burst of changes never delays a delta (docs/portal.md, "The live feed").
    stopping = threading.Event()
    consumers = []
    for name, group, subscribed in (("changes", settings.group_id, CHANGES_TOPICS),
                                    ("live", f"{settings.group_id}-live", LIVE_TOPICS)):
        consumer = Consumer(consumer_config(kafka, group, **{
            "client.id": f"attain-portal-{name}", "enable.auto.commit": False, "auto.offset.reset": "earliest"}))
        assigned = threading.Event()
        thread = threading.Thread(target=consume, name=f"portal-{name}", daemon=True,
                                  args=(consumer, engine, book, stopping, assigned, subscribed))
        thread.start()
        consumers.append((thread, assigned))
    listener = Listener(settings.database_url, loop, hub.publish_all).start()  # every replica's deltas, for its streams

    app = web.Application(client_max_size=64 * 1024)
    add_routes(app, portal)
    broker = BrokerProbe(kafka, topics.EARNINGS).start()

    def database_ok() -> bool:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1 FROM portal.schema_version"))
        except Exception:  # noqa: BLE001 - any failure means not ready
            return False
        return True

    def ready() -> tuple[bool, str]:  # consuming, holding partitions, broker and database reachable
        if not all(thread.is_alive() for thread, _ in consumers):
            return False, "a consumer loop has stopped"
        if not all(assigned.is_set() for _, assigned in consumers):
            return False, "waiting for partitions"
        if not broker.ok:
            return False, broker.detail
        if not listener.is_alive() or not listener.listening.is_set():
            return False, "not listening for live deltas on the read model's database"
        if not database_ok():
            return False, "the read model's database cannot be reached"
        return True, f"serving; {hub.count()} live streams"

    add_operational_routes(app, ready)
    return Running(
        app, settings.host, settings.port, "portal listening", {"port": settings.port, "url": base_url},
        alive=lambda: listener.is_alive() and all(thread.is_alive() for thread, _ in consumers),
        before_http_stop=[hub.close_all, stopping.set, broker.stop,
                          *(in_thread(thread.join, 10) for thread, _ in consumers), in_thread(listener.stop)],
        after_http_stop=[portal.ledger.close, engine.dispose],
        stopped="portal stopped",
    )


def main() -> None:
    run_service("portal", build)
