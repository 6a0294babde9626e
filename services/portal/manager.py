"""Managers' pages: the team and who is off pace, the approval steps waiting for them, the team's disputes.

The pages exist for the ``manager`` role (anyone else gets 404), and what they show is decided by the ledger,
called with the manager's own token: ``GET /v1/team`` (their network by the one policy, each rep's read in
the access log), ``GET /v1/approvals/waiting``, ``POST /v1/periods/{scope}/{period}/approvals`` (the decision,
audited by the ledger) and ``GET /v1/disputes``. Attainment and earnings come from the read model's snapshots
of the reps the ledger listed; the pace is the pure core's (:mod:`attain.core.pace`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol

from aiohttp import web
from sqlalchemy import Engine

from attain.contracts.earnings import EarningsSnapshot
from attain.core.pace import elapsed_share, off_pace, projected_attainment
from attain.core.periods import PeriodError, period_bounds, period_of
from attain.core.plans import PlanBook
from attain.format import money, percent
from attain.ledger.periods import period_sort_key
from services.portal.auth import Session
from services.portal.i18n import preferred
from services.portal.ledger_client import Ledger, Refused
from services.portal.readmodel import snapshots_of

log = logging.getLogger("attain.portal")
DISPUTE_STATES = ("open", "rejected", "adjusted")


class Portal(Protocol):
    """What these pages use of :class:`services.portal.web.Portal`."""

    engine: Engine
    book: PlanBook | None
    ledger: Ledger
    default_locale: str
    off_pace: Decimal


@dataclass
class Pace:
    component_id: str
    attainment: str
    projected: str | None  # None before the period's first working day
    off_pace: bool


@dataclass
class TeamRow:
    rep_id: str
    period: str
    earned: str | None  # None: no earnings in the period yet
    measures: list[Pace] = field(default_factory=list)
    off_pace: bool = False


def current_period(book: PlanBook | None, rep_id: str, today: date) -> str | None:
    """The period of the rep's plan that holds ``today`` (None without a plan for them that day)."""
    plan = book.plan_on(rep_id, today) if book is not None else None
    return period_of(today, plan.period_type, plan.fiscal_start) if plan is not None else None


def share_of(book: PlanBook | None, rep_id: str, period: str, today: date) -> Decimal | None:
    """The elapsed share of the period's working days on ``today``; None for a period name the rep's calendar
    cannot place."""
    try:
        first, last = period_bounds(period, book.fiscal_start(rep_id) if book is not None else 1)
    except PeriodError:
        return None
    return elapsed_share(first, last, today)


def team_row(book: PlanBook | None, rep_id: str, snapshots: Sequence[EarningsSnapshot], period: str | None,
             today: date, threshold: Decimal, locale: str) -> TeamRow:
    """One rep's period to date: earned, attainment and projection per measure with a quota, off pace or not.

    ``period`` None: the rep's current period (by their plan), else their newest period with earnings.
    A rep with no earnings in a period under way is at 0% of quota, so off pace.
    """
    newest = sorted(snapshots, key=lambda s: period_sort_key(s.period), reverse=True)
    chosen = period or current_period(book, rep_id, today) or (newest[0].period if newest else "")
    snapshot = next((s for s in newest if s.period == chosen), None)
    share = share_of(book, rep_id, chosen, today) if chosen else None
    row = TeamRow(rep_id, chosen, money(Decimal(snapshot.total_earned), snapshot.currency, locale)
                  if snapshot is not None else None)
    for component in snapshot.components if snapshot is not None else ():
        if component.kind or not component.attainment_ratio:
            continue  # draws, and measures without a quota, have no pace
        attainment = Decimal(component.attainment_ratio)
        projected = projected_attainment(attainment, share) if share is not None else None
        row.measures.append(Pace(component.component_id, percent(attainment, locale),
                                 percent(projected, locale) if projected is not None else None,
                                 off_pace(projected, threshold)))
    if snapshot is None:
        row.off_pace = off_pace(projected_attainment(Decimal(0), share) if share is not None else None, threshold)
    else:
        row.off_pace = any(measure.off_pace for measure in row.measures)
    return row


