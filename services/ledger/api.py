"""HTTP/JSON API of the ledger: entries, statements, periods, approvals, payouts, disputes, audit export.

Every route needs a bearer token; reads of a rep's data check
:func:`~attain.ledger.access.can_read_rep`, admin actions an admin role.
Database work runs in threads so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from aiohttp import web
from sqlalchemy import Engine

from attain.ledger.access import Principal, can_read_rep
from attain.ledger.approvals import Actor, ApprovalError
from attain.ledger.periods import PeriodError
from services.ledger.audit import export_period_zip
from services.ledger.auth import AuthError, principal_from_header
from services.ledger.config import LedgerSettings
from services.ledger.disputes import DisputeError, dispute_history, raise_dispute, resolve_dispute
from services.ledger.payouts import export_csv, export_xlsx, lines_of
from services.ledger.period_service import approval_history, decide, list_periods, lock_period, mark_paid
from services.ledger.postings import PostingError, post_manual
from services.ledger.queries import entries_of, rep_facts
from services.ledger.statements import statement, statement_pdf

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RULE_ERRORS = (ApprovalError, PeriodError, PostingError, DisputeError)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda value: json.dumps(value, default=str))


def add_api_routes(app: web.Application, engine: Engine, settings: LedgerSettings) -> None:
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
    chain = settings.chain

    def principal(request: web.Request) -> Principal:
        try:
            return principal_from_header(request.headers.get("Authorization"), secret, settings.jwt_audience)
        except AuthError as error:
            raise web.HTTPUnauthorized(text=str(error), headers={"WWW-Authenticate": "Bearer"}) from None

    def require_admin(who: Principal) -> None:
        if not who.is_admin:
            raise web.HTTPForbidden(text=f"{who.user_id} holds no admin role")

    async def require_rep(who: Principal, rep_id: str) -> None:
        facts = await asyncio.to_thread(rep_facts, engine, rep_id)
        if not can_read_rep(who, facts):
            raise web.HTTPForbidden(text=f"{who.user_id} may not read the data of {rep_id}")

    async def rep_entries(request: web.Request) -> web.Response:
        who, rep_id = principal(request), request.match_info["rep_id"]
        await require_rep(who, rep_id)
        return _json(await asyncio.to_thread(entries_of, engine, rep_id, request.query.get("period")))

    async def rep_statement(request: web.Request) -> web.StreamResponse:
        who, rep_id, period = principal(request), request.match_info["rep_id"], request.match_info["period"]
        await require_rep(who, rep_id)
        document = await asyncio.to_thread(statement, engine, rep_id, period.removesuffix(".pdf"))
        if period.endswith(".pdf"):
            return web.Response(body=statement_pdf(document), content_type="application/pdf")
        return _json(document)

    async def periods_index(request: web.Request) -> web.Response:
        require_admin(principal(request))
        return _json(await asyncio.to_thread(list_periods, engine))

    async def period_action(request: web.Request) -> web.Response:
        who = principal(request)
        scope, period, action = (request.match_info[k] for k in ("scope", "period", "action"))
        body = await request.json() if request.can_read_body else {}
        if action == "approvals" and request.method == "GET":
            require_admin(who)
            return _json(await asyncio.to_thread(approval_history, engine, scope, period))
        if action == "approvals":
            actor = Actor(who.user_id, who.roles)
            view = await asyncio.to_thread(decide, engine, scope, period, actor, bool(body.get("approve")),
                                           str(body.get("comment", "")), chain)
            return _json({"state": view.state, "next_step": view.next_step})
        require_admin(who)
        if action == "lock":
            return _json({"state": await asyncio.to_thread(lock_period, engine, scope, period, who.user_id)})
        if action == "paid":
            return _json({"state": await asyncio.to_thread(mark_paid, engine, scope, period, who.user_id)})
        raise web.HTTPNotFound(text=f"no period action {action!r}: lock, approvals, paid")

    async def payouts_export(request: web.Request) -> web.Response:
        require_admin(principal(request))
        scope, period, fmt = request.match_info["scope"], request.match_info["period"], request.match_info["fmt"]
        lines = await asyncio.to_thread(lines_of, engine, scope, period)
        if fmt == "xlsx":
            return web.Response(body=export_xlsx(lines), content_type=(
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
        if fmt == "csv":
            return web.Response(text=export_csv(lines), content_type="text/csv")
        return _json(lines)

    async def audit_export(request: web.Request) -> web.Response:
        require_admin(principal(request))
        period = request.match_info["period"]
        body = await asyncio.to_thread(export_period_zip, engine, period)
        return web.Response(body=body, content_type="application/zip", headers={
            "Content-Disposition": f'attachment; filename="audit-{period}.zip"'})

    async def manual_entry(request: web.Request) -> web.Response:
        who = principal(request)
        require_admin(who)
        body = await request.json()
        entry_id = await asyncio.to_thread(
            post_manual, engine, actor_id=who.user_id, rep_id=body["rep_id"], scope=body["scope"],
            period=body["period"], component_id=body.get("component_id", "manual"), kind=body.get("kind", "manual"),
            amount=str(body["amount"]), currency=body["currency"], reason=body.get("reason", ""),
            idempotency_key=f"manual:{body['idempotency_key']}")
        return _json({"entry_id": entry_id}, status=201)

    async def new_dispute(request: web.Request) -> web.Response:
        who = principal(request)
        body = await request.json()
        dispute_id = await asyncio.to_thread(raise_dispute, engine, int(body["entry_id"]), who.user_id,
                                             str(body.get("comment", "")))
        return _json({"dispute_id": dispute_id}, status=201)

    async def show_dispute(request: web.Request) -> web.Response:
        who = principal(request)
        history = await asyncio.to_thread(dispute_history, engine, int(request.match_info["dispute_id"]))
        await require_rep(who, history["rep_id"])
        return _json(history)

    async def resolve(request: web.Request) -> web.Response:
        who = principal(request)
        require_admin(who)
        body = await request.json()
        adjustment = Decimal(str(body["adjustment"])) if body.get("adjustment") is not None else None
        status = await asyncio.to_thread(resolve_dispute, engine, int(request.match_info["dispute_id"]),
                                         who.user_id, str(body.get("comment", "")), adjustment=adjustment,
                                         scope=body.get("scope"), period=body.get("period"))
        return _json({"status": status})

    def guarded(handler: Handler) -> Handler:
        async def run(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except RULE_ERRORS as error:
                return _json({"error": str(error)}, status=409)
            except (KeyError, ValueError) as error:
                return _json({"error": f"bad request: {error}"}, status=400)
        return run

    router = app.router
    router.add_get("/v1/reps/{rep_id}/entries", guarded(rep_entries))
    router.add_get("/v1/reps/{rep_id}/statements/{period}", guarded(rep_statement))
    router.add_get("/v1/periods", guarded(periods_index))
    router.add_route("*", "/v1/periods/{scope}/{period}/{action}", guarded(period_action))
    router.add_get("/v1/payouts/{scope}/{period}.{fmt}", guarded(payouts_export))
    router.add_get("/v1/audit/{period}.zip", guarded(audit_export))
    router.add_post("/v1/entries", guarded(manual_entry))
    router.add_post("/v1/disputes", guarded(new_dispute))
    router.add_get("/v1/disputes/{dispute_id}", guarded(show_dispute))
    router.add_post("/v1/disputes/{dispute_id}/resolution", guarded(resolve))
