"""The calculator's two stages as plain functions over state maps (no Kafka, no faust).

The faust agents in :mod:`services.calculator.app` only load state, call these,
and write state and messages back, so the orchestration is testable without a broker.
All plan semantics come from :mod:`attain.core`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from attain.core.crediting import Credit, CreditingError, credits_for
from attain.core.earnings import PeriodEarnings, compute_period_earnings, periods_to_publish
from attain.core.plans import PlanBook
from attain.core.records import CrmChange, RecordState, apply_change, state_from_json, state_to_json
from services.calculator.convert import credit_from_json, credit_to_json

Trigger = tuple[str, int]  # (event id, ingested at ms)


@dataclass
class TouchedRecord:
    """A record's merged state and every rep it has ever credited."""

    state: RecordState
    credited_reps: list[str]
    triggers: list[Trigger] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"state": state_to_json(self.state), "credited_reps": self.credited_reps}


@dataclass
class StageOneResult:
    records: dict[str, TouchedRecord]
    messages_by_rep: dict[str, dict[str, Any]]
    rejected: list[tuple[str, list[Trigger], str]]  # record id, its triggers, reason


def merge_changes(
    load: Callable[[str], dict[str, Any] | None], changes: Iterable[tuple[CrmChange, int]]
) -> dict[str, TouchedRecord]:
    """Merge a batch of (change, ingested at ms) into the stored record states."""
    touched: dict[str, TouchedRecord] = {}
    for change, ingested_at in changes:
        entry = touched.get(change.record_id)
        if entry is None:
            stored = load(change.record_id)
            entry = (
                TouchedRecord(state_from_json(stored["state"]), list(stored["credited_reps"]))
                if stored
                else TouchedRecord(RecordState(change.record_id, change.object_type, {}), [])
            )
            touched[change.record_id] = entry
        entry.state = apply_change(entry.state, change)
        entry.triggers.append((change.event_id, ingested_at))
    return touched


def credit_touched(touched: dict[str, TouchedRecord], book: PlanBook) -> StageOneResult:
    """Every touched record's current credits, as one upsert message per affected rep.

    A touched record always re-sends its credits to each rep it credits now and a
    retraction (``credits: None``) to every rep it credited before and no longer
    does, even when nothing changed: stage 2 applies messages in partition order
    (last one wins), so a resend is harmless, and it repairs any message lost in a
    crash whose state change was kept.
    """
    messages: dict[str, dict[str, Any]] = {}
    rejected: list[tuple[str, list[Trigger], str]] = []

    def add(rep_id: str, record_id: str, credits: list[dict[str, Any]] | None, entry: TouchedRecord) -> None:
        message = messages.setdefault(rep_id, {"rep_id": rep_id, "upserts": [], "triggers": []})
        message["upserts"].append({"record_id": record_id, "credits": credits})
        message["triggers"].extend(entry.triggers)

    for record_id, entry in touched.items():
        credits: list[Credit] = []
        try:
            credits = credits_for(entry.state, book)
        except CreditingError as error:
            rejected.append((record_id, entry.triggers, str(error)))
        by_rep: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for credit in credits:
            by_rep[credit.rep_id].append(credit_to_json(credit))
        for former_rep in entry.credited_reps:
            if former_rep not in by_rep:
                add(former_rep, record_id, None, entry)
        for rep_id, rep_credits in by_rep.items():
            add(rep_id, record_id, rep_credits, entry)
            if rep_id not in entry.credited_reps:
                entry.credited_reps.append(rep_id)
    return StageOneResult(touched, messages, rejected)


@dataclass
class Snapshot:
    earnings: PeriodEarnings
    snapshot_version: int
    triggers: list[Trigger]


def apply_rep_messages(
    rep_state: dict[str, Any] | None,
    messages: Iterable[dict[str, Any]],
    book: PlanBook,
    now_us: int,
) -> tuple[dict[str, Any], list[Snapshot]]:
    """Fold credit upserts into one rep's state; return it and the snapshots to publish.

    State: ``{"credits": {record_id: [credit, ...] | None}, "versions": {period: last
    snapshot_version}}``. Upserts apply in arrival order: the last one wins. A snapshot_version is
    ``max(previous + 1, now_us)``: strictly increasing per (rep, period), and
    still ahead of anything published before a crash that lost state.
    """
    state = rep_state or {"credits": {}, "versions": {}}
    credits: dict[str, list[dict[str, Any]] | None] = state["credits"]
    affected: list[dict[str, Any]] = []  # credits before and after, to find the periods touched
    triggers: list[Trigger] = []
    rep_id = ""
    for message in messages:
        rep_id = message["rep_id"]
        triggers.extend((t[0], t[1]) for t in message["triggers"])
        for upsert in message["upserts"]:
            previous = credits.get(upsert["record_id"])
            affected.extend([*(previous or []), *(upsert["credits"] or [])])
            credits[upsert["record_id"]] = upsert["credits"]
    if book.plan_for(rep_id) is None:
        return state, []
    live = [credit_from_json(credit) for record_credits in credits.values() for credit in record_credits or []]
    changed_dates = [credit_from_json(c).credit_date for c in affected]
    periods = periods_to_publish(book, rep_id, changed_dates, [c.credit_date for c in live])
    snapshots = []
    for period in periods:
        earnings = compute_period_earnings(book, rep_id, period, live)
        if earnings is None:
            continue
        version = max(int(state["versions"].get(period, 0)) + 1, now_us)
        state["versions"][period] = version
        snapshots.append(Snapshot(earnings, version, triggers))
    return state, snapshots


def group_by_rep(messages: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for message in messages:
        grouped[message["rep_id"]].append(message)
    return grouped
