"""The ledger's gRPC API (``services/ledger/proto/ledger.proto``): the same rules as the HTTP API.

Bearer token in the ``authorization`` metadata, verified by the same :class:`~services.ledger.auth.LedgerGuard`
(OpenID Connect, rate limit per credential); authorised by the same policy (:mod:`attain.ledger.access`).
No valid credentials: UNAUTHENTICATED; someone else's rep, period or entry, or an action the role may not
take: PERMISSION_DENIED, the same answer whether the resource exists or not; over the rate limit:
RESOURCE_EXHAUSTED; ledger rule violations: FAILED_PRECONDITION. Reads of a rep's pay go to the access log.
"""

from __future__ import annotations

import asyncio
from typing import Any, NoReturn

import grpc  # type: ignore[import-untyped]
from sqlalchemy import Engine

from attain.ledger.access import Principal, can_administer_period, can_read_rep, can_take_step
from attain.ledger.approvals import Actor, ApprovalError
from attain.ledger.periods import PeriodError
from attain.platform.metrics import ServerMetrics
from services.ledger.auth import AuthError, LedgerGuard, NotAPerson
from services.ledger.config import LedgerSettings
from services.ledger.disputes import DisputeError, raise_dispute
from services.ledger.period_service import decide, list_periods, period_view
from services.ledger.proto import ledger_pb2, ledger_pb2_grpc
from services.ledger.queries import entries_of, entry_owner, period_facts, record_access, rep_facts
from services.ledger.statements import statement


class LedgerServicer(ledger_pb2_grpc.LedgerServicer):
    def __init__(self, engine: Engine, settings: LedgerSettings, guard: LedgerGuard | None = None) -> None:
        self._engine = engine
        self._settings = settings
        self._guard = guard or LedgerGuard(settings)
        self._chain = settings.chain

    async def _principal(self, context: grpc.aio.ServicerContext[Any, Any]) -> Principal:
        header = dict(context.invocation_metadata() or ()).get("authorization")
        try:
            who = await self._guard.principal(str(header) if header else None)
        except AuthError as error:
            await _abort(context, grpc.StatusCode.UNAUTHENTICATED, str(error))
        except NotAPerson as error:
            await _abort(context, grpc.StatusCode.PERMISSION_DENIED, str(error))
        retry = self._guard.retry_after(who)
        if retry is not None:
            await context.send_initial_metadata((("retry-after", str(retry)),))
            await _abort(context, grpc.StatusCode.RESOURCE_EXHAUSTED,
                         f"{who.user_id} is over the ledger's rate limit; retry after {retry} s")
        return who

    async def _require_rep(self, who: Principal, rep_id: str, context: grpc.aio.ServicerContext[Any, Any]
                           ) -> str | None:
        facts = await asyncio.to_thread(rep_facts, self._engine, rep_id)
        if not can_read_rep(who, facts):  # the same answer whether the rep exists or not
            await _abort(context, grpc.StatusCode.PERMISSION_DENIED, f"no rep {rep_id} in the reach of {who.user_id}")
        return facts.region

    async def _logged(self, who: Principal, rep_id: str, region: str | None, action: str, resource: str) -> None:
        await asyncio.to_thread(record_access, self._engine, who.user_id, [(rep_id, region)], action, resource,
                                "grpc")

    async def ListEntries(self, request: Any, context: Any) -> Any:
        who = await self._principal(context)
        region = await self._require_rep(who, request.rep_id, context)
        rows = await asyncio.to_thread(entries_of, self._engine, request.rep_id, request.period or None)
        await self._logged(who, request.rep_id, region, "entries.read", f"ListEntries/{request.rep_id}")
        return ledger_pb2.EntryList(entries=[_entry(row) for row in rows])

    async def GetStatement(self, request: Any, context: Any) -> Any:
        who = await self._principal(context)
        region = await self._require_rep(who, request.rep_id, context)
        document = await asyncio.to_thread(statement, self._engine, request.rep_id, request.period)
        await self._logged(who, request.rep_id, region, "statement.read",
                           f"GetStatement/{request.rep_id}/{request.period}")
        return ledger_pb2.Statement(rep_id=document["rep_id"], period=document["period"],
                                    currencies=[_section(section) for section in document["currencies"]])

    async def ListPeriods(self, request: Any, context: Any) -> Any:
        who = await self._principal(context)
        if not who.is_admin:
            await _abort(context, grpc.StatusCode.PERMISSION_DENIED, f"{who.user_id} holds no admin role")
        rows = await asyncio.to_thread(list_periods, self._engine)
        mine = rows if "*" in who.regions else []  # an admin of every region needs no per-period facts
        for row in [] if mine else rows:
            facts = await asyncio.to_thread(period_facts, self._engine, row["scope"], row["period"],
                                            self._settings.period_scope)
            if can_administer_period(who, facts):
                mine.append(row)
        return ledger_pb2.PeriodList(periods=[
            ledger_pb2.PeriodStatus(scope=row["scope"], period=row["period"], state=row["state"],
                                    approval_round=row["approval_round"]) for row in mine])

    async def Decide(self, request: Any, context: Any) -> Any:
        who = await self._principal(context)
        facts = await asyncio.to_thread(period_facts, self._engine, request.scope, request.period,
                                        self._settings.period_scope)
        waiting = await asyncio.to_thread(period_view, self._engine, request.scope, request.period, self._chain)
        step = waiting.next_step if waiting is not None else None
        if step is not None and step in who.roles and not can_take_step(who, step, facts):
            await _abort(context, grpc.StatusCode.PERMISSION_DENIED,
                         f"{who.user_id} may not take the {step} step of {request.scope}/{request.period}")
        try:
            await asyncio.to_thread(decide, self._engine, request.scope, request.period,
                                    Actor(who.user_id, who.roles), request.approve, request.comment, self._chain)
        except (ApprovalError, PeriodError) as error:
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION, str(error))
        view = await asyncio.to_thread(period_view, self._engine, request.scope, request.period, self._chain)
        assert view is not None
        return ledger_pb2.PeriodStatus(scope=view.scope, period=view.period, state=view.state.value,
                                       next_step=view.next_step or "", approval_round=view.approval_round)

    async def RaiseDispute(self, request: Any, context: Any) -> Any:
        who = await self._principal(context)
        if await asyncio.to_thread(entry_owner, self._engine, request.entry_id) != who.user_id:
            await _abort(context, grpc.StatusCode.PERMISSION_DENIED, f"no entry {request.entry_id} of {who.user_id}")
        try:
            dispute_id = await asyncio.to_thread(raise_dispute, self._engine, request.entry_id, who.user_id,
                                                 request.comment)
        except DisputeError as error:
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION, str(error))
        return ledger_pb2.DisputeCreated(dispute_id=dispute_id)


