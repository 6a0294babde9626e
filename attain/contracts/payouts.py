"""The payroll contract (docs/payroll-contract.md): :class:`PayoutLine` on topic ``payouts``
(schemas/payouts/v2.avsc) and :class:`PayoutControl` on ``payouts.control``, both written by the ledger."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from attain.ledger.payroll import CurrencyTotal


@dataclass(frozen=True, slots=True)
class EarningAmount:
    """The part of a payout line paid under one payroll earning code."""

    earning_code: str
    amount: Decimal
    entry_count: int

    def to_avro(self) -> dict[str, Any]:
        return {"earning_code": self.earning_code, "amount": str(self.amount), "entry_count": self.entry_count}


@dataclass(frozen=True, slots=True)
class PayoutLine:
    """One payable line per rep, period and currency of an approved period.

    >>> from datetime import UTC
    >>> line = PayoutLine("ae/2026-Q1/r1/INR", "r1", "2026-Q1", "INR", Decimal("10.50"), 2,
    ...                   datetime(2026, 4, 1, tzinfo=UTC), "fin-1", None,
    ...                   (EarningAmount("COMM", Decimal("10.50"), 2),))
    >>> line.to_avro()["amount"], line.to_avro()["earnings"]
    ('10.50', [{'earning_code': 'COMM', 'amount': '10.50', 'entry_count': 2}])
    """

    payout_id: str
    rep_id: str
    period: str
    currency: str
    amount: Decimal  # in the currency's minor unit; negative for a recovery
    entry_count: int
    approved_at: datetime
    approved_by: str
    hr_id: str | None
    earnings: tuple[EarningAmount, ...]

    def to_avro(self) -> dict[str, Any]:
        return {"payout_id": self.payout_id, "rep_id": self.rep_id, "period": self.period,
                "currency": self.currency, "amount": str(self.amount), "entry_count": self.entry_count,
                "approved_at": self.approved_at, "approved_by": self.approved_by, "hr_id": self.hr_id,
                "earnings": [part.to_avro() for part in self.earnings]}

    @property
    def scope(self) -> str:
        """The payout scope the line was approved in (a plan family or a region), which the line does not carry:
        ``payout_id`` less its ``/<period>/<rep_id>/<currency>`` end. Not split on ``/``: a plan id, the scope of
        a plan-scoped ledger, may hold one. A line whose id does not end so (not the ledger's) is its own scope,
        its whole ``payout_id``, so two such lines still tell apart.

        >>> PayoutLine("emea/ae/2026-Q1/r1/EUR", "r1", "2026-Q1", "EUR", Decimal(1), 1, datetime(2026, 4, 1),
        ...            "fin-1", None, ()).scope
        'emea/ae'
        """
        end = f"/{self.period}/{self.rep_id}/{self.currency}"
        if len(self.payout_id) > len(end) and self.payout_id.endswith(end):
            return self.payout_id[:-len(end)]
        return self.payout_id

    def to_row(self, scope: str) -> dict[str, Any]:
        """The ledger's ``payout_lines`` row of this line in ``scope`` (its earnings split as the wire has it)."""
        return {**self.to_avro(), "scope": scope, "amount": self.amount}

    @classmethod
    def from_avro(cls, record: Mapping[str, Any]) -> PayoutLine:
        return cls(record["payout_id"], record["rep_id"], record["period"], record["currency"],
                   Decimal(record["amount"]), record["entry_count"], record["approved_at"], record["approved_by"],
                   record.get("hr_id"), tuple(EarningAmount(e["earning_code"], Decimal(e["amount"]), e["entry_count"])
                                              for e in record.get("earnings", ())))


@dataclass(frozen=True, slots=True)
class PayoutControl:
    """The control record of one approved period of one scope: its line count and totals per currency."""

    control_id: str
    scope: str
    period: str
    line_count: int
    totals: tuple[CurrencyTotal, ...]
    approved_at: datetime
    approved_by: str

    def to_avro(self) -> dict[str, Any]:
        return {"control_id": self.control_id, "scope": self.scope, "period": self.period,
                "line_count": self.line_count,
                "totals": [{"currency": t.currency, "line_count": t.line_count, "amount": str(t.amount)}
                           for t in self.totals],
                "approved_at": self.approved_at, "approved_by": self.approved_by}

    @classmethod
    def from_avro(cls, record: Mapping[str, Any]) -> PayoutControl:
        return cls(record["control_id"], record["scope"], record["period"], record["line_count"],
                   tuple(CurrencyTotal(t["currency"], t["line_count"], Decimal(t["amount"])) for t in record["totals"]),
                   record["approved_at"], record["approved_by"])
