"""The ``earnings`` contract (schemas/earnings): :class:`EarningsSnapshot`, written by the calculator, read by
the ledger and the notifier.

Amounts stay decimal text, exactly as on the wire: a reader decides how to refuse text that is not a
number (the ledger dead-letters it, see ``services.ledger.db.check_snapshot``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from attain.contracts.wire import to_millis
from attain.core.earnings import EARNINGS, PeriodEarnings


@dataclass(frozen=True, slots=True)
class ComponentEarnings:
    """One component of a snapshot: what was credited, against which quota, and what it earned so far."""

    component_id: str
    credited_value: str  # decimal text: money in plan currency, or a count
    quota: str | None  # decimal text, None without a quota
    attainment_ratio: str | None  # decimal text, credited_value / quota
    earned_amount: str  # decimal text, cumulative, rounded to the currency's minor unit
    source_record_count: int
    # None: a plan component's earnings; "draw" (non-recoverable) or "recoverable_draw": a draw (v3)
    kind: str | None = None

    def to_avro(self) -> dict[str, Any]:
        return {"component_id": self.component_id, "credited_value": self.credited_value, "quota": self.quota,
                "attainment_ratio": self.attainment_ratio, "earned_amount": self.earned_amount,
                "source_record_count": self.source_record_count, "kind": self.kind}

    @classmethod
    def from_avro(cls, record: Mapping[str, Any]) -> ComponentEarnings:
        return cls(record["component_id"], record["credited_value"], record.get("quota"),
                   record.get("attainment_ratio"), record["earned_amount"], record["source_record_count"],
                   record.get("kind"))


@dataclass(frozen=True, slots=True)
class SourceChange:
    """One CRM change behind a snapshot (v4): its event, the record (deal) it changed, and who changed it at
    the source (Salesforce ``changeOrigin`` and ``commitUser``; empty when the source does not say)."""

    event_id: str
    record_id: str
    change_origin: str = ""
    commit_user: str = ""

    def to_avro(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "record_id": self.record_id,
                "change_origin": self.change_origin or None, "commit_user": self.commit_user or None}

    @classmethod
    def from_avro(cls, record: Mapping[str, Any]) -> SourceChange:
        return cls(record["event_id"], record["record_id"], record.get("change_origin") or "",
                   record.get("commit_user") or "")


@dataclass(frozen=True, slots=True)
class EarningsSnapshot:
    """Cumulative earnings of one rep for one period as of ``snapshot_version`` (schemas/earnings/v4.avsc).

    >>> snapshot = EarningsSnapshot("r1", "2026-Q1", "ae", 1, "INR", 3, 1767225600000,
    ...     (ComponentEarnings("commission", "1000", "2000", "0.5", "50.00", 1),), "50.00", ("e1",), None, "")
    >>> EarningsSnapshot.from_avro(snapshot.to_avro()) == snapshot, snapshot.earned_by_component()
    (True, {'commission': Decimal('50.00')})
    """

    rep_id: str
    period: str
    plan_id: str
    plan_version: int
    currency: str
    snapshot_version: int
    computed_at: int  # epoch milliseconds
    components: tuple[ComponentEarnings, ...]
    total_earned: str  # decimal text: the sum of the components' earned_amount
    trigger_event_ids: tuple[str, ...]
    trigger_ingested_at: int | None  # epoch milliseconds, the earliest of the triggers'
    lineage: str = ""  # the calculator state that produced it; "" before lineages (v1)
    changes: tuple[SourceChange, ...] = ()  # the CRM changes behind it, who made them (v4); () before v4

    @property
    def key(self) -> tuple[str, str]:
        """(rep, period): a newer snapshot of the same key replaces this one entirely."""
        return self.rep_id, self.period

    def earned_by_component(self) -> dict[str, Decimal]:
        """Earned so far per component; raises ``decimal.InvalidOperation`` for an amount that is not a number."""
        return {c.component_id: Decimal(c.earned_amount) for c in self.components}

    @classmethod
    def of(cls, earnings: PeriodEarnings, snapshot_version: int, computed_at_ms: int,
           trigger_event_ids: Sequence[str], trigger_ingested_at: int | None, lineage: str = "",
           changes: Sequence[SourceChange] = ()) -> EarningsSnapshot:
        """The snapshot of the core's ``earnings`` (what the calculator publishes)."""
        return cls(
            earnings.rep_id, earnings.period, earnings.plan_id, earnings.plan_version, earnings.currency,
            snapshot_version, computed_at_ms,
            tuple(ComponentEarnings(
                c.component_id, str(c.credited_value), None if c.quota is None else str(c.quota),
                None if c.attainment_ratio is None else str(c.attainment_ratio), str(c.earned_amount),
                c.source_record_count, None if c.kind == EARNINGS else c.kind) for c in earnings.components),
            str(earnings.total_earned), tuple(trigger_event_ids), trigger_ingested_at, lineage, tuple(changes))

    def to_avro(self) -> dict[str, Any]:
        return {
            "rep_id": self.rep_id, "period": self.period, "plan_id": self.plan_id,
            "plan_version": self.plan_version, "currency": self.currency,
            "snapshot_version": self.snapshot_version, "computed_at": self.computed_at,
            "components": [c.to_avro() for c in self.components], "total_earned": self.total_earned,
            "trigger_event_ids": list(self.trigger_event_ids), "trigger_ingested_at": self.trigger_ingested_at,
            "lineage": self.lineage, "changes": [change.to_avro() for change in self.changes],
        }

    @classmethod
    def from_avro(cls, record: Mapping[str, Any]) -> EarningsSnapshot:
        """The snapshot of a decoded message, v1 to v4 (v1 has no lineage: ``""``; before v3 no component kind;
        before v4 no changes: ``()``)."""
        triggered = record.get("trigger_ingested_at")
        return cls(
            record["rep_id"], record["period"], record["plan_id"], record["plan_version"], record["currency"],
            record["snapshot_version"], to_millis(record["computed_at"]),
            tuple(ComponentEarnings.from_avro(c) for c in record["components"]), record["total_earned"],
            tuple(record.get("trigger_event_ids", ())), None if triggered is None else to_millis(triggered),
            record.get("lineage") or "", tuple(SourceChange.from_avro(c) for c in record.get("changes") or ()),
        )

    @classmethod
    def from_partial(cls, record: Mapping[str, Any]) -> EarningsSnapshot:
        """A snapshot written by hand (tests, benchmarks, tools) that leaves out what the ledger does not read:
        ``computed_at`` (0), a component's ``credited_value`` (its earned amount) and ``source_record_count`` (0).
        """
        return cls.from_avro({
            "computed_at": 0, **record,
            "components": [{"credited_value": c["earned_amount"], "source_record_count": 0, **c}
                           for c in record["components"]],
        })
