"""HTTP/JSON API of the ledger: entries, statements, periods, approvals, payouts, disputes, audit export.

Every route needs a bearer token verified by the OpenID Connect verifier (:func:`authenticate`, the
one place a token becomes a :class:`~attain.ledger.access.Principal`) and counts against the
caller's rate limit (429 with Retry-After). Every read and write is authorised by the one policy,
:mod:`attain.ledger.access`: a rep reads their own data, a manager their network, an admin their
regions (reads and writes alike), nobody posts an entry or resolution that pays themselves. Permission
is checked before anything is looked up, so a resource the caller may not see and one that does not
exist get the same 404. Every read of someone's pay is appended to the access log (no amounts).

Input is declared in :mod:`services.ledger.api_models` and validated by aiohttp-pydantic
before a handler runs; the OpenAPI document is generated from the same declarations
(:func:`openapi_document`, served at ``/openapi.json``, committed as ``docs/openapi/ledger.json``).
Every refusal is JSON ``{"error": reason}`` with a fitting status (:func:`status_of`): 400 for a
body that is not JSON, 401/403 for auth, 404 for what does not exist or is not the caller's, 409 for a rule the
ledger's state forbids, 413 for a body over the limit, 422 for input outside its declaration, 429 over the rate limit,
503 while PostgreSQL is unreachable. Database work runs in threads so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from decimal import Decimal
from typing import Any

from aiohttp import web
from aiohttp_pydantic.decorator import inject_params
from aiohttp_pydantic.oas.pydantic_schema_to_oas import add_or_replace_translater, pydantic_schema_to_oas_3_1
from aiohttp_pydantic.oas.typing import r200, r201, r400, r401, r403, r404, r409, r413, r422, r429, r503
from aiohttp_pydantic.oas.view import generate_oas
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy import exc as db_errors

from attain.core.money import MoneyError
from attain.core.periods import PeriodError as PeriodNameError
from attain.core.plans import PlanBook
from attain.ledger.access import (
    UNASSIGNED_REGION,
    PeriodFacts,
    Principal,
    RepFacts,
    access_log_regions,
    can_administer_period,
    can_read_access_log,
    can_read_rep,
    can_take_step,
    covers_regions,
    pays_themselves,
)
from attain.ledger.approvals import Actor, ApprovalError
from attain.ledger.periods import PeriodError
from attain.platform.settings import KafkaSettings
from services.ledger.admin_reads import admin_reads
from services.ledger.api_models import (
    AccessRecord,
    Decision,
    EntityId,
    LedgerPeriod,
    ManualEntry,
    NewDispute,
    PayoutFormat,
    Problem,
    RepId,
    Resolution,
    RowLimit,
    Scope,
)
from services.ledger.audit import export_period_zip
from services.ledger.auth import AuthError, LedgerGuard, NotAPerson
from services.ledger.config import LedgerSettings
from services.ledger.disputes import (
    DisputeError,
    UnknownDispute,
    adjustment_target,
    dispute_history,
    dispute_rep,
    entry_changes,
    raise_dispute,
    resolve_dispute,
)
from services.ledger.payouts import PayrollNotReady, approved_lines, export_csv, export_xlsx
from services.ledger.period_close import current_plan_book, plan_book
from services.ledger.period_service import (
    approval_history,
    decide,
    list_periods,
    lock_period,
    mark_paid,
    period_view,
)
from services.ledger.postings import ClosedPeriod, IdempotencyConflict, PostingError, post_manual
from services.ledger.queries import (
    access_rows,
    entries_of,
    entry_owner,
    period_facts,
    record_access,
    regions_of,
    rep_facts,
    rep_known,
)
from services.ledger.statements import statement, statement_pdf
from services.ledger.team_api import team_routes

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CALLER: ContextVar[Principal] = ContextVar("attain_ledger_caller")  # who is calling; set before a handler runs
SECURITY_SCHEMES = {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
RETRY_AFTER_SECONDS = "5"

# The statuses every authenticated route may answer besides its success, for the OpenAPI document.
Refused = r400[Problem] | r401[Problem] | r403[Problem] | r422[Problem] | r429[Problem] | r503[Problem]
Ruled = r404[Problem] | r409[Problem] | r413[Problem]


class Refusal(Exception):
    """A request refused before its handler: status, reason and headers for the answer."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.headers = status, reason, headers or {}


