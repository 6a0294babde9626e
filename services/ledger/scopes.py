"""Period scopes in the ledger's tables: which scope a (rep, plan) books under, and which period an entry counts in.

Shared by the booking transaction (``db``), lineage adoption (``lineage``), recompute and the queries.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import Connection, func, select

from attain.ledger.access import UNASSIGNED_REGION
from services.ledger.schema import entries, participants

ScopeBy = Literal["plan", "region"]


def entry_scope() -> Any:
    """The period scope an entry belongs to (entries written before scopes were stored: their plan)."""
    return func.coalesce(entries.c.scope, entries.c.plan_id)


def scopes_for(connection: Connection, reps_and_plans: set[tuple[str, str]], scope_by: ScopeBy
               ) -> dict[tuple[str, str], str]:
    """(rep, plan) -> scope: the plan itself, or the rep's region (``unassigned`` when not in the org)."""
    if scope_by == "plan":
        return {(rep_id, plan_id): plan_id for rep_id, plan_id in reps_and_plans}
    regions = {row.rep_id: row.region for row in connection.execute(
        select(participants.c.rep_id, participants.c.region)
        .where(participants.c.rep_id.in_(sorted({rep for rep, _ in reps_and_plans}))))}
    return {(rep_id, plan_id): regions.get(rep_id) or UNASSIGNED_REGION for rep_id, plan_id in reps_and_plans}


def accrual_period() -> Any:
    """The period an entry's amount belongs to: the corrected one for a prior-period adjustment."""
    return func.coalesce(entries.c.corrects_period, entries.c.period)
