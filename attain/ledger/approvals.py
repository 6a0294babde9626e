"""Approval chains and separation of duties.

A period is approved when every step of its chain (e.g. manager, then comp
admin, then finance) has approved in order, in the current round. A rejection
ends the round: the period goes back to open and the next lock starts a new round.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

DEFAULT_CHAIN: tuple[str, ...] = ("manager", "comp_admin", "finance")


class ApprovalError(ValueError):
    """A decision that is not allowed, saying why."""


@dataclass(frozen=True)
class Actor:
    user_id: str
    roles: frozenset[str]


@dataclass(frozen=True)
class Decision:
    step: str
    actor_id: str
    approved: bool


def next_step(chain: Sequence[str], decisions: Sequence[Decision]) -> str | None:
    """The step waiting for a decision in this round, or None when all approved.

    >>> next_step(DEFAULT_CHAIN, [Decision("manager", "m1", True)])
    'comp_admin'
    >>> next_step(("manager",), [Decision("manager", "m1", True)]) is None
    True
    """
    approved = {d.step for d in decisions if d.approved}
    for step in chain:
        if step not in approved:
            return step
    return None


def check_decision(
    chain: Sequence[str], decisions: Sequence[Decision], actor: Actor, *,
    payees: Collection[str], prepared_by: str | None, approve: bool, comment: str,
) -> str:
    """The step ``actor`` decides, or :class:`ApprovalError` naming the broken rule.

    Separation of duties: nobody decides on a payout that pays them or that they
    prepared (locked), and one person takes at most one step of a round.

    >>> boss = Actor("m1", frozenset({"manager"}))
    >>> check_decision(DEFAULT_CHAIN, [], boss, payees={"r1"}, prepared_by="a1", approve=True, comment="")
    'manager'
    >>> check_decision(DEFAULT_CHAIN, [], Actor("r1", frozenset({"manager"})), payees={"r1"},
    ...                prepared_by="a1", approve=True, comment="")
    Traceback (most recent call last):
    ...
    attain.ledger.approvals.ApprovalError: r1 is paid by this payout and cannot approve or reject it
    """
    step = next_step(chain, decisions)
    if step is None:
        raise ApprovalError("every step of the chain has already approved this round")
    if step not in actor.roles:
        raise ApprovalError(f"the next step is {step}; {actor.user_id} does not hold that role")
    if actor.user_id in payees:
        raise ApprovalError(f"{actor.user_id} is paid by this payout and cannot approve or reject it")
    if prepared_by is not None and actor.user_id == prepared_by:
        raise ApprovalError(f"{actor.user_id} prepared (locked) this payout and cannot approve or reject it")
    if any(d.actor_id == actor.user_id for d in decisions):
        raise ApprovalError(f"{actor.user_id} already decided a step of this round; another person must")
    if not approve and not comment.strip():
        raise ApprovalError("a rejection needs a reason in the comment")
    return step
