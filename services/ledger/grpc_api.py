"""The ledger's gRPC API (``services/ledger/proto/ledger.proto``): the same rules as the HTTP API.

Bearer token in the ``authorization`` metadata; a rep reads only their own data,
a manager their team, admins their regions; rule violations are FAILED_PRECONDITION.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc  # type: ignore[import-untyped]
from sqlalchemy import Engine

from attain.ledger.access import Principal, can_read_rep
from attain.ledger.approvals import Actor, ApprovalError
from attain.ledger.periods import PeriodError
from services.ledger.auth import AuthError, principal_from_header
from services.ledger.config import LedgerSettings
from services.ledger.disputes import DisputeError, raise_dispute
from services.ledger.period_service import decide, list_periods, period_view
from services.ledger.proto import ledger_pb2, ledger_pb2_grpc
from services.ledger.queries import entries_of, rep_facts
from services.ledger.statements import statement


class LedgerServicer(ledger_pb2_grpc.LedgerServicer):
    def __init__(self, engine: Engine, settings: LedgerSettings) -> None:
        self._engine = engine
        self._secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
        self._audience = settings.jwt_audience
        self._chain = settings.chain

    async def _principal(self, context: grpc.aio.ServicerContext[Any, Any]) -> Principal:
        header = dict(context.invocation_metadata() or ()).get("authorization")
        try:
            return principal_from_header(str(header) if header else None, self._secret, self._audience)
        except AuthError as error:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(error))
            raise  # abort raises; this keeps type checkers sure

    async def _require_rep(self, who: Principal, rep_id: str, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        if not can_read_rep(who, await asyncio.to_thread(rep_facts, self._engine, rep_id)):
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"{who.user_id} may not read the data of {rep_id}")

    async def ListEntries(self, request: Any, context: Any) -> Any:
        who = await self._principal(context)
        await self._require_rep(who, request.rep_id, context)
        rows = await asyncio.to_thread(entries_of, self._engine, request.rep_id, request.period or None)
        return ledger_pb2.EntryList(entries=[_entry(row) for row in rows])

    async def GetStatement(self, request: Any, context: Any) -> Any:
        who = await self._principal(context)
        await self._require_rep(who, request.rep_id, context)
        document = await asyncio.to_thread(statement, self._engine, request.rep_id, request.period)
        return ledger_pb2.Statement(rep_id=document["rep_id"], period=document["period"],
                                    currencies=[_section(section) for section in document["currencies"]])

    async def ListPeriods(self, request: Any, context: Any) -> Any:
        who = await self._principal(context)
        if not who.is_admin:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"{who.user_id} holds no admin role")
        rows = await asyncio.to_thread(list_periods, self._engine)
        return ledger_pb2.PeriodList(periods=[
            ledger_pb2.PeriodStatus(scope=row["scope"], period=row["period"], state=row["state"],
                                    approval_round=row["approval_round"]) for row in rows])

    async def Decide(self, request: Any, context: Any) -> Any:
        who = await self._principal(context)
        try:
            await asyncio.to_thread(decide, self._engine, request.scope, request.period,
                                    Actor(who.user_id, who.roles), request.approve, request.comment, self._chain)
        except (ApprovalError, PeriodError) as error:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(error))
        view = await asyncio.to_thread(period_view, self._engine, request.scope, request.period, self._chain)
        assert view is not None
        return ledger_pb2.PeriodStatus(scope=view.scope, period=view.period, state=view.state.value,
                                       next_step=view.next_step or "", approval_round=view.approval_round)

    async def RaiseDispute(self, request: Any, context: Any) -> Any:
        who = await self._principal(context)
        try:
            dispute_id = await asyncio.to_thread(raise_dispute, self._engine, request.entry_id, who.user_id,
                                                 request.comment)
        except DisputeError as error:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(error))
        return ledger_pb2.DisputeCreated(dispute_id=dispute_id)


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
        payments=[_line(line) for line in section["payments"]], closing_balance=section["closing_balance"])


async def start_grpc(engine: Engine, settings: LedgerSettings) -> grpc.aio.Server:
    server = grpc.aio.server()
    ledger_pb2_grpc.add_LedgerServicer_to_server(  # type: ignore[no-untyped-call]
        LedgerServicer(engine, settings), server)
    server.add_insecure_port(f"{settings.host}:{settings.grpc_port}")
    await server.start()
    return server
