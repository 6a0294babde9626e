"""The ``ledger.events`` contract (schemas/ledger.events/v1.avsc): facts about a rep's pay that the ledger
made true (a statement issued, a period paid, a dispute answered, an issued statement changed), written
through the ledger's transactional outbox, one per fact (``event_id``), and read by the notifier.

>>> from datetime import UTC, datetime
>>> event = LedgerEvent("paid/ae/2026-Q1/r1/EUR", PAID, "r1", "ae", "2026-Q1", datetime(2026, 4, 2, tzinfo=UTC),
...                     "EUR", Decimal("10.50"), "fin-1")
>>> LedgerEvent.from_avro(event.to_avro()) == event, event.to_avro()["amount"]
(True, '10.50')
>>> from attain.core.milestones import from_ledger
>>> from_ledger(event.fact()).key
'r1|2026-Q1|paid|EUR'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
    event_id: str
    kind: str
    rep_id: str
    scope: str
    period: str
    occurred_at: datetime
    currency: str = ""
    amount: Decimal | None = None
    actor_id: str = ""
    details: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"ledger event {self.event_id!r}: kind {self.kind!r} is none of {KINDS}")

    def to_avro(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "kind": self.kind, "rep_id": self.rep_id, "scope": self.scope,
                "period": self.period, "currency": self.currency,
                "amount": "" if self.amount is None else str(self.amount), "actor_id": self.actor_id,
                "details": dict(self.details), "occurred_at": self.occurred_at}

    @classmethod
    def from_avro(cls, record: Mapping[str, Any]) -> LedgerEvent:
        occurred = record["occurred_at"]
        if isinstance(occurred, int):
            occurred = datetime.fromtimestamp(occurred / 1000, UTC)
        return cls(record["event_id"], record["kind"], record["rep_id"], record["scope"], record["period"],
                   occurred, record.get("currency", ""),
                   Decimal(record["amount"]) if record.get("amount") else None, record.get("actor_id", ""),
                   dict(record.get("details") or {}))

    def fact(self) -> LedgerFact:
        """The core's view of it (:func:`attain.core.milestones.from_ledger` makes the milestone)."""
        return LedgerFact(self.kind, self.rep_id, self.period, self.currency, self.amount, self.actor_id,
                          dict(self.details))
