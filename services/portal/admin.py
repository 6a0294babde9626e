"""The comp admin's and finance's pages: the period-close board (``/admin``), its actions and one-click exports.

The portal decides nothing here. The page is shown only to a verified token holding an admin role (a rep or a
manager gets 403), but every figure and every action comes from the ledger called with the signed-in person's own
token, so the ledger's policy decides again (an admin of the period's regions, separation of duties, never an
entry or resolution paying its author) and writes the audit record of each action. Dead letters are counted from
their topics and re-driven by ingest (``POST /v1/dlq/replay``, the call of ``attain dlq replay``) with the same
token: ingest admits a comp admin of every region (docs/security.md).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import httpx
from aiohttp import web

from attain.platform.settings import KafkaSettings, load_settings
from services.ingest.access import REPLAYING_PEOPLE
from services.ingest.client import ReplayRefused, request_replay
from services.portal.auth import Session
from services.portal.config import PortalSettings
from services.portal.dead_letter_view import DeadLetterView
from services.portal.ledger_client import Refused, period_path, segment

log = logging.getLogger("attain.portal")


def _(message: str) -> str:
    """Marks a text for the catalogues; the page translates it in the reader's language."""
    return message


EXPORTS = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
           "json": "application/json"}
STEP_HOLDERS = {"manager": _("a manager of the period's reps"), "comp_admin": _("a comp admin other than the preparer"),
                "finance": _("finance")}



Render = Callable[..., web.Response]
Form = Callable[[web.Request, Session], Coroutine[Any, Any, Any]]


