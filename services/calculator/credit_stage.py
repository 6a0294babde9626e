"""Stage 1, the credit stage: CRM changes to per-rep credit messages, as plain functions over state maps.

The faust agent in :mod:`services.calculator.app` only loads state, calls
these, and writes state and messages back (no Kafka, no faust here), so the
orchestration is testable without a broker. All plan semantics come from
:mod:`attain.core`.

State, as maps (never counters): per CRM record, its merged
:class:`RecordState` and, per rep, every credit date it has ever sent that rep
(so a retraction reaches each month the record ever counted in).

A rep's credit message is split by records (:func:`encode_credit_messages`) to
stay under :data:`MAX_VALUE_BYTES` and carries at most :data:`MAX_TRIGGERS` triggers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from attain.core.admission import Refusal, admit
from attain.core.crediting import Credit
from attain.core.plans import PlanBook
from attain.core.records import CrmChange, RecordState, state_from_json, state_to_json
from services.calculator.convert import credit_to_json
from services.calculator.limits import MAX_TRIGGERS, MAX_VALUE_BYTES, Trigger, ValueTooLarge


@dataclass
class RecordEntry:
    """A record's merged state, and the credit dates it has sent to each rep."""

    state: RecordState
    sent: dict[str, list[str]] = field(default_factory=dict)
    triggers: list[Trigger] = field(default_factory=list)  # this batch's events, not stored
    pending: list[CrmChange] = field(default_factory=list)  # this batch's changes, admitted by credit_touched

    def to_json(self) -> dict[str, Any]:
        return {"state": state_to_json(self.state), "sent": self.sent}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecordEntry:
        return cls(state_from_json(data["state"]), {rep: list(days) for rep, days in data["sent"].items()})


@dataclass
class StageOneResult:
    records: dict[str, RecordEntry]
    messages_by_rep: dict[str, dict[str, Any]]
    rejected: list[tuple[Refusal, CrmChange]]  # each refused change (dead-lettered), the record held


def merge_changes(
    load: Callable[[str], RecordEntry | None], changes: Iterable[tuple[CrmChange, int]]
) -> dict[str, RecordEntry]:
    """Gather a batch of (change, ingested at ms) per record, with its stored state; :func:`credit_touched`
    admits them (:func:`attain.core.admission.admit`)."""
    touched: dict[str, RecordEntry] = {}
    for change, ingested_at in changes:
        entry = touched.get(change.record_id)
        if entry is None:
            stored = load(change.record_id)
            entry = (
                RecordEntry(stored.state, {rep: list(days) for rep, days in stored.sent.items()})
                if stored
                else RecordEntry(RecordState(change.record_id, change.object_type, {}))
            )
            touched[change.record_id] = entry
        entry.pending.append(change)
        entry.triggers.append((change.event_id, ingested_at, change.record_id, change.change_origin,
                               change.commit_user))
    return touched


def credit_touched(touched: dict[str, RecordEntry], book: PlanBook) -> StageOneResult:
    """Every touched record's current credits, as one message per affected rep.

    Each affected rep gets, per record, the record's credits to it now (maybe
    none) and every credit date the record ever sent it: stage 2 replaces the
    record's credits in each of those months, so a credit that moved month or rep
    is retracted where it was. A touched record always re-sends, even when nothing
    changed: stage 2 applies messages in partition order (last one wins), so a
    resend is harmless, and it repairs any message lost in a crash whose state
    change was kept.

    The batch's changes are admitted one by one, in arrival order: one that
    leaves the record uncreditable (a value out of bounds, a negative amount a
    measure refuses, anything that raises) is refused, with its reason, and the
    record keeps its last valid state and credits. Nothing here raises on a value.
    """
    messages: dict[str, dict[str, Any]] = {}
    rejected: list[tuple[Refusal, CrmChange]] = []
    for record_id, entry in touched.items():
        changes = {change.event_id: change for change in entry.pending}
        try:
            admitted = admit(entry.state, entry.pending, book)
        except Exception as error:  # noqa: BLE001 - last line of defence: refuse the batch's changes, keep the state
            reason = f"{type(error).__name__}: {error}"[:500]
            rejected.extend((Refusal(record_id, change.event_id, reason, "error"), change)
                            for change in entry.pending)
            entry.pending = []
            continue
        entry.pending = []
        rejected.extend((refusal, changes[refusal.event_id]) for refusal in admitted.refused)
        if admitted.state is not None:
            entry.state = admitted.state
        credits = admitted.credits
        credits_by_rep: dict[str, list[Credit]] = defaultdict(list)
        for credit in credits:
            credits_by_rep[credit.rep_id].append(credit)
        for rep_id in sorted(set(entry.sent) | set(credits_by_rep)):
            current = credits_by_rep.get(rep_id, [])
            days = sorted(set(entry.sent.get(rep_id, [])) | {c.credit_date.isoformat() for c in current})
            entry.sent[rep_id] = days
            message = messages.setdefault(
                rep_id, {"rep_id": rep_id, "upserts": [], "triggers": [], "earliest": None})
            message["upserts"].append(
                {"record_id": record_id, "credits": [credit_to_json(c) for c in current], "days": days}
            )
            if entry.triggers:
                message["triggers"] = [*message["triggers"], *entry.triggers][-MAX_TRIGGERS:]
                earliest = min(trigger[1] for trigger in entry.triggers)
                if message["earliest"] is None or earliest < message["earliest"]:
                    message["earliest"] = earliest
    return StageOneResult(touched, messages, rejected)


def encode_credit_messages(message: dict[str, Any], limit: int = MAX_VALUE_BYTES) -> list[bytes]:
    """``message`` (one rep's, from :func:`credit_touched`) as JSON, split by records to stay under ``limit``.

    Each part carries the rep, some of the records' upserts in their order, and the
    message's (bounded) triggers; stage 2 applies the parts in partition order,
    as it would the whole. Raises :class:`ValueTooLarge` if one record's upsert
    alone is over ``limit``.
    """
    whole = orjson.dumps(message)
    if len(whole) <= limit:
        return [whole]
    head = {key: value for key, value in message.items() if key != "upserts"}
    room = limit - len(orjson.dumps({**head, "upserts": []}))
    parts: list[bytes] = []
    chunk: list[bytes] = []
    size = 0
    for upsert in message["upserts"]:
        encoded = orjson.dumps(upsert)
        if len(encoded) + 1 > room:
            raise ValueTooLarge(
                f"record {upsert['record_id']}'s credits to rep {message['rep_id']} encode to "
                f"{len(encoded)} bytes, over the {limit}-byte bound of a credit message")
        if chunk and size + len(encoded) + 1 > room:
            parts.append(_credit_part(head, chunk))
            chunk, size = [], 0
        chunk.append(encoded)
        size += len(encoded) + 1
    parts.append(_credit_part(head, chunk))
    return parts


def _credit_part(head: dict[str, Any], upserts: list[bytes]) -> bytes:
    body = orjson.dumps(head)
    return body[:-1] + b',"upserts":[' + b",".join(upserts) + b"]}"

