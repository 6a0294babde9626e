"""The ``ledger.events`` contract (schemas/ledger.events/v1.avsc): facts about a rep's pay that the ledger
made true (a statement issued, a period paid, a dispute answered, an issued statement changed), written
through the ledger's transactional outbox, one per fact (``event_id``), and read by the notifier.

>>> from datetime import UTC, datetime
>>> event = LedgerEvent.of("paid/ae/2026-Q1/r1/EUR", PAID, "r1", "ae", "2026-Q1", datetime(2026, 4, 2, tzinfo=UTC),
...                        "EUR", Decimal("10.50"), "fin-1")
>>> LedgerEvent.from_avro(event.to_avro()) == event, event.to_avro()["amount"]
(True, '10.50')
>>> from attain.core.milestones import from_ledger
>>> from_ledger(event.fact, event.scope).key
'r1|2026-Q1|paid|ae|EUR'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from attain.core.milestones import (
    DISPUTE_ANSWERED,
    PAID,
    STATEMENT_CHANGED,
    STATEMENT_READY,
    LedgerFact,
)

__all__ = ["DISPUTE_ANSWERED", "KINDS", "PAID", "STATEMENT_CHANGED", "STATEMENT_READY", "LedgerEvent"]
KINDS = (STATEMENT_READY, PAID, DISPUTE_ANSWERED, STATEMENT_CHANGED)


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    """One fact (:class:`LedgerFact`: kind, rep, period, amount, details) with its identity, scope and time."""

    event_id: str
    scope: str
    occurred_at: datetime
    fact: LedgerFact

    @classmethod
    def of(cls, event_id: str, kind: str, rep_id: str, scope: str, period: str, occurred_at: datetime,
           currency: str = "", amount: Decimal | None = None, actor_id: str = "",
           details: Mapping[str, str] | None = None) -> LedgerEvent:
        """The event of a fact of ``kind``; ValueError for a kind the contract does not know."""
        if kind not in KINDS:
            raise ValueError(f"ledger event {event_id!r}: kind {kind!r} is none of {KINDS}")
        return cls(event_id, scope, occurred_at,
                   LedgerFact(kind, rep_id, period, currency, amount, actor_id, dict(details or {})))

    def to_avro(self) -> dict[str, Any]:
        fact = self.fact
        return {"event_id": self.event_id, "kind": fact.kind, "rep_id": fact.rep_id, "scope": self.scope,
                "period": fact.period, "currency": fact.currency,
                "amount": "" if fact.amount is None else str(fact.amount), "actor_id": fact.actor_id,
                "details": dict(fact.details), "occurred_at": self.occurred_at}

    @classmethod
    def from_avro(cls, record: Mapping[str, Any]) -> LedgerEvent:
        occurred = record["occurred_at"]
        if isinstance(occurred, int):
            occurred = datetime.fromtimestamp(occurred / 1000, UTC)
        return cls.of(record["event_id"], record["kind"], record["rep_id"], record["scope"], record["period"],
                      occurred, record.get("currency", ""),
                      Decimal(record["amount"]) if record.get("amount") else None, record.get("actor_id", ""),
                      record.get("details") or {})