def add_admin_routes(app: web.Application, portal: Any, *, render: Render, signed_in: Callable[[web.Request], Session],
                     checked_form: Form, refused: Callable[[web.Request, Refused], Awaitable[web.Response]]) -> None:
    """The board's routes on ``app``; ``portal`` is the :class:`services.portal.web.Portal`, the rest the pages'
    own helpers (render a template, the signed-in session, a CSRF-checked form, a ledger refusal's page)."""
    settings = PortalSettings()
    kafka = load_settings(KafkaSettings)
    counted = [t.strip() for t in settings.dead_letter_topics.split(",") if t.strip()]
    replay_topics = {t.strip() for t in settings.replay_topics.split(",") if t.strip()}
    # one view per topic for the process, each load reading on from where the last stopped
    views = {topic: DeadLetterView(kafka, topic, replayable=topic in replay_topics)
             for topic in [*counted, *sorted(replay_topics)]}

    def admin(request: web.Request) -> Session:
        """The signed-in admin's session; 403 for anyone else (the ledger refuses them again on every call)."""
        session = signed_in(request)
        if not session.identity.is_admin:
            log.warning("admin page refused", extra={"subject": session.identity.subject, "path": request.path})
            raise web.HTTPForbidden(text="the admin pages are for comp admins and finance")
        return session

    def outcome(request: web.Request, message: str, status: int = 200, **context: Any) -> web.Response:
        return render(request, "admin_done.html", status=status, message=message, **context)

    async def act(request: web.Request, method: str, path: str, done: str, shown: str, **body: Any) -> web.Response:
        """An admin action made at the ledger with the person's token: the page saying it is done (with the answer's
        ``shown`` field), or why not (the ledger's reason for a rule of its state or the input)."""
        session = admin(request)
        try:
            answer = await portal.ledger.json_of(method, path, session.token, **body)
        except Refused as error:
            if error.status in (400, 409, 422):
                return outcome(request, str(error), status=error.status, refused=True)
            return await refused(request, error)
        return outcome(request, done, state=str(answer[shown]))

    async def board(request: web.Request) -> web.Response:
        session = admin(request)
        try:
            periods = await portal.ledger.json_of("GET", "/v1/periods", session.token)
            disputes = await portal.ledger.json_of("GET", "/v1/admin/disputes", session.token)
            recomputes = await portal.ledger.json_of("GET", "/v1/admin/recomputes", session.token)
            for period in periods:
                period["decisions"] = await portal.ledger.json_of(
                    "GET", f"{period_path(period['scope'], period['period'])}/approvals", session.token)
                period["holder"] = STEP_HOLDERS.get(period.get("next_step") or "", period.get("next_step"))
        except Refused as error:
            return await refused(request, error)
        topics = await asyncio.gather(*(asyncio.to_thread(views[topic].load) for topic in counted))
        return render(request, "admin.html", periods=periods, disputes=disputes, recomputes=recomputes,
                      topics=topics, formats=sorted(EXPORTS), replay_scope=_can_replay(session),
                      manual_key=uuid.uuid4().hex)

    def _period_path(request: web.Request) -> str:
        return period_path(request.match_info["scope"], request.match_info["period"])

    async def lock(request: web.Request) -> web.Response:
        await checked_form(request, admin(request))
        return await act(request, "POST", f"{_period_path(request)}/lock", _("Period locked"), "state")

    async def paid(request: web.Request) -> web.Response:
        await checked_form(request, admin(request))
        return await act(request, "POST", f"{_period_path(request)}/paid", _("Period marked paid"), "state")

    async def decide(request: web.Request) -> web.Response:
        form = await checked_form(request, admin(request))
        return await act(request, "POST", f"{_period_path(request)}/approvals", _("Decision recorded"), "state",
                         json={"approve": form.get("approve") == "yes", "comment": str(form.get("comment", ""))})

    async def resolve(request: web.Request) -> web.Response:
        form = await checked_form(request, admin(request))
        body: dict[str, Any] = {"comment": str(form.get("comment", ""))}
        if str(form.get("adjustment", "")).strip():
            body["adjustment"] = str(form["adjustment"]).strip()
        return await act(request, "POST", f"/v1/disputes/{request.match_info['dispute_id']}/resolution",
                         _("Dispute resolved"), "status", json=body)

    async def manual(request: web.Request) -> web.Response:
        form = await checked_form(request, admin(request))
        body = {name: str(form.get(name, "")).strip() for name in
                ("rep_id", "scope", "period", "component_id", "kind", "amount", "currency", "reason")}
        # the form's own key: a form sent twice books one entry (the ledger's idempotency by key)
        body["idempotency_key"] = str(form.get("key") or uuid.uuid4())
        return await act(request, "POST", "/v1/entries", _("Entry posted"), "entry_id", json=body)

    async def export(request: web.Request, path: str, filename: str) -> web.StreamResponse:
        session = admin(request)
        try:
            answer = await portal.ledger.export(session.token, path)
        except Refused as error:
            if error.status == 409:
                return outcome(request, str(error), status=409, refused=True)
            return await refused(request, error)
        response = web.StreamResponse(headers={
            "Content-Type": answer.headers.get("Content-Type", "application/octet-stream"),
            "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})
        await response.prepare(request)
        for start in range(0, len(answer.content), 64 * 1024):
            await response.write(answer.content[start:start + 64 * 1024])
        await response.write_eof()
        return response

    async def payroll(request: web.Request) -> web.StreamResponse:
        scope, period, fmt = (request.match_info[name] for name in ("scope", "period", "fmt"))
        if fmt not in EXPORTS:
            raise web.HTTPNotFound()
        return await export(request, f"/v1/payouts/{segment(scope)}/{segment(period)}.{fmt}",
                            f"payroll-{scope}-{period}.{fmt}")

    async def audit_pack(request: web.Request) -> web.StreamResponse:
        period = request.match_info["period"]
        return await export(request, f"/v1/audit/{segment(period)}.zip", f"audit-{period}.zip")

    async def replay(request: web.Request) -> web.Response:
        session = admin(request)
        form = await checked_form(request, session)
        topic = str(form.get("topic", ""))
        if topic not in replay_topics:
            return outcome(request, _("This topic is not replayed here"), status=400, refused=True)
        positions = [str(p) for p in form.getall("position", [])]
        code = str(form.get("error_code", "")) or None
        if not positions and code is None:
            return outcome(request, _("Choose the dead letters to replay"), status=400, refused=True)
        if code is not None:  # every letter with that code, as `attain dlq replay --error-code CODE`
            positions = await asyncio.to_thread(views[topic].positions, code)
        if not positions:
            return outcome(request, _("Choose the dead letters to replay"), status=400, refused=True)
        try:  # ingest decides who may replay (a comp admin of every region) and re-validates each letter
            result = await asyncio.to_thread(request_replay, settings.ingest_url, session.token, topic, positions)
        except ReplayRefused as error:
            if error.status == 429:  # ingest replays one request at a time; the client waited its Retry-After
                return outcome(request, _("Ingest is replaying other dead letters: try again in a minute"),
                               status=429, refused=True)
            status = error.status if error.status in (400, 403, 413) else 502
            return outcome(request, str(error), status=status, refused=True)
        except httpx.HTTPError as error:
            return outcome(request, f"ingest cannot be reached: {type(error).__name__}", status=503, refused=True)
        log.info("dead letters replayed", extra={"subject": session.identity.subject, "topic": topic,
                                                  "positions": len(positions)})
        return render(request, "admin_replayed.html", topic=topic, result=result)

    period = "/admin/periods/{scope}/{period}"
    routes = [("GET", "/admin", board), ("POST", f"{period}/lock", lock), ("POST", f"{period}/paid", paid),
              ("POST", f"{period}/approvals", decide), ("GET", f"{period}/payroll.{{fmt}}", payroll),
              ("GET", "/admin/audit/{period}.zip", audit_pack),
              ("POST", "/admin/disputes/{dispute_id:\\d+}/resolution", resolve), ("POST", "/admin/entries", manual),
              ("POST", "/admin/dlq/replay", replay)]
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)


def _can_replay(session: Session) -> bool:
    """Whether ingest will take a replay from this person (a comp admin or admin of every region)."""
    identity = session.identity
    return bool(identity.roles & REPLAYING_PEOPLE) and "*" in identity.regions