def add_manager_routes(app: web.Application, portal: Portal, *, render: Callable[..., web.Response],
                       signed_in: Callable[[web.Request], Session],
                       refused: Callable[[web.Request, Refused], Awaitable[web.Response]],
                       checked_form: Callable[..., Any]) -> None:
    """``/team``, ``/team/approvals`` (and its decision posts) and ``/team/disputes`` on ``app``."""

    def manager(request: web.Request) -> Session:
        session = signed_in(request)
        if "manager" not in session.identity.roles:
            raise web.HTTPNotFound()  # the pages of a role one does not hold do not exist for them
        return session

    async def team(request: web.Request) -> web.Response:
        session = manager(request)
        try:  # the ledger decides who is in the network, and logs each rep's read
            reps = await portal.ledger.team(session.token)
        except Refused as error:
            return await refused(request, error)
        _language, locale = preferred(request.headers.get("Accept-Language"), portal.default_locale)
        period = request.query.get("period") or None
        today = datetime.now(UTC).date()
        ids = [str(rep["rep_id"]) for rep in reps]
        snapshots = await asyncio.to_thread(lambda: {rep: snapshots_of(portal.engine, rep) for rep in ids})
        rows = sorted((team_row(portal.book, rep, snapshots[rep], period, today, portal.off_pace, locale)
                       for rep in ids), key=lambda row: (not row.off_pace, row.rep_id))
        periods = sorted({s.period for found in snapshots.values() for s in found}, key=period_sort_key, reverse=True)
        return render(request, "team.html", rows=rows, periods=periods, period=period or "",
                      threshold=percent(portal.off_pace, locale), today=today.isoformat(), tab="team")

    async def approvals(request: web.Request, status: int = 200, error: str = "", reason: str = "",
                        decided: dict[str, str] | None = None) -> web.Response:
        """The steps waiting; after a decision, the page again with what the ledger answered (``decided``), or
        with ``error`` ("choice", "reason" or "ledger" with the ledger's ``reason``) and the refusal's status.
        (Rendered in answer to the post, not from a query string a link could forge; posting again is refused
        by the ledger: one person takes one step of a round.)"""
        session = manager(request)
        try:
            waiting = await portal.ledger.waiting_approvals(session.token)
        except Refused as refusal:
            return await refused(request, refusal)
        return render(request, "approvals.html", status=status, waiting=waiting, error=error, reason=reason,
                      decided=decided, tab="approvals")

    async def decide(request: web.Request) -> web.Response:
        session = manager(request)
        form = await checked_form(request, session)
        scope, period = request.match_info["scope"], request.match_info["period"]
        choice, reason = str(form.get("decision", "")), str(form.get("reason", "")).strip()
        if choice not in ("approve", "reject"):
            return await approvals(request, 400, "choice")
        if choice == "reject" and not reason:  # said here in the reader's language; the ledger refuses it too
            return await approvals(request, 400, "reason")
        try:  # the manager's own token: the ledger checks the step, the network and separation of duties
            answer = await portal.ledger.decide(session.token, scope, period, choice == "approve", reason)
        except Refused as refusal:
            if refusal.status in (401, 503):
                return await refused(request, refusal)
            log.info("decision refused", extra={"subject": session.identity.subject, "status": refusal.status})
            return await approvals(request, refusal.status if refusal.status in (403, 404, 409, 422) else 502,
                                   "ledger", str(refusal))
        log.info("decision recorded", extra={"subject": session.identity.subject, "scope": scope, "period": period})
        return await approvals(request, decided={"decided": choice, "scope": scope, "period": period,
                                                 "state": str(answer.get("state", ""))})

    async def disputes(request: web.Request) -> web.Response:
        session = manager(request)
        status = request.query.get("status") or None
        if status is not None and status not in DISPUTE_STATES:
            status = None
        try:
            found = await portal.ledger.disputes(session.token, status)
        except Refused as error:
            return await refused(request, error)
        return render(request, "team_disputes.html", disputes=found, chosen=status or "", states=DISPUTE_STATES,
                      tab="disputes")

    app.router.add_get("/team", team)
    app.router.add_get("/team/approvals", approvals)
    app.router.add_post("/team/approvals/{scope}/{period}", decide)
    app.router.add_get("/team/disputes", disputes)
