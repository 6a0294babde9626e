"""Reads for a person's own reach: the reps they may see, the approval steps waiting for them, their
team's disputes. Each answer is filtered by the one policy (:mod:`attain.ledger.access`), never by a rule of
its own: a manager gets their network, an admin their regions, a rep themselves."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, and_, select

from attain.ledger.access import Principal, can_read_rep, can_take_step
from attain.ledger.approvals import Actor, ApprovalError, check_decision
from attain.ledger.periods import PeriodState
from services.ledger.payouts import payable_balances
from services.ledger.period_service import period_view, round_decisions
from services.ledger.queries import every_rep_facts, period_facts, readable_by
from services.ledger.schema import dispute_events, disputes, entries, participants, periods


def team_of(engine: Engine, who: Principal) -> list[dict[str, Any]]:
    """Every participant other than ``who`` whom ``who`` may read, by rep id: region, direct manager, and
    the managers between (``managers``, nearest first)."""
    org = every_rep_facts(engine)
    return [{"rep_id": rep_id, "region": facts.region, "manager_id": facts.manager_id,
             "managers": list(facts.network)}
            for rep_id, facts in sorted(org.items()) if rep_id != who.user_id and can_read_rep(who, facts)]


def waiting_for(engine: Engine, who: Principal, chain: Sequence[str], scope_by: str = "plan") -> list[dict[str, Any]]:
    """The locked periods whose next step ``who`` may take by the policy; ``blocked`` says why they still may
    not decide it (separation of duties), None when they may.

    The step's role is checked before anything else is read: a caller holding no role of the chain (a rep)
    costs one query at most, and a period whose next step is not theirs costs no facts, decisions or balances."""
    if not who.roles & set(chain):
        return []
    with engine.connect() as connection:
        locked = connection.execute(select(periods.c.scope, periods.c.period)
                                    .where(periods.c.state == PeriodState.LOCKED.value)
                                    .order_by(periods.c.scope, periods.c.period)).all()
    waiting = []
    for scope, period in locked:
        view = period_view(engine, scope, period, chain)
        if view is None or view.next_step is None or view.next_step not in who.roles:
            continue
        facts = period_facts(engine, scope, period, scope_by)
        if not can_take_step(who, view.next_step, facts):
            continue
        decisions = round_decisions(engine, scope, period, view.approval_round)
        with engine.connect() as connection:
            payees = {rep_id for rep_id, _ in payable_balances(connection, scope, period)}
        try:
            check_decision(chain, decisions, Actor(who.user_id, who.roles), payees=payees,
                           prepared_by=view.prepared_by, approve=True, comment="")
            blocked = None
        except ApprovalError as error:
            blocked = str(error)
        waiting.append({"scope": scope, "period": period, "step": view.next_step, "round": view.approval_round,
                        "prepared_by": view.prepared_by, "reps": len(facts.payees), "blocked": blocked,
                        "decisions": [{"step": d.step, "actor_id": d.actor_id, "approved": d.approved}
                                      for d in decisions]})
    return waiting


def disputes_in_reach(engine: Engine, who: Principal, status: str | None = None, limit: int = 200
                      ) -> list[dict[str, Any]]:
    """The newest ``limit`` disputes of every rep ``who`` may read (their own included), optionally of one
    status: the entry's period and component, and the comment it was raised with. Filtered and limited in the
    database (:func:`readable_by`): a rep's call reads their own disputes, not every dispute and the org."""
    raised = dispute_events.alias("raised")
    query = (select(disputes.c.dispute_id, disputes.c.rep_id, disputes.c.status, disputes.c.created_at,
                    disputes.c.entry_id, entries.c.period, entries.c.component_id, raised.c.comment)
             .join(entries, entries.c.entry_id == disputes.c.entry_id)
             .join(raised, and_(raised.c.dispute_id == disputes.c.dispute_id, raised.c.action == "raised"))
             .outerjoin(participants, participants.c.rep_id == disputes.c.rep_id)
             .where(readable_by(who, disputes.c.rep_id, participants.c.region))
             .order_by(disputes.c.dispute_id.desc()).limit(limit))
    if status is not None:
        query = query.where(disputes.c.status == status)
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]