async def authenticate(request: web.Request, guard: LedgerGuard) -> Principal:
    """The caller of ``request`` from its bearer token: a 401 :class:`Refusal` without valid
    credentials, 403 for a token that names no person's role, 429 over the caller's rate limit.

    The one place a request becomes a principal.
    """
    try:
        who = await guard.principal(request.headers.get("Authorization"))
    except AuthError as error:
        raise Refusal(401, str(error), {"WWW-Authenticate": "Bearer"}) from None
    except NotAPerson as error:
        raise Refusal(403, str(error)) from None
    retry = guard.retry_after(who)
    if retry is not None:
        raise Refusal(429, f"{who.user_id} is over the ledger's rate limit; retry after {retry} s",
                      {"Retry-After": str(retry)})
    return who


def status_of(error: Exception) -> int | None:
    """The HTTP status of a domain or database error; None for a fault of the ledger itself."""
    if isinstance(error, UnknownDispute):
        return 404
    if isinstance(error, ClosedPeriod | IdempotencyConflict):
        return 409
    if isinstance(error, PostingError | MoneyError | PeriodNameError | db_errors.DataError):
        return 422
    if isinstance(error, ApprovalError | PeriodError | DisputeError | PayrollNotReady | db_errors.IntegrityError):
        return 409
    if isinstance(error, db_errors.OperationalError | db_errors.InterfaceError | db_errors.TimeoutError
                  | db_errors.DisconnectionError):
        return 503
    return None


def reason_of(error: Exception, status: int) -> str:
    """What the caller reads: a domain error's own words; for the database, its one-line reason, never SQL."""
    if status == 503:
        return "the ledger database is unreachable; retry later"
    if isinstance(error, db_errors.DBAPIError):
        diagnosis = getattr(getattr(error.orig, "diag", None), "message_primary", None)
        return f"the database refused this: {diagnosis or type(error.orig).__name__}"
    return str(error)


def problem(status: int, reason: str, details: list[dict[str, Any]] | None = None,
            headers: dict[str, str] | None = None) -> web.Response:
    body: dict[str, Any] = {"error": reason}
    if details is not None:
        body["details"] = details
    return web.json_response(body, status=status, headers=headers)


async def invalid_input(exception: ValidationError, context: str) -> web.StreamResponse:
    """422 for input outside its declaration: where, what, and never the value sent back."""
    details = [{"in": context, "loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
               for error in exception.errors(include_url=False)]
    first = details[0]
    where = ".".join(str(part) for part in [context, *first["loc"]])
    return problem(422, f"invalid {where}: {first['msg']}", details)


def _from_http_exception(error: web.HTTPException) -> web.Response:
    """aiohttp's own refusals (a malformed body, one over the size limit) as a reason body."""
    reason, details = error.reason, None
    try:
        parsed = json.loads(error.text or "")
    except ValueError:
        parsed = error.text
    if isinstance(parsed, dict) and "error" in parsed:
        reason = f"{reason}: {parsed['error']}"
    elif isinstance(parsed, list):
        details = parsed
    elif parsed:
        reason = f"{reason}: {parsed}"
    return problem(error.status, reason, details)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda value: json.dumps(value, default=str))


