"""Translations between wire records and the core's types (no plan semantics here)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from attain.core.crediting import Credit
from attain.core.earnings import PeriodEarnings
from attain.core.records import ChangeVersion, CrmChange
from attain.platform.avro import to_millis


def change_from_avro(record: dict[str, Any]) -> CrmChange:
    return CrmChange(
        event_id=record["event_id"],
        record_id=record["record_id"],
        object_type=record["object_type"],
        change_type=record["change_type"],
        version=ChangeVersion(
            to_millis(record["commit_timestamp"]),
            record["commit_number"],
            record["sequence"],
            record["event_id"],
        ),
        fields=record["fields"],
    )


def change_to_canonical_json(change: CrmChange) -> bytes:
    """``change`` as the canonical JSON ingest takes (docs/events.md), field values as they were sent, so a
    dead letter of the calculator can be replayed (``attain dlq replay``) once its cause is fixed."""
    head = json.dumps({
        "event_id": change.event_id, "record_id": change.record_id, "object_type": change.object_type,
        "change_type": change.change_type, "commit_timestamp": change.version.commit_timestamp_ms,
        "commit_number": change.version.commit_number, "sequence": change.version.sequence,
    }, separators=(",", ":"))
    fields = ",".join(f"{json.dumps(name)}:{text}" for name, text in change.fields.items())
    return f'{head[:-1]},"fields":{{{fields}}}}}'.encode("utf-8", "backslashreplace")


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
    }


def credit_from_json(data: dict[str, Any]) -> Credit:
    return Credit(
        record_id=data["record_id"],
        rep_id=data["rep_id"],
        measure=data["measure"],
        credit_date=date.fromisoformat(data["credit_date"]),
        amount=Decimal(data["amount"]),
        currency=data["currency"],
        version=ChangeVersion.from_list(data["version"]),
        role=data.get("role", "owner"),
        share=Decimal(data.get("share", "1")),
        kind=data.get("kind", "credit"),
        attributes=tuple((str(name), str(value)) for name, value in data.get("attributes", [])),
        via=data.get("via", ""),
    )


def snapshot_to_avro(
    earnings: PeriodEarnings,
    snapshot_version: int,
    computed_at_ms: int,
    trigger_event_ids: list[str],
    trigger_ingested_at: int | None,
    lineage: str = "",
) -> dict[str, Any]:
    return {
        "rep_id": earnings.rep_id,
        "period": earnings.period,
        "plan_id": earnings.plan_id,
        "plan_version": earnings.plan_version,
        "currency": earnings.currency,
        "snapshot_version": snapshot_version,
        "computed_at": computed_at_ms,
        "components": [
            {
                "component_id": c.component_id,
                "credited_value": str(c.credited_value),
                "quota": None if c.quota is None else str(c.quota),
                "attainment_ratio": None if c.attainment_ratio is None else str(c.attainment_ratio),
                "earned_amount": str(c.earned_amount),
                "source_record_count": c.source_record_count,
            }
            for c in earnings.components
        ],
        "total_earned": str(earnings.total_earned),
        "trigger_event_ids": trigger_event_ids,
        "trigger_ingested_at": trigger_ingested_at,
        "lineage": lineage,
    }