async def _abort(context: grpc.aio.ServicerContext[Any, Any], code: Any, details: str) -> NoReturn:
    await context.abort(code, details)
    raise AssertionError("abort raises")  # keeps type checkers sure the call ends here


def _entry(row: dict[str, Any]) -> Any:
    return ledger_pb2.Entry(
        entry_id=row["entry_id"], rep_id=row["rep_id"], period=row["period"],
        corrects_period=row["corrects_period"] or "", plan_id=row["plan_id"], plan_version=row["plan_version"],
        component_id=row["component_id"], kind=row["kind"], amount=str(row["amount"]), currency=row["currency"],
        snapshot_version=row["snapshot_version"], explanation=row["explanation"] or "",
        source_event_ids=list(row["source_event_ids"]))


def _line(line: dict[str, Any]) -> Any:
    return ledger_pb2.StatementLine(entry_id=line["entry_id"] or 0, kind=line["kind"],
                                    component_id=line["component_id"], amount=line["amount"],
                                    corrects_period=line["corrects_period"] or "", explanation=line["explanation"])


def _section(section: dict[str, Any]) -> Any:
    return ledger_pb2.CurrencySection(
        currency=section["currency"], opening_balance=section["opening_balance"],
        components=[ledger_pb2.ComponentTotal(component_id=c["component_id"], total=c["total"],
                                              entries=[_line(line) for line in c["entries"]])
                    for c in section["components"]],
        earned_total=section["earned_total"], adjustments=[_line(line) for line in section["adjustments"]],
        draws=[_line(line) for line in section["draws"]], total_payable=section["total_payable"],
        payments=[_line(line) for line in section["payments"]], closing_balance=section["closing_balance"],
        draw_paid=section["draw_paid"], draw_recovered=section["draw_recovered"],
        draw_balance=section["draw_balance"])


async def start_grpc(engine: Engine, settings: LedgerSettings, guard: LedgerGuard | None = None) -> grpc.aio.Server:
    server = grpc.aio.server(interceptors=[ServerMetrics()])
    ledger_pb2_grpc.add_LedgerServicer_to_server(  # type: ignore[no-untyped-call]
        LedgerServicer(engine, settings, guard), server)
    server.add_insecure_port(f"{settings.host}:{settings.grpc_port}")
    await server.start()
    return server
