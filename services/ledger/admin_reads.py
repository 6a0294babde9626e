"""The ledger's reads for the comp admin's period-close board: open disputes and the recorded recomputes.

Both are admin reads (``/v1/admin/...``, behind the same authentication and admin-role check as every admin
route) and show only what lies in the caller's regions: a dispute of a rep outside them, and a recompute
adjustment of such a rep, are left out as if they did not exist. Neither shows an amount of pay except a
recompute's adjustments, which are the differences the recompute posted (``recompute.apply`` in the audit
chain); those reads are appended to the access log like every read of someone's pay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from aiohttp import web
from aiohttp_pydantic.oas.typing import r200, r401, r403, r422, r429, r503
from sqlalchemy import Engine, func, select

from attain.ledger.access import Principal, access_log_regions
from services.ledger.api_models import Problem, RowLimit
from services.ledger.queries import record_access, regions_of
from services.ledger.schema import audit_log, dispute_events, disputes, entries, participants
from services.ledger.scopes import UNASSIGNED_REGION

AdminRefused = r401[Problem] | r403[Problem] | r422[Problem] | r429[Problem] | r503[Problem]
DisputeState = Literal["open", "all"]


def _in_reach(regions: frozenset[str] | None, region: str | None) -> bool:
    return regions is None or (region or "unassigned") in regions


def disputes_in_regions(engine: Engine, regions: frozenset[str] | None, state: str = "open",
                        limit: int = 200) -> list[dict[str, Any]]:
    """The newest ``limit`` disputes of reps in ``regions`` (None: every region; a rep not in the org counts as
    ``unassigned``), each with its entry's period and component and the newest comment of its history."""
    latest = (select(dispute_events.c.dispute_id, func.max(dispute_events.c.event_id).label("event_id"))
              .group_by(dispute_events.c.dispute_id).subquery())
    query = (select(disputes.c.dispute_id, disputes.c.rep_id, disputes.c.entry_id, disputes.c.status,
                    disputes.c.created_at, entries.c.period, entries.c.scope, entries.c.component_id,
                    dispute_events.c.actor_id.label("last_actor"), dispute_events.c.comment.label("last_comment"))
             .join(entries, entries.c.entry_id == disputes.c.entry_id)
             .join(latest, latest.c.dispute_id == disputes.c.dispute_id)
             .join(dispute_events, dispute_events.c.event_id == latest.c.event_id)
             .order_by(disputes.c.dispute_id.desc()).limit(limit))
    if state != "all":
        query = query.where(disputes.c.status == state)
    if regions is not None:  # in SQL, so the limit applies to what is shown
        region = func.coalesce(participants.c.region, UNASSIGNED_REGION)
        query = query.outerjoin(participants, participants.c.rep_id == disputes.c.rep_id).where(
            region.in_(sorted(regions)))
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


def recorded_recomputes(engine: Engine, regions: frozenset[str] | None, limit: int = 5) -> list[dict[str, Any]]:
    """The newest ``recompute.apply`` audit records (``attain recompute --apply``), each with the adjustments it
    posted for reps in ``regions`` (None: every region)."""
    with engine.connect() as connection:
        rows = connection.execute(select(audit_log).where(audit_log.c.action == "recompute.apply")
                                  .order_by(audit_log.c.sequence.desc()).limit(limit)).mappings().all()
    found = []
    for row in rows:
        adjustments = list(row["details"].get("adjustments", []))
        region = dict(regions_of(engine, [a["rep_id"] for a in adjustments]))
        found.append({"sequence": row["sequence"], "occurred_at": row["occurred_at"], "actor_id": row["actor_id"],
                      "period": row["details"].get("period"),
                      "adjustments": [a for a in adjustments if _in_reach(regions, region.get(a["rep_id"]))]})
    return found


Handler = Callable[..., Awaitable[web.StreamResponse]]


def admin_reads(engine: Engine, caller: Callable[[web.Request], Principal],
                answer: Callable[[Any], web.Response]) -> list[tuple[str, Handler]]:
    """(path, handler) of the board's reads, for :func:`services.ledger.api.add_api_routes` to add as admin GETs."""

    async def open_disputes(request: web.Request, state: DisputeState = "open", limit: RowLimit = 200
                            ) -> r200 | AdminRefused:
        """Disputes of reps in the caller's regions, newest first (admins): ``state=open`` (default) or ``all``.

        Security: bearerAuth
        Tags: disputes
        """
        regions = access_log_regions(caller(request))
        return answer(await asyncio.to_thread(disputes_in_regions, engine, regions, state, limit))

    async def recomputes(request: web.Request, limit: RowLimit = 5) -> r200 | AdminRefused:
        """The newest recomputes that posted differences (``attain recompute --apply``), with the adjustments of
        reps in the caller's regions (admins); each read rep is in the access log.

        Security: bearerAuth
        Tags: audit
        """
        who = caller(request)
        found = await asyncio.to_thread(recorded_recomputes, engine, access_log_regions(who), limit)
        reps = sorted({a["rep_id"] for record in found for a in record["adjustments"]})
        if reps:
            reads = await asyncio.to_thread(regions_of, engine, reps)
            await asyncio.to_thread(record_access, engine, who.user_id, reads, "recompute.read", request.path, "http")
        return answer(found)

    return [("/v1/admin/disputes", open_disputes), ("/v1/admin/recomputes", recomputes)]
