"""Disputes: a rep questions an entry; an admin resolves it with an adjustment or a rejection.

The dispute row holds its current status; ``dispute_events`` (append-only) holds
the history both sides see. A dispute shows the CRM changes behind its entry (the deals, their event ids,
and who changed them at the CRM: :mod:`services.ledger.provenance`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, select

from attain.ledger.entries import Entry
from services.ledger import ledger_events
from services.ledger.audit import append_audit
from services.ledger.postings import post_entry
from services.ledger.provenance import changes_behind
from services.ledger.schema import dispute_events, disputes, entries


class DisputeError(ValueError):
    """A dispute action that is not allowed."""


class UnknownDispute(DisputeError):
    """No dispute has that id."""


def raise_dispute(engine: Engine, entry_id: int, rep_id: str, comment: str) -> int:
    if not comment.strip():
        raise DisputeError("say what is wrong with the entry in the comment")
    with engine.begin() as connection:
        owner = connection.execute(select(entries.c.rep_id).where(entries.c.entry_id == entry_id)).scalar()
        if owner != rep_id:
            raise DisputeError(f"entry {entry_id} is not an entry of {rep_id}")
        dispute_id = int(connection.execute(disputes.insert().values(entry_id=entry_id, rep_id=rep_id)
                                            .returning(disputes.c.dispute_id)).scalar_one())
        connection.execute(dispute_events.insert().values(dispute_id=dispute_id, actor_id=rep_id, action="raised",
                                                          comment=comment))
        append_audit(connection, rep_id, "dispute.raised", f"dispute/{dispute_id}",
                     {"entry_id": entry_id, "comment": comment})
    return dispute_id


def _adjustment_target(entry: Any, scope: str | None, period: str | None) -> tuple[str, str]:
    """Where an adjustment of the dispute over ``entry`` is posted: ``scope`` and ``period`` as given, else the
    entry's own (its plan for an entry booked before scopes were stored)."""
    return scope or entry.scope or entry.plan_id, period or entry.period


def adjustment_target(engine: Engine, dispute_id: int, scope: str | None, period: str | None
                      ) -> tuple[str, str] | None:
    """The (scope, period) :func:`resolve_dispute` would post an adjustment into; None when there is no such
    dispute. The API asks it first, to refuse a target the resolver does not administer."""
    with engine.connect() as connection:
        entry = connection.execute(select(entries.c.scope, entries.c.plan_id, entries.c.period)
                                   .join(disputes, disputes.c.entry_id == entries.c.entry_id)
                                   .where(disputes.c.dispute_id == dispute_id)).first()
    return None if entry is None else _adjustment_target(entry, scope, period)


def resolve_dispute(engine: Engine, dispute_id: int, actor_id: str, comment: str, *,
                    adjustment: Decimal | None, scope: str | None = None, period: str | None = None) -> str:
    """Reject (no adjustment) or adjust: post a manual entry into the open ``period`` of ``scope``."""
    if not comment.strip():
        raise DisputeError("a resolution needs a comment the rep can read")
    with engine.begin() as connection:
        dispute = connection.execute(select(disputes).where(disputes.c.dispute_id == dispute_id)
                                     .with_for_update()).first()
        if dispute is None:
            raise UnknownDispute(f"no dispute {dispute_id}")
        if dispute.status != "open":
            raise DisputeError(f"dispute {dispute_id} is already {dispute.status}")
        if actor_id == dispute.rep_id:
            raise DisputeError("a rep cannot resolve their own dispute")
        entry = connection.execute(select(entries).where(entries.c.entry_id == dispute.entry_id)).one()
        adjustment_entry_id = None
        status = "rejected"
        if adjustment is not None:
            target_scope, target_period = _adjustment_target(entry, scope, period)
            adjustment_entry_id = post_entry(connection, Entry.dispute_resolution(
                dispute_id=dispute_id, actor_id=actor_id, rep_id=dispute.rep_id,
                scope=target_scope, period=target_period,
                component_id=entry.component_id, amount=adjustment, currency=entry.currency, comment=comment))
            status = "adjusted"
        connection.execute(disputes.update().where(disputes.c.dispute_id == dispute_id).values(status=status))
        connection.execute(dispute_events.insert().values(
            dispute_id=dispute_id, actor_id=actor_id, action=status, comment=comment,
            adjustment_entry_id=adjustment_entry_id))
        ledger_events.dispute_answered(connection, dispute_id, dispute.rep_id, entry._mapping, status, adjustment,
                                       actor_id)
        append_audit(connection, actor_id, f"dispute.{status}", f"dispute/{dispute_id}",
                     {"comment": comment, "adjustment_entry_id": adjustment_entry_id})
    return status


def dispute_history(engine: Engine, dispute_id: int) -> dict[str, Any]:
    """The dispute, its history, and the CRM changes behind its entry (``changes``, see :func:`entry_changes`)."""
    with engine.connect() as connection:
        dispute = connection.execute(select(disputes).where(disputes.c.dispute_id == dispute_id)).mappings().first()
        if dispute is None:
            raise UnknownDispute(f"no dispute {dispute_id}")
        events = connection.execute(select(dispute_events).where(dispute_events.c.dispute_id == dispute_id)
                                    .order_by(dispute_events.c.event_id)).mappings().all()
        changes = _changes_of(connection, int(dispute["entry_id"]))
    return {**dict(dispute), "history": [dict(event) for event in events], "changes": changes}


def entry_changes(engine: Engine, entry_id: int) -> list[dict[str, Any]]:
    """The CRM changes behind entry ``entry_id``: per event id it names, the deal (``record_id``) and who
    changed it (``change_origin``, ``commit_user``); empty for an entry no CRM change made (a manual one)."""
    with engine.connect() as connection:
        return _changes_of(connection, entry_id)


def _changes_of(connection: Connection, entry_id: int) -> list[dict[str, Any]]:
    event_ids = connection.execute(select(entries.c.source_event_ids).where(entries.c.entry_id == entry_id)).scalar()
    return changes_behind(connection, [str(event_id) for event_id in event_ids or ()])


def disputes_of(engine: Engine, rep_id: str | None = None) -> list[dict[str, Any]]:
    query = select(disputes).order_by(disputes.c.dispute_id)
    if rep_id is not None:
        query = query.where(disputes.c.rep_id == rep_id)
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


def dispute_rep(engine: Engine, dispute_id: int) -> str | None:
    """Whose dispute ``dispute_id`` is; None when there is none."""
    with engine.connect() as connection:
        rep_id = connection.execute(select(disputes.c.rep_id).where(disputes.c.dispute_id == dispute_id)).scalar()
    return None if rep_id is None else str(rep_id)