def route(handler: Callable[..., Awaitable[web.StreamResponse]], guard: LedgerGuard, *,
          admin: bool = False, body: bool = False) -> Handler:
    """``handler`` behind authentication, input validation and the error-to-status mapping.

    Order: a token (401), the rate limit (429), the admin role when ``admin`` (403), a body that is JSON (400), the
    declared input (422), then the handler; its domain and database errors map by :func:`status_of`.
    """
    checked = inject_params(on_validation_error=invalid_input).and_request(handler)

    async def run(request: web.Request) -> web.StreamResponse:
        try:
            who = await authenticate(request, guard)
            if admin and not who.is_admin:
                raise Refusal(403, f"{who.user_id} holds no admin role")
            CALLER.set(who)
            if body:
                try:
                    json.loads(await request.text())
                except (ValueError, LookupError, RecursionError) as error:
                    raise Refusal(400, f"the body is not JSON: {type(error).__name__}") from None
            return await checked(request)
        except Refusal as refusal:
            return problem(refusal.status, refusal.reason, headers=refusal.headers)
        except web.HTTPException as error:
            return _from_http_exception(error)
        except Exception as error:
            status = status_of(error)
            if status is None:
                raise
            headers = {"Retry-After": RETRY_AFTER_SECONDS} if status == 503 else None
            return problem(status, reason_of(error, status), headers=headers)

    functools.update_wrapper(run, checked)  # the signature and marker the OpenAPI generator reads
    return run


@web.middleware
async def api_misses_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """An unknown ``/v1/`` path (404) or method (405) answers with a reason body like every other refusal."""
    try:
        return await handler(request)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as error:
        if not request.path.startswith("/v1/"):
            raise
        headers = {"Allow": error.headers["Allow"]} if "Allow" in error.headers else None
        reason = ("no such route" if error.status == 404
                  else f"{request.method} is not allowed here; use {headers['Allow'] if headers else 'another'}")
        return problem(error.status, reason, headers=headers)


