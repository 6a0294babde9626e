"""The portal's pages: sign-in, the rep home (live over SSE), statements, disputes, the PWA files."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from aiohttp import web
from sqlalchemy import Engine

from attain.contracts.notifications import NotificationRecord
from attain.core.pace import DEFAULT_OFF_PACE
from attain.core.periods import PeriodError, period_bounds
from attain.core.plans import PlanBook
from attain.platform.identity import TokenVerifier
from services.portal import page
from services.portal.admin import add_admin_routes
from services.portal.auth import (
    LOGIN_COOKIE,
    LOGIN_SECONDS,
    SESSION_COOKIE,
    OidcClient,
    Session,
    Sessions,
    cookie_options,
    csrf_refusal,
    open_session,
)
from services.portal.i18n import preferred, translator
from services.portal.ledger_client import Ledger, Refused
from services.portal.live import PUSHED, Closed, Hub
from services.portal.manager import add_manager_routes
from services.portal.milestones import milestone_view, notifications_of
from services.portal.readmodel import changes_of, deltas_of, open_opportunities, snapshots_of
from services.portal.seen import change_view, changes_for_view
from services.portal.throttle import LOGIN_RATE, PerAddress, client_address
from services.portal.whatif import add_whatif_routes

log = logging.getLogger("attain.portal")
HERE = Path(__file__).parent
KEEPALIVE_SECONDS = 15.0
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
}
# Served gzip-compressed when the browser accepts it (a rep home and its resources stay under 150 KB on the wire,
# docs/portal.md). Not the SSE stream (text/event-stream): each delta must leave at once, not wait in a compressor.
COMPRESSED_TYPES = frozenset({"text/html", "text/css", "text/javascript", "application/javascript",
                              "application/json", "application/manifest+json", "image/svg+xml"})
COMPRESSED_FILES = (".css", ".js", ".svg", ".json", ".webmanifest")  # a file's type is known only once it is sent
# Paths that never show or need a session: no database round trip for them, cookie or not.
SESSIONLESS = ("/static/", "/health/", "/metrics", "/sw.js", "/manifest.webmanifest")
LINE_ENDS = re.compile(r"[\r\n]")
# The request's session (or None), looked up once per request by the middleware in add_routes.
SESSION_KEY: web.RequestKey[Session | None] = web.RequestKey("session")


def sse_event(kind: str, html: str, event_id: int | None = None) -> bytes:
    """One Server-Sent Event carrying ``html`` on a single ``data:`` line.

    SSE ends a line at CR, LF or CRLF, so each of them is taken out of the fragment (the templates' own line
    breaks, and any a CRM text such as a deal name carries): one left in would end the ``data:`` line early and
    let the rest read as fields of its own (``event: ...``, ``data: ...``), a spoofed event in the rep's feed.
    """
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {LINE_ENDS.sub('', html)}\n\n".encode()


class Rendered:
    """Each pushed item's SSE event as one reader reads it (language, locale), made once for every stream that
    reads it so (a rep's page open on several devices, a team's manager, an admin's screen) and kept for the
    newest ``size`` items. An entry holds its item, so an ``id`` in a key is never a newer item's.

    >>> rendered, made = Rendered(2), []
    >>> item = object()
    >>> [rendered.event(item, "en", "en-IN", lambda: made.append(1) or b"x") for _ in range(3)], len(made)
    ([b'x', b'x', b'x'], 1)
    """

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._events: OrderedDict[tuple[int, str, str], tuple[object, bytes]] = OrderedDict()

    def event(self, item: object, language: str, locale: str, make: Callable[[], bytes]) -> bytes:
        key = (id(item), language, locale)
        held = self._events.get(key)
        if held is not None:
            self._events.move_to_end(key)
            return held[1]
        made = make()
        self._events[key] = (item, made)
        if len(self._events) > self._size:
            self._events.popitem(last=False)
        return made


@web.middleware
async def compress(request: web.Request, handler: Any) -> web.StreamResponse:
    """Compress text responses (pages carry their CSRF token masked per rendering, see auth.py)."""
    response: web.StreamResponse = await handler(request)
    wanted = (request.path.endswith(COMPRESSED_FILES) if isinstance(response, web.FileResponse)
              else response.content_type in COMPRESSED_TYPES)
    if wanted and not response.prepared and "Content-Encoding" not in response.headers:
        gzip = "gzip" in request.headers.get("Accept-Encoding", "").lower()  # else deflate, if accepted
        response.enable_compression(web.ContentCoding.gzip if gzip else None)
        response.headers["Vary"] = "Accept-Encoding"
    return response


@dataclass
class Portal:
    engine: Engine
    book: PlanBook | None
    ledger: Ledger
    sessions: Sessions
    verifier: TokenVerifier
    oidc: OidcClient
    hub: Hub
    base_url: str
    default_locale: str
    session_seconds: int
    off_pace: Decimal = DEFAULT_OFF_PACE  # managers' pages: projected attainment below it is off pace
    keepalive_seconds: float = KEEPALIVE_SECONDS  # a stream's keep-alive, and how often it re-checks its session
    login_limit: PerAddress = field(default_factory=lambda: PerAddress(LOGIN_RATE))  # sign-ins per address
    proxy_hops: int = 0  # trusted proxies appending to X-Forwarded-For (services/portal/throttle.py)

    @property
    def secure(self) -> bool:
        return self.base_url.startswith("https://")


def templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = page.when
    return env


def add_routes(app: web.Application, portal: Portal) -> None:
    env = templates()
    rendered = Rendered()  # the live streams' events: one rendering per item and reader's language

    def reader(request: web.Request) -> tuple[str, str, Any]:
        language, locale = preferred(request.headers.get("Accept-Language"), portal.default_locale)
        return language, locale, translator(language)

    @web.middleware
    async def with_session(request: web.Request, handler: Any) -> web.StreamResponse:
        """Look the session up once per request, off the event loop, and keep it on the request.

        ``sessions.of`` is a PostgreSQL round trip: run on the loop it would stall every page and live stream
        whenever the pool is busy, and a page needs the session twice (the handler and the template).
        """
        looked_up = request.cookies.get(SESSION_COOKIE) and not request.path.startswith(SESSIONLESS)
        session: Session | None = await asyncio.to_thread(portal.sessions.of, request) if looked_up else None
        request[SESSION_KEY] = session
        response: web.StreamResponse = await handler(request)
        return response

    def render(request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
        language, locale, _ = reader(request)
        body = env.get_template(name).render(_=_, language=language, locale=locale,
                                             session=request.get(SESSION_KEY), **context)
        return web.Response(text=body, content_type="text/html", status=status,
                            headers={**SECURITY_HEADERS, "Cache-Control": "no-store"})

    def signed_in(request: web.Request) -> Session:
        session: Session | None = request.get(SESSION_KEY)
        if session is None:
            raise web.HTTPFound("/login")
        return session

    async def refused(request: web.Request, error: Refused) -> web.Response:
        if error.status == 401:  # the token expired: sign in again
            await asyncio.to_thread(portal.sessions.close, request)
            raise web.HTTPFound("/login")
        _ = reader(request)[2]
        if error.status in (400, 422):  # what was asked is not valid (an id out of range, a bad value)
            return render(request, "error.html", status=400, status_code=400, heading=_("Not valid"),
                          message=_("The ledger refused this request as not valid."))
        if error.status == 429:
            return render(request, "error.html", status=429, status_code=429, heading=_("Too many requests"),
                          message=_("Please wait a minute, then try again."))
        status = error.status if error.status in (403, 404, 503) else 502
        return render(request, "error.html", status=status, status_code=status)

    async def checked_form(request: web.Request, session: Session) -> Any:
        form = await request.post()
        why = csrf_refusal(request, session, form, portal.base_url)
        if why:
            log.warning("form refused", extra={"reason": why, "subject": session.identity.subject})
            raise web.HTTPForbidden(text=why)
        return form

    async def home(request: web.Request) -> web.Response:
        session = signed_in(request)
        if "rep" in session.identity.roles:
            raise web.HTTPFound(f"/reps/{session.identity.subject}")
        if "manager" in session.identity.roles:
            raise web.HTTPFound("/team")
        rep = request.query.get("rep", "").strip()
        if rep:
            raise web.HTTPFound(f"/reps/{quote(rep, safe='')}")
        return render(request, "home.html")

    async def login(request: web.Request) -> web.Response:
        address = client_address(request.remote, request.headers.get("X-Forwarded-For"), portal.proxy_hops)
        retry = portal.login_limit.retry_after(address)
        if retry is not None:  # each sign-in writes a row, for anyone: a loop of them must not fill the table
            log.warning("sign-in refused: too many from one address", extra={"remote": address})
            response = render(request, "error.html", status=429, status_code=429)
            response.headers["Retry-After"] = str(retry)
            return response
        state, verifier = await asyncio.to_thread(portal.sessions.start_login)
        hint = request.query.get("login_hint") or None
        location = await portal.oidc.authorization_url(state, verifier, hint)
        response = web.HTTPFound(location)
        response.set_cookie(LOGIN_COOKIE, state, **cookie_options(portal.secure, LOGIN_SECONDS))
        raise response

    async def callback(request: web.Request) -> web.Response:
        state, code = request.query.get("state", ""), request.query.get("code", "")
        verifier = (await asyncio.to_thread(portal.sessions.finish_login, state)
                    if state == request.cookies.get(LOGIN_COOKIE) else None)
        if not code or verifier is None:
            return render(request, "error.html", status=400, status_code=400)
        try:
            token = await portal.oidc.exchange(code, verifier)
            sid, session = await open_session(portal.sessions, portal.verifier, token, portal.session_seconds)
        except Exception as error:  # noqa: BLE001 - any failed exchange (AuthError, OAuth errors) is a failed sign-in
            log.warning("sign-in failed", extra={"reason": type(error).__name__})
            return render(request, "error.html", status=401, status_code=401)
        log.info("signed in", extra={"subject": session.identity.subject})
        response = web.HTTPFound("/")
        response.set_cookie(SESSION_COOKIE, sid, **cookie_options(portal.secure, portal.session_seconds))
        response.del_cookie(LOGIN_COOKIE, path="/")
        raise response

    async def logout(request: web.Request) -> web.Response:
        session = signed_in(request)
        await checked_form(request, session)
        await asyncio.to_thread(portal.sessions.close, request)
        response = web.HTTPFound("/signed-out")
        response.del_cookie(SESSION_COOKIE, path="/")
        raise response

    async def signed_out(request: web.Request) -> web.Response:
        return render(request, "signed_out.html")

    async def rep_home(request: web.Request) -> web.Response:
        session = signed_in(request)
        rep_id = request.match_info["rep_id"]
        try:  # the ledger decides (and logs) whether this person may see this rep: 404 otherwise
            entries = await portal.ledger.entries(session.token, rep_id)
        except Refused as error:
            return await refused(request, error)
        _language, locale, _ = reader(request)
        snapshots = page.periods(await asyncio.to_thread(snapshots_of, portal.engine, rep_id))
        chosen = request.query.get("period") or (snapshots[0].period if snapshots else "")
        if chosen and not any(s.period == chosen for s in snapshots):
            try:  # a period asked for by name must be one of the rep's calendar (nothing is recorded as seen else)
                period_bounds(chosen, portal.book.fiscal_start(rep_id) if portal.book is not None else 1)
            except PeriodError:
                _ = reader(request)[2]
                return render(request, "error.html", status=400, status_code=400, heading=_("Not a period"),
                              message=_("%(period)s is not a period: write 2026-Q1, 2026-01, 2026-H1 or 2026",
                                        period=chosen[:40]))
        current = next((s for s in snapshots if s.period == chosen), None)
        changes = await asyncio.to_thread(changes_of, portal.engine, rep_id)
        opportunities = await asyncio.to_thread(open_opportunities, portal.engine, rep_id)
        names = {o["record_id"]: str(o["name"]) for o in opportunities}
        names.update({c.record_id: name for c in changes
                      if isinstance(name := json.loads(c.fields.get("name") or "null"), str)})
        deltas = await asyncio.to_thread(deltas_of, portal.engine, rep_id, chosen) if chosen else []
        changed = await asyncio.to_thread(changes_for_view, portal.engine, rep_id, chosen, entries,
                                          session.identity.subject) if chosen else []
        notices = await asyncio.to_thread(notifications_of, portal.engine, rep_id)
        return render(
            request, "rep.html", rep_id=rep_id, period=chosen, snapshot=current,
            as_of=current.computed_at if current else int(time.time() * 1000),
            summary=page.money_summary(rep_id, chosen, entries, locale) if chosen else [],
            measures=page.measures(portal.book, current, locale, _) if current else [],
            deals=page.deals(portal.book, changes, rep_id, chosen, names, locale) if chosen else [],
            deltas=[page.delta_view(d, locale, _) for d in deltas], history=snapshots,
            opportunities=[page.opportunity_view(o, locale) for o in opportunities],
            lines=page.lines_of(entries, chosen, locale),
            changed=[change_view(change, locale, _) for change in changed],
            notifications=[milestone_view(n, locale) for n in notices],
            total=lambda snapshot: page.total_of(snapshot, locale))

    async def events(request: web.Request) -> web.StreamResponse:
        session = signed_in(request)
        rep_id = request.match_info["rep_id"]
        try:  # the same door as the notifier's stream: admitted and logged by the ledger first
            await portal.ledger.record_stream(session.token, rep_id)
        except Refused as error:
            return await refused(request, error)
        language, locale, _ = reader(request)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                               "X-Accel-Buffering": "no"})
        await response.prepare(request)
        await response.write(b": stream open\n\n")
        transport = request.transport
        queue = portal.hub.subscribe(rep_id, transport.abort if transport is not None else None)
        fragment, milestone = env.get_template("delta.html"), env.get_template("milestone.html")
        loop = asyncio.get_running_loop()
        checked_at = loop.time()
        try:
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), portal.keepalive_seconds)
                except TimeoutError:
                    item = None
                if item is Closed:
                    break
                due = loop.time() - checked_at >= portal.keepalive_seconds or time.time() >= session.expires
                if item is None or due:
                    # access was checked when the stream opened: it ends with the session, signed out on any
                    # replica or expired, found at the next keep-alive (or push, once one is due or it expired)
                    if await asyncio.to_thread(portal.sessions.of, request) is None:
                        log.info("stream ended: the session is over", extra={"subject": session.identity.subject})
                        break
                    checked_at = loop.time()
                if item is None:
                    await response.write(b": keepalive\n\n")
                elif isinstance(item, NotificationRecord):  # a milestone, in the reader's language
                    await response.write(rendered.event(item, language, locale, lambda item=item: sse_event(
                        "milestone", milestone.render(m=milestone_view(item, locale)))))
                else:
                    assert isinstance(item, page.Delta)
                    await response.write(rendered.event(item, language, locale, lambda item=item: sse_event(
                        "delta", fragment.render(delta=page.delta_view(item, locale, _), _=_), item.snapshot_version)))
                    PUSHED.inc()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            portal.hub.unsubscribe(rep_id, queue)
        with contextlib.suppress(ConnectionResetError):
            await response.write_eof()
        return response

    async def statement(request: web.Request) -> web.Response:
        session = signed_in(request)
        rep_id, period = request.match_info["rep_id"], request.match_info["period"]
        try:
            pdf = await portal.ledger.statement_pdf(session.token, rep_id, period)
        except Refused as error:
            return await refused(request, error)
        return web.Response(body=pdf, content_type="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="statement-{rep_id}-{period}.pdf"',
            "Cache-Control": "no-store"})

    async def new_dispute(request: web.Request) -> web.Response:
        session = signed_in(request)
        form = await checked_form(request, session)
        try:
            entry_id = int(str(form.get("entry_id", "")))
            created = await portal.ledger.raise_dispute(session.token, entry_id, str(form.get("comment", "")))
        except ValueError:
            return render(request, "error.html", status=400, status_code=400)
        except Refused as error:
            return await refused(request, error)
        raise web.HTTPSeeOther(f"/disputes/{created['dispute_id']}")

    async def show_dispute(request: web.Request) -> web.Response:
        session = signed_in(request)
        try:
            dispute = await portal.ledger.dispute(session.token, int(request.match_info["dispute_id"]))
        except Refused as error:
            return await refused(request, error)
        return render(request, "dispute.html", dispute=dispute)

    async def manifest(request: web.Request) -> web.Response:
        _language, _locale, _ = reader(request)
        return web.json_response({
            "name": "Attain", "short_name": "Attain", "start_url": "/", "scope": "/", "display": "standalone",
            "background_color": "#ffffff", "theme_color": "#0b5394", "description": _("Your pay, live"),
            "icons": [{"src": "/static/icon.svg", "sizes": "any", "type": "image/svg+xml"}],
        }, content_type="application/manifest+json")

    async def service_worker(_: web.Request) -> web.FileResponse:
        return web.FileResponse(HERE / "static" / "sw.js", headers={
            "Content-Type": "text/javascript", "Service-Worker-Allowed": "/", "Cache-Control": "no-cache"})

    routes = [("GET", "/", home), ("GET", "/login", login), ("GET", "/auth/callback", callback),
              ("POST", "/logout", logout), ("GET", "/signed-out", signed_out), ("GET", "/reps/{rep_id}", rep_home),
              ("GET", "/reps/{rep_id}/events", events), ("GET", "/reps/{rep_id}/statements/{period}.pdf", statement),
              ("POST", "/disputes", new_dispute), ("GET", "/disputes/{dispute_id:\\d+}", show_dispute),
              ("GET", "/manifest.webmanifest", manifest), ("GET", "/sw.js", service_worker)]
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    add_whatif_routes(app, portal, render=render, signed_in=signed_in, checked_form=checked_form, refused=refused,
                      reader=reader)
    add_admin_routes(app, portal, render=render, signed_in=signed_in, checked_form=checked_form, refused=refused)
    app.router.add_static("/static", HERE / "static", append_version=False)
    app.middlewares.append(compress)
    app.middlewares.append(with_session)
    add_manager_routes(app, portal, render=render, signed_in=signed_in, refused=refused, checked_form=checked_form)
