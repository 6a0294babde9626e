"""Reads the HTTP and gRPC APIs share: a rep's facts for authorisation, their entries."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from attain.ledger.access import RepFacts
from services.ledger.schema import entries, participants


def rep_facts(engine: Engine, rep_id: str) -> RepFacts:
    with engine.connect() as connection:
        row = connection.execute(select(participants).where(participants.c.rep_id == rep_id)).first()
    return RepFacts(rep_id, row.region if row else None, row.manager_id if row else None)


def entries_of(engine: Engine, rep_id: str, period: str | None) -> list[dict[str, Any]]:
    query = select(entries).where(entries.c.rep_id == rep_id).order_by(entries.c.entry_id)
    if period:
        query = query.where(entries.c.period == period)
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]