def add_api_routes(app: web.Application, engine: Engine, settings: LedgerSettings,
                   guard: LedgerGuard | None = None, kafka: KafkaSettings | None = None) -> None:
    """The API's routes on ``app``; ``guard`` (default: from ``ATTAIN_AUTH_*``) authenticates and rate-limits;
    with ``kafka``, a lock pays draws from the current published plan book version when there is one."""
    chain = settings.chain
    guard = guard or LedgerGuard(settings)
    app.middlewares.append(api_misses_as_json)

    def caller(_: web.Request) -> Principal:
        return CALLER.get()

    def closing_book() -> PlanBook | None:
        return plan_book(settings.plans_file) if kafka is None else current_plan_book(settings.plans_file, kafka)

    async def require_rep(request: web.Request, rep_id: str) -> str | None:
        """The rep's region once the caller may read the rep; 404 otherwise, as for a rep nobody knows."""
        who = caller(request)
        facts = await asyncio.to_thread(rep_facts, engine, rep_id)
        if not can_read_rep(who, facts):
            raise Refusal(404, f"no rep {rep_id} in the reach of {who.user_id}")
        return facts.region

    async def logged(request: web.Request, reads: list[tuple[str, str | None]], action: str) -> None:
        """Append the read of these reps' pay to the access log (before the answer leaves)."""
        await asyncio.to_thread(record_access, engine, caller(request).user_id, reads, action,
                                request.path, "http")

    async def require_period(request: web.Request, scope: str | None, period: str) -> PeriodFacts:
        """The period's facts once the caller's regions hold all of it; 404 otherwise."""
        who = caller(request)
        facts = await asyncio.to_thread(period_facts, engine, scope, period, settings.period_scope)
        if not can_administer_period(who, facts):
            raise Refusal(404, f"no period {scope + '/' if scope else ''}{period} in the regions of {who.user_id}")
        return facts

    async def require_target(request: web.Request, rep_id: str, rep_region: str, scope: str, period: str) -> None:
        """404 unless the caller administers ``scope``/``period`` with the rep in it, before a manual entry or a
        dispute's adjustment goes there: the period's regions and the rep's (``unassigned`` when the org does not
        place them) all in the caller's, and with region-scoped periods the rep's own region as the scope.
        Otherwise one region's admin could move another region's period: its reach and its manager step."""
        who = caller(request)
        facts = await asyncio.to_thread(period_facts, engine, scope, period, settings.period_scope)
        own_scope = settings.period_scope != "region" or scope == rep_region
        if not own_scope or not covers_regions(who, facts.regions | {rep_region}):
            raise Refusal(404, f"no period {scope}/{period} for {rep_id} in the regions of {who.user_id}")

    async def read_statement(request: web.Request, rep_id: RepId, period: LedgerPeriod) -> dict[str, Any]:
        """The rep's statement for the period, once the caller may read the rep; the read is logged."""
        region = await require_rep(request, rep_id)
        document = await asyncio.to_thread(statement, engine, rep_id, period)
        await logged(request, [(rep_id, region)], "statement.read")
        return document

    async def rep_entries(request: web.Request, rep_id: RepId, /,
                          period: LedgerPeriod | None = None) -> r200 | Refused:
        """A rep's ledger entries, optionally of one period.

        Security: bearerAuth
        Tags: reps
        Status Codes:
            200: the entries, oldest first
            404: no such rep, or not one the caller may read
        """
        region = await require_rep(request, rep_id)
        rows = await asyncio.to_thread(entries_of, engine, rep_id, period)
        await logged(request, [(rep_id, region)], "entries.read")
        return _json(rows)

    async def rep_statement(request: web.Request, rep_id: RepId, period: LedgerPeriod, /
                            ) -> r200 | Refused | Ruled:
        """A rep's statement for a period (JSON).

        Security: bearerAuth
        Tags: reps
        """
        return _json(await read_statement(request, rep_id, period))

    async def rep_statement_pdf(request: web.Request, rep_id: RepId, period: LedgerPeriod, /
                                ) -> r200 | Refused | Ruled:
        """A rep's statement for a period (PDF).

        Security: bearerAuth
        Tags: reps
        """
        document = await read_statement(request, rep_id, period)
        return web.Response(body=statement_pdf(document), content_type="application/pdf")

    async def periods_index(request: web.Request) -> r200 | Refused:
        """Every period whose reps all lie in the caller's regions, its state and, when locked, the approval step
        it waits for (``next_step``: a role of the chain) (admins).

        Security: bearerAuth
        Tags: periods
        """
        who = caller(request)
        rows = await asyncio.to_thread(list_periods, engine)
        mine = rows if "*" in who.regions else []  # an admin of every region needs no per-period facts
        for row in [] if mine else rows:
            facts = await asyncio.to_thread(period_facts, engine, row["scope"], row["period"], settings.period_scope)
            if can_administer_period(who, facts):
                mine.append(row)
        for row in mine:  # a locked period's waiting step (the board's approval queue)
            view = (await asyncio.to_thread(period_view, engine, row["scope"], row["period"], chain)
                    if row["state"] == "locked" else None)
            row["next_step"] = view.next_step if view is not None else None
        return _json(mine)

    async def period_lock(request: web.Request, scope: Scope, period: LedgerPeriod, /
                          ) -> r200 | Refused | Ruled:
        """Lock an open period for approval; the caller becomes its preparer (admins).

        Security: bearerAuth
        Tags: periods
        Status Codes:
            404: no such period in the caller's regions
            409: the period is not open
        """
        await require_period(request, scope, period)
        user = caller(request).user_id
        state = await asyncio.to_thread(  # the plan files are read off the event loop, fresh for each close
            lambda: lock_period(engine, scope, period, user, closing_book(), settings.period_scope))
        return _json({"state": state})

    async def period_paid(request: web.Request, scope: Scope, period: LedgerPeriod, /
                          ) -> r200 | Refused | Ruled:
        """Mark an approved period paid (admins).

        Security: bearerAuth
        Tags: periods
        Status Codes:
            404: no such period in the caller's regions
            409: the period is not approved
        """
        await require_period(request, scope, period)
        state = await asyncio.to_thread(mark_paid, engine, scope, period, caller(request).user_id)
        return _json({"state": state})

    async def period_approvals(request: web.Request, scope: Scope, period: LedgerPeriod, /
                               ) -> r200 | Refused:
        """The approval decisions of a period (admins).

        Security: bearerAuth
        Tags: periods
        Status Codes:
            404: no such period in the caller's regions
        """
        await require_period(request, scope, period)
        return _json(await asyncio.to_thread(approval_history, engine, scope, period))

    async def period_decide(request: web.Request, scope: Scope, period: LedgerPeriod, /,
                            decision: Decision) -> r200 | Refused | Ruled:
        """Approve or reject the next step of a locked period, as the holder of its role.

        Security: bearerAuth
        Tags: periods
        Status Codes:
            403: the caller may not take the waiting step (a manager outside the period's network,
                an admin outside its regions)
            409: separation of duties, the wrong role, or a period that is not locked
        """
        who = caller(request)
        facts = await asyncio.to_thread(period_facts, engine, scope, period, settings.period_scope)
        waiting = await asyncio.to_thread(period_view, engine, scope, period, chain)
        step = waiting.next_step if waiting is not None else None
        if step is not None and step in who.roles and not can_take_step(who, step, facts):
            reach = "network" if step == "manager" else "regions"
            raise Refusal(403, f"{who.user_id} may not take the {step} step of {scope}/{period}: "
                               f"it is outside their {reach}")
        view = await asyncio.to_thread(decide, engine, scope, period, Actor(who.user_id, who.roles),
                                       decision.approve, decision.comment, chain)
        return _json({"state": view.state, "next_step": view.next_step})

    async def payouts_export(request: web.Request, scope: Scope, period: LedgerPeriod, fmt: PayoutFormat, /
                             ) -> r200 | Refused | r409[Problem]:
        """The payout lines of an approved period as CSV, XLSX or JSON (admins).

        Security: bearerAuth
        Tags: payouts
        Status Codes:
            404: no such period in the caller's regions
            409: the period is not approved: there is nothing to pay yet
        """
        await require_period(request, scope, period)
        lines = await asyncio.to_thread(approved_lines, engine, scope, period)
        reads = await asyncio.to_thread(regions_of, engine, [line["rep_id"] for line in lines])
        await logged(request, reads, "payouts.export")
        if fmt == "xlsx":
            return web.Response(body=export_xlsx(lines), content_type=(
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
        if fmt == "csv":
            return web.Response(text=export_csv(lines), content_type="text/csv")
        return _json(lines)

    async def audit_export(request: web.Request, period: LedgerPeriod, /) -> r200 | Refused:
        """The period's audit records and the chain's verification as a ZIP (admins).

        Security: bearerAuth
        Tags: audit
        Status Codes:
            404: the period holds reps outside the caller's regions
        """
        facts = await require_period(request, None, period)
        archive = await asyncio.to_thread(export_period_zip, engine, period)
        reads = await asyncio.to_thread(regions_of, engine, facts.payees)
        await logged(request, reads, "audit.export")
        return web.Response(body=archive, content_type="application/zip", headers={
            "Content-Disposition": f'attachment; filename="audit-{period}.zip"'})

    async def manual_entry(request: web.Request, entry: ManualEntry) -> r201 | Refused | Ruled:
        """Post a manual entry into an open period (admins); audited, idempotent by key.

        Security: bearerAuth
        Tags: entries
        Status Codes:
            201: the entry's id
            403: the entry would pay the caller
            404: no such rep in the caller's regions, or a scope/period the caller does not administer
                with the rep in it
            409: the period is closed, or the idempotency key already booked an entry with other inputs
            422: the amount has more decimals than the currency allows, or the input is invalid
        """
        who = caller(request)
        region = await require_rep(request, entry.rep_id)
        if region is None and not await asyncio.to_thread(rep_known, engine, entry.rep_id):
            raise Refusal(404, f"no rep {entry.rep_id} known to the ledger: not in the org, nothing booked")
        if pays_themselves(who, entry.rep_id):
            raise Refusal(403, f"{who.user_id} may not post an entry that pays themselves")
        await require_target(request, entry.rep_id, region or UNASSIGNED_REGION, entry.scope, entry.period)
        entry_id = await asyncio.to_thread(
            post_manual, engine, actor_id=caller(request).user_id, rep_id=entry.rep_id, scope=entry.scope,
            period=entry.period, component_id=entry.component_id, kind=entry.kind, amount=entry.amount,
            currency=entry.currency, reason=entry.reason, idempotency_key=f"manual:{entry.idempotency_key}")
        return _json({"entry_id": entry_id}, status=201)

    async def new_dispute(request: web.Request, dispute: NewDispute) -> r201 | Refused | Ruled:
        """Dispute one of the caller's own entries.

        Security: bearerAuth
        Tags: disputes
        Status Codes:
            201: the dispute's id and the CRM changes behind the entry: deals, event ids, who changed them
            404: no such entry of the caller's
        """
        who = caller(request)
        if await asyncio.to_thread(entry_owner, engine, dispute.entry_id) != who.user_id:
            raise Refusal(404, f"no entry {dispute.entry_id} of {who.user_id}")
        dispute_id = await asyncio.to_thread(raise_dispute, engine, dispute.entry_id, caller(request).user_id,
                                             dispute.comment)
        changes = await asyncio.to_thread(entry_changes, engine, dispute.entry_id)
        return _json({"dispute_id": dispute_id, "entry_id": dispute.entry_id, "changes": changes}, status=201)

    async def show_dispute(request: web.Request, dispute_id: EntityId, /
                           ) -> r200 | Refused | Ruled:
        """A dispute, its history and the CRM changes behind its entry, for the rep and whoever may read the
        rep's data.

        Security: bearerAuth
        Tags: disputes
        Status Codes:
            404: no dispute has this id, or not one the caller may read
        """
        await require_dispute(request, dispute_id)
        return _json(await asyncio.to_thread(dispute_history, engine, dispute_id))

    async def resolve(request: web.Request, dispute_id: EntityId, /,
                      resolution: Resolution) -> r200 | Refused | Ruled:
        """Resolve an open dispute with an adjustment or none (a rejection) (admins).

        Security: bearerAuth
        Tags: disputes
        Status Codes:
            403: the resolution would pay the caller
            404: no dispute has this id, or not one the caller may read, or an adjustment into a scope/period the
                caller does not administer with the rep in it (a rejection posts nothing and needs only the rep)
            409: the dispute is resolved already, the resolver raised it, or the period is closed
        """
        who = caller(request)
        rep = await require_dispute(request, dispute_id)
        if pays_themselves(who, rep.rep_id):
            raise Refusal(403, f"{who.user_id} may not resolve a dispute that pays themselves")
        adjustment = Decimal(resolution.adjustment) if resolution.adjustment is not None else None
        if adjustment is not None:
            target = await asyncio.to_thread(adjustment_target, engine, dispute_id, resolution.scope,
                                             resolution.period)
            if target is not None:  # None: no such dispute, which resolve_dispute answers
                await require_target(request, rep.rep_id, rep.admin_region, *target)
        status = await asyncio.to_thread(resolve_dispute, engine, dispute_id, caller(request).user_id,
                                         resolution.comment, adjustment=adjustment, scope=resolution.scope,
                                         period=resolution.period)
        return _json({"status": status})

    async def require_dispute(request: web.Request, dispute_id: int) -> RepFacts:
        """The dispute's rep once the caller may read the rep; the same 404 for a dispute nobody has."""
        who = caller(request)
        rep_id = await asyncio.to_thread(dispute_rep, engine, dispute_id)
        facts = None if rep_id is None else await asyncio.to_thread(rep_facts, engine, rep_id)
        if facts is None or not can_read_rep(who, facts):
            raise Refusal(404, f"no dispute {dispute_id} in the reach of {who.user_id}")
        return facts

    async def access_log(request: web.Request, rep_id: RepId | None = None, actor_id: RepId | None = None,
                         limit: RowLimit = 100) -> r200 | Refused:
        """Who read whose pay, newest first (admins; the rows of reps in the caller's regions).

        Security: bearerAuth
        Tags: audit
        """
        who = caller(request)
        if not can_read_access_log(who):
            raise Refusal(403, f"{who.user_id} may not read the access log")
        rows = await asyncio.to_thread(access_rows, engine, access_log_regions(who), rep_id, actor_id, limit)
        return _json(rows)

    async def record_read(request: web.Request, rep_id: RepId, /, record: AccessRecord) -> r201 | Refused | Ruled:
        """Record the caller's read of a rep's pay made at another door (the notifier's or the portal's live stream).

        The service acting for the person calls with that person's own token; the read is allowed by the
        same policy as the ledger's own reads, and appended to the access log with the door it names
        (``notifier`` unless the body says ``portal``).

        Security: bearerAuth
        Tags: audit
        Status Codes:
            201: the read is in the access log
            404: no such rep, or not one the caller may read
        """
        region = await require_rep(request, rep_id)
        await asyncio.to_thread(record_access, engine, caller(request).user_id, [(rep_id, region)], record.what,
                                f"reps/{rep_id}/stream", record.door)
        return _json({"recorded": record.what}, status=201)

    async def openapi(_: web.Request) -> web.Response:
        return web.json_response(openapi_document(app))

    def add(method: str, path: str, handler: Callable[..., Awaitable[web.StreamResponse]], *,
            admin: bool = False, body: bool = False) -> None:
        app.router.add_route(method, path, route(handler, guard, admin=admin, body=body))

    add("GET", "/v1/reps/{rep_id}/entries", rep_entries)
    add("GET", "/v1/reps/{rep_id}/statements/{period}.pdf", rep_statement_pdf)  # before {period}: it matches both
    add("GET", "/v1/reps/{rep_id}/statements/{period}", rep_statement)
    add("GET", "/v1/periods", periods_index, admin=True)
    add("POST", "/v1/periods/{scope}/{period}/lock", period_lock, admin=True)
    add("POST", "/v1/periods/{scope}/{period}/paid", period_paid, admin=True)
    add("GET", "/v1/periods/{scope}/{period}/approvals", period_approvals, admin=True)
    add("POST", "/v1/periods/{scope}/{period}/approvals", period_decide, body=True)
    add("GET", "/v1/payouts/{scope}/{period}.{fmt}", payouts_export, admin=True)
    add("GET", "/v1/audit/{period}.zip", audit_export, admin=True)
    add("POST", "/v1/entries", manual_entry, admin=True, body=True)
    add("POST", "/v1/disputes", new_dispute, body=True)
    add("GET", "/v1/disputes/{dispute_id}", show_dispute)
    add("POST", "/v1/disputes/{dispute_id}/resolution", resolve, admin=True, body=True)
    add("GET", "/v1/access-log", access_log, admin=True)
    add("POST", "/v1/reps/{rep_id}/access", record_read, body=True)
    for path, read in admin_reads(engine, caller, _json):  # the period-close board's reads (the portal's /admin)
        add("GET", path, read, admin=True)
    for method, path, handler in team_routes(engine, chain, settings.period_scope, caller, logged, _json):
        add(method, path, handler)
    app.router.add_get("/openapi.json", openapi)


# What each status means on every route, for responses whose handler docstring says nothing more.
STATUS_MEANINGS = {
    "200": "done", "201": "created", "400": "the body is not JSON (or not an object)",
    "401": "no valid bearer token", "403": "the caller's roles or regions do not allow this",
    "404": "no such resource, or none the caller may see (the same answer)",
    "409": "a rule of the ledger's current state forbids this",
    "413": "the body is over the size limit", "422": "input outside its declaration (the details say where)",
    "429": "over the caller's rate limit; retry after Retry-After seconds",
    "503": "the ledger database is unreachable; retry after Retry-After seconds",
}


# aiohttp-pydantic 2.6 always applies its OpenAPI 3.0 translation, which turns an optional field into
# {"type": ..., "nullable": true} and drops its pattern and bounds. The ledger's document is OpenAPI 3.1,
# whose schemas are JSON Schema 2020-12, pydantic's own output: the schemas go in untranslated.
add_or_replace_translater("3.0.0", pydantic_schema_to_oas_3_1)


def openapi_document(app: web.Application) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the routes in ``app``, generated from their declared input."""
    document: dict[str, Any] = generate_oas([app], version_spec="1", title_spec="Attain ledger API",
                                            security=SECURITY_SCHEMES)
    document["openapi"] = "3.1.0"
    for operations in document["paths"].values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                response["description"] = response.get("description") or STATUS_MEANINGS.get(status, "")
            if "requestBody" in operation:
                operation["requestBody"]["required"] = True
    return document
