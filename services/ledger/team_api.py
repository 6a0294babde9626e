"""The ledger API's reads of a person's own reach: their team, the approval steps waiting for them, their
team's disputes (the manager pages of the portal call these with the manager's own token).

Each answer is what the one policy (:mod:`attain.ledger.access`) lets the caller see, worked out in
:mod:`services.ledger.team`; the team read is in the access log (one row per rep listed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

from aiohttp import web
from aiohttp_pydantic.oas.typing import r200, r400, r401, r403, r422, r429, r503
from sqlalchemy import Engine

from attain.ledger.access import Principal
from services.ledger.api_models import Problem, RowLimit
from services.ledger.team import disputes_in_reach, team_of, waiting_for

Listed = r200 | r400[Problem] | r401[Problem] | r403[Problem] | r422[Problem] | r429[Problem] | r503[Problem]
Logged = Callable[[web.Request, list[tuple[str, str | None]], str], Awaitable[None]]
Reply = Callable[[Any], web.Response]
DisputeStatus = Literal["open", "rejected", "adjusted"]


def team_routes(engine: Engine, chain: Sequence[str], scope_by: str, caller: Callable[[web.Request], Principal],
                logged: Logged, reply: Reply) -> list[tuple[str, str, Callable[..., Awaitable[web.StreamResponse]]]]:
    """(method, path, handler) of the reach reads, for :func:`services.ledger.api.add_api_routes` to guard."""

    async def team(request: web.Request) -> Listed:
        """The reps the caller may see besides themselves: a manager's network (skip levels included), an
        admin's regions; each listed rep is in the access log (``team.read``).

        Security: bearerAuth
        Tags: team
        Status Codes:
            200: the reps by id, with region, direct manager and the managers upward
        """
        reps = await asyncio.to_thread(team_of, engine, caller(request))
        await logged(request, [(rep["rep_id"], rep["region"]) for rep in reps], "team.read")
        return reply(reps)

    async def waiting(request: web.Request) -> Listed:
        """The locked periods whose next approval step the caller may take (a manager: periods holding their
        network; an admin: their role's step in their regions); ``blocked`` names the separation-of-duties rule
        that still stops them, null when they may decide.

        Security: bearerAuth
        Tags: periods
        """
        return reply(await asyncio.to_thread(waiting_for, engine, caller(request), chain, scope_by))

    async def disputes_index(request: web.Request, status: DisputeStatus | None = None, limit: RowLimit = 200
                             ) -> Listed:
        """The newest ``limit`` disputes of every rep the caller may see, optionally of one status.

        Security: bearerAuth
        Tags: disputes
        """
        return reply(await asyncio.to_thread(disputes_in_reach, engine, caller(request), status, limit))

    return [("GET", "/v1/team", team), ("GET", "/v1/approvals/waiting", waiting),
            ("GET", "/v1/disputes", disputes_index)]
