"""Period transitions and approvals in the database, each with its audit record in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects.postgresql import insert

from attain.core.plans import PlanBook
from attain.ledger.approvals import DEFAULT_CHAIN, Actor, Decision, check_decision, next_step
from attain.ledger.entries import Entry
from attain.ledger.payroll import EarningCodes
from attain.ledger.periods import PeriodState, transition
from services.ledger import ledger_events
from services.ledger.audit import append_audit
from services.ledger.entry_store import insert_unless_booked
from services.ledger.payouts import payable_balances, write_payout_lines
from services.ledger.period_close import book_closing_draws
from services.ledger.schema import approval_decisions, payout_lines, periods
from services.ledger.scopes import ScopeBy


@dataclass(frozen=True)
class PeriodView:
    scope: str
    period: str
    state: PeriodState
    prepared_by: str | None
    approval_round: int
    next_step: str | None


def _row_for_update(connection: Connection, scope: str, period: str) -> Any:
    connection.execute(insert(periods).values(scope=scope, period=period).on_conflict_do_nothing())
    return connection.execute(
        select(periods).where(periods.c.scope == scope, periods.c.period == period).with_for_update()
    ).one()


def _decisions(connection: Connection, scope: str, period: str, approval_round: int) -> list[Decision]:
    return [
        Decision(row.step, row.actor_id, row.approved)
        for row in connection.execute(
            select(approval_decisions).where(
                approval_decisions.c.scope == scope, approval_decisions.c.period == period,
                approval_decisions.c.approval_round == approval_round,
            ).order_by(approval_decisions.c.decision_id)
        )
    ]


def _move(connection: Connection, row: Any, action: str, actor_id: str, **values: Any) -> PeriodState:
    target = transition(PeriodState(row.state), action)
    connection.execute(
        periods.update().where(periods.c.scope == row.scope, periods.c.period == row.period)
        .values(state=target.value, updated_at=datetime.now(UTC), **values)
    )
    append_audit(connection, actor_id, f"period.{action}", f"period/{row.scope}/{row.period}",
                 {"scope": row.scope, "period": row.period, "from": row.state, "to": target.value})
    return target


def lock_period(engine: Engine, scope: str, period: str, actor_id: str, book: PlanBook | None = None,
                scope_by: ScopeBy = "plan") -> PeriodState:
    """Close the books for approval; the locker is the preparer, who may not approve.

    With the plan book, closing also pays the draw of every rep of the scope on a plan with a draw
    who has no credits in the period (:mod:`services.ledger.period_close`), in the same transaction,
    audited as ``period.close_draws``.
    """
    with engine.begin() as connection:
        row = _row_for_update(connection, scope, period)
        if book is not None:
            draws = book_closing_draws(connection, book, scope, period, scope_by)
            if draws:
                append_audit(connection, actor_id, "period.close_draws", f"period/{scope}/{period}", {
                    "scope": scope, "period": period, "draws": [
                        {"rep_id": e.rep_id, "amount": str(e.amount), "currency": e.currency,
                         "idempotency_key": e.idempotency_key} for e in draws]})
        state = _move(connection, row, "lock", actor_id, prepared_by=actor_id,
                      approval_round=row.approval_round + 1)
        ledger_events.statements_issued(connection, scope, period, actor_id)
        return state


def decide(engine: Engine, scope: str, period: str, actor: Actor, approve: bool, comment: str,
           chain: Sequence[str] = DEFAULT_CHAIN, codes: EarningCodes | None = None) -> PeriodView:
    """Record one approval or rejection; the last approval approves the period and writes its payouts.

    Raises :class:`~attain.ledger.approvals.ApprovalError` or
    :class:`~attain.ledger.periods.PeriodError` with the rule that forbids it.
    """
    with engine.begin() as connection:
        row = _row_for_update(connection, scope, period)
        transition(PeriodState(row.state), "approve")  # only a locked period takes decisions
        decisions = _decisions(connection, scope, period, row.approval_round)
        payees = {rep_id for rep_id, _ in payable_balances(connection, scope, period)}
        step = check_decision(chain, decisions, actor, payees=payees, prepared_by=row.prepared_by,
                              approve=approve, comment=comment)
        connection.execute(approval_decisions.insert().values(
            scope=scope, period=period, approval_round=row.approval_round, step=step, actor_id=actor.user_id,
            approved=approve, comment=comment))
        append_audit(connection, actor.user_id, "approval.approve" if approve else "approval.reject",
                     f"period/{scope}/{period}", {"scope": scope, "period": period, "step": step,
                                                  "round": row.approval_round, "comment": comment})
        decisions.append(Decision(step, actor.user_id, approve))
        state = PeriodState(row.state)
        if not approve:
            state = _move(connection, row, "reopen", actor.user_id)
        elif next_step(chain, decisions) is None:
            state = _move(connection, row, "approve", actor.user_id)
            lines = write_payout_lines(connection, scope, period, actor.user_id, datetime.now(UTC), codes)
            append_audit(connection, actor.user_id, "payouts.prepared", f"period/{scope}/{period}",
                         {"scope": scope, "period": period, "lines": len(lines),
                          "payout_ids": [line.payout_id for line in lines]})
        return PeriodView(scope, period, state, row.prepared_by, row.approval_round,
                          next_step(chain, decisions) if approve else None)


def mark_paid(engine: Engine, scope: str, period: str, actor_id: str) -> PeriodState:
    """Payroll confirmed: post a payment entry per payout line, so the balance carried forward is zero."""
    with engine.begin() as connection:
        row = _row_for_update(connection, scope, period)
        state = _move(connection, row, "pay", actor_id)
        lines = connection.execute(
            select(payout_lines).where(payout_lines.c.scope == scope, payout_lines.c.period == period)
        ).mappings().all()
        insert_unless_booked(connection, [
            Entry.payment(payout_id=line["payout_id"], rep_id=line["rep_id"], scope=scope, period=period,
                          amount=line["amount"], currency=line["currency"], actor_id=actor_id)
            for line in lines])
        ledger_events.paid(connection, scope, period, lines, actor_id)
        return state


def period_view(engine: Engine, scope: str, period: str, chain: Sequence[str] = DEFAULT_CHAIN) -> PeriodView | None:
    with engine.connect() as connection:
        row = connection.execute(
            select(periods).where(periods.c.scope == scope, periods.c.period == period)).first()
        if row is None:
            return None
        decisions = _decisions(connection, scope, period, row.approval_round)
    waiting = next_step(chain, decisions) if row.state == PeriodState.LOCKED else None
    return PeriodView(scope, period, PeriodState(row.state), row.prepared_by, row.approval_round, waiting)


def list_periods(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(
            select(periods).order_by(periods.c.scope, periods.c.period)).mappings()]


def approval_history(engine: Engine, scope: str, period: str) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(
            select(approval_decisions).where(approval_decisions.c.scope == scope,
                                             approval_decisions.c.period == period)
            .order_by(approval_decisions.c.decision_id)).mappings()]


def round_decisions(engine: Engine, scope: str, period: str, approval_round: int) -> list[Decision]:
    """The decisions of one approval round of a period, in order."""
    with engine.connect() as connection:
        return _decisions(connection, scope, period, approval_round)
