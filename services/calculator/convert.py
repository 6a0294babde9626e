"""Translations between the calculator's records and the core's types (no plan semantics here).

The public topics' codecs are in :mod:`attain.contracts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from sys import intern
from typing import Any

from attain.contracts.earnings import EarningsSnapshot, SourceChange
from attain.core.crediting import Credit
from attain.core.earnings import PeriodEarnings
from attain.core.records import ChangeVersion

__all__ = ["credit_from_json", "credit_to_json", "snapshot_to_avro"]

_ONE = Decimal(1)


def credit_to_json(credit: Credit) -> dict[str, Any]:
    return {
        "record_id": credit.record_id,
        "rep_id": credit.rep_id,
        "measure": credit.measure,
        "credit_date": credit.credit_date.isoformat(),
        "amount": str(credit.amount),
        "currency": credit.currency,
        "version": credit.version.to_list(),
        "role": credit.role,
        "share": str(credit.share),
        "kind": credit.kind,
        "attributes": [list(pair) for pair in credit.attributes],
        "via": credit.via,
        **({"changed_by": list(credit.changed_by)} if any(credit.changed_by) else {}),
        **({"reverses": credit.reverses.isoformat()} if credit.reverses is not None else {}),
    }


def credit_from_json(data: dict[str, Any]) -> Credit:
    """A credit as stage 1 sent it. The texts every credit of a rep or plan repeats (rep, measure,
    currency, role, kind, via) are interned, and a whole share is the one ``Decimal(1)``: the calculator
    holds a credit per record it keeps, so each copy would cost memory per record."""
    share = data.get("share", "1")
    return Credit(
        record_id=data["record_id"],
        rep_id=intern(data["rep_id"]),
        measure=intern(data["measure"]),
        credit_date=date.fromisoformat(data["credit_date"]),
        amount=Decimal(data["amount"]),
        currency=intern(data["currency"]),
        version=ChangeVersion.from_list(data["version"]),
        role=intern(data.get("role", "owner")),
        share=_ONE if share == "1" else Decimal(share),
        kind=intern(data.get("kind", "credit")),
        attributes=tuple((str(name), str(value)) for name, value in data.get("attributes", [])),
        via=intern(data.get("via", "")),
        changed_by=_pair(data.get("changed_by")),
        reverses=date.fromisoformat(data["reverses"]) if data.get("reverses") else None,
    )


def _pair(value: Any) -> tuple[str, str]:
    return ("", "") if not value else (str(value[0]), str(value[1]))


def snapshot_to_avro(
    earnings: PeriodEarnings,
    snapshot_version: int,
    computed_at_ms: int,
    trigger_event_ids: list[str],
    trigger_ingested_at: int | None,
    lineage: str = "",
    changes: Sequence[SourceChange] = (),
) -> dict[str, Any]:
    return EarningsSnapshot.of(earnings, snapshot_version, computed_at_ms, trigger_event_ids, trigger_ingested_at,
                               lineage, changes).to_avro()
