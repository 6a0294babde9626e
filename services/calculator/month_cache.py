"""The calculator's two stages as plain functions over state maps (no Kafka, no faust).

The faust agents in :mod:`services.calculator.app` only load state, call these,
and write state and messages back, so the orchestration is testable without a broker.
All plan semantics come from :mod:`attain.core`.

State, as maps (never counters):

- stage 1, per CRM record: its merged :class:`RecordState` and, per rep, every
  credit date it has ever sent that rep (so a retraction reaches each month the
  record ever counted in);
- stage 2, per (rep, calendar month, source record): the record's latest
  credits to the rep dated in that month, and per (rep, period) the last
  snapshot version. Months are the finest period, so a plan's period (month,
  quarter, half, year) is a union of months, whatever the plan says today. The
  calculator keeps each (rep, month)'s records together in memory
  (:class:`MonthCredits`), an index rebuilt from the stored values, but stores
  each record on its own key: no stored value grows with the number of deals a
  rep has in a month.

Every value stored and every message written stays under :data:`MAX_VALUE_BYTES`:
a rep's credit message is split by records (:func:`encode_credit_messages`) and
carries at most :data:`MAX_TRIGGERS` triggers.
"""

from __future__ import annotations

from bisect import bisect_left, insort_right
from collections import defaultdict
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from datetime import date
from operator import attrgetter, is_
from typing import Any, TypeVar

import orjson

from attain.core.admission import Refusal, admit
from attain.core.components import RatedCredit, credit_order, rate_credit
from attain.core.crediting import Credit
from attain.core.earnings import PeriodEarnings, carries_forward, compute_period_earnings, periods_to_publish
from attain.core.fx import FxTable
from attain.core.periods import period_bounds
from attain.core.plans import Plan, PlanBook
from attain.core.records import CrmChange, RecordState, state_from_json, state_to_json
from services.calculator.convert import credit_from_json, credit_to_json

Trigger = tuple[str, int]  # (event id, ingested at ms)
T = TypeVar("T")

MAX_VALUE_BYTES = 256 * 1024
"""The most bytes of any value the calculator stores or message it writes (issue 11)."""
MAX_TRIGGERS = 50
"""Triggers a credit message carries (the newest), and a snapshot names."""


class ValueTooLarge(ValueError):
    """A value the calculator would write is over :data:`MAX_VALUE_BYTES`."""


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
        entry.triggers.append((change.event_id, ingested_at))
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
                earliest = min(at for _, at in entry.triggers)
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


@dataclass(frozen=True)
class RecordCredits:
    """One record's credits to one rep in one month: as sent (wire), parsed, and rated.

    The ratings (:func:`rate_credit`: FX, kickers, filters per component) are
    kept per plan, with the plan and FX table they were made under, and reused
    only while both are the very same objects; a changed record arrives as a
    new ``RecordCredits``, so a rating never outlives its credit.
    """

    wire: tuple[dict[str, Any], ...]
    credits: tuple[Credit, ...]
    _rated: dict[int, tuple[Plan, FxTable, tuple[RatedCredit, ...]]] = field(
        default_factory=dict, compare=False, repr=False)

    def rated(self, plan: Plan, fx: FxTable) -> tuple[RatedCredit, ...]:
        """The credits rated under ``plan`` and ``fx``, computed on first use."""
        kept = self._rated.get(id(plan))
        if kept is None or kept[0] is not plan or kept[1] is not fx:
            kept = (plan, fx, tuple(rate_credit(plan, fx, credit) for credit in self.credits))
            self._rated[id(plan)] = kept
        return kept[2]

    @classmethod
    def from_wire(cls, wire: Iterable[dict[str, Any]]) -> RecordCredits:
        items = tuple(wire)
        return cls(items, tuple(credit_from_json(item) for item in items))


_ORDER = attrgetter("order")


@dataclass
class _SortedMonth:
    """A month's credits in line order, and rated per plan in the same order, for ``records``."""

    records: tuple[RecordCredits, ...]
    credits: list[Credit]
    rated: dict[int, tuple[Plan, FxTable, list[RatedCredit]]] = field(default_factory=dict)

    def rated_under(self, plan: Plan, fx: FxTable) -> list[RatedCredit]:
        """:attr:`credits`, rated under ``plan`` and ``fx``, in the same order."""
        kept = self.rated.get(id(plan))
        if kept is None or kept[0] is not plan or kept[1] is not fx:
            items = sorted((item for record in self.records for item in record.rated(plan, fx)), key=_ORDER)
            kept = self.rated[id(plan)] = (plan, fx, items)
        return kept[2]

    @classmethod
    def of(cls, records: tuple[RecordCredits, ...]) -> _SortedMonth:
        return cls(records, sorted((credit for record in records for credit in record.credits), key=credit_order))

    def patched(self, records: tuple[RecordCredits, ...]) -> _SortedMonth:
        """The view of ``records``, from this one: drop the lines of records gone, insert those of records new.

        Equal to :meth:`of` (``records``): the sort key holds the record id and a
        month holds one entry per record, so the lines a key ties are one
        record's, inserted together in their own order, as a stable sort puts them.
        """
        before = dict(zip(map(id, self.records), self.records, strict=True))
        after = dict(zip(map(id, records), records, strict=True))
        gone = [before[key] for key in before.keys() - after.keys()]
        new = [after[key] for key in after.keys() - before.keys()]
        if 4 * (len(gone) + len(new)) > len(records):
            return _SortedMonth.of(records)
        credits = list(self.credits)
        for credit in (credit for record in gone for credit in record.credits):
            _remove(credits, credit_order(credit), credit_order, lambda each, credit=credit: each is credit)
        for credit in (credit for record in new for credit in record.credits):
            insort_right(credits, credit, key=credit_order)
        view = _SortedMonth(records, credits)
        for key, (plan, fx, items) in self.rated.items():
            kept = list(items)
            for credit in (credit for record in gone for credit in record.credits):
                _remove(kept, credit_order(credit), _ORDER, lambda each, credit=credit: each.credit is credit)
            for item in (item for record in new for item in record.rated(plan, fx)):
                insort_right(kept, item, key=_ORDER)
            view.rated[key] = (plan, fx, kept)
        return view


def _remove(items: list[T], order: tuple[date, str, str, str], key: Callable[[T], tuple[date, str, str, str]],
            match: Callable[[T], bool]) -> None:
    """Remove the one item ``match`` picks among those sorted at ``order``."""
    index = bisect_left(items, order, key=key)
    while not match(items[index]):
        index += 1
    del items[index]


class MonthCredits(dict[str, RecordCredits]):
    """Record id -> its credits dated in the month.

    Also keeps the month's credits sorted in line order (and rated per plan), so
    a change re-sorts only the months it touches. That view is reused only while
    the month holds the very same record objects, in the same order.
    """

    __slots__ = ("_view",)

    def __init__(self, records: Iterable[tuple[str, RecordCredits]] | dict[str, RecordCredits] = ()) -> None:
        super().__init__(records)
        # a copy starts from the original's view, patched on first use
        self._view: _SortedMonth | None = records._view if isinstance(records, MonthCredits) else None

    def sorted_view(self) -> _SortedMonth:
        """The month's credits stably sorted in line order (:func:`credit_order`), and rated per plan."""
        view = self._view
        if view is None:
            view = self._view = _SortedMonth.of(tuple(self.values()))
        elif len(view.records) != len(self) or not all(map(is_, view.records, self.values())):
            view = self._view = view.patched(tuple(self.values()))
        return view

    def sorted_credits(self) -> list[Credit]:
        return self.sorted_view().credits

    def sorted_rated(self, plan: Plan, fx: FxTable) -> list[RatedCredit]:
        return self.sorted_view().rated_under(plan, fx)


@dataclass
class Snapshot:
    earnings: PeriodEarnings
    snapshot_version: int
    triggers: list[Trigger]  # the newest MAX_TRIGGERS, oldest first
    earliest: int | None = None  # the earliest trigger's ingested at ms, of all of them


@dataclass
class RepUpdate:
    """What one rep's messages change: months, records and versions to store, snapshots to publish.

    ``months`` holds every month the messages touched, whole (the new index
    entries); ``records`` only the (month, record id) whose credits changed, with
    their new credits or None where the record left the month: what to store.
    """

    months: dict[str, MonthCredits]
    versions: dict[str, int]
    snapshots: list[Snapshot]
    records: dict[tuple[str, str], RecordCredits | None] = field(default_factory=dict)


def apply_rep_messages(
    rep_id: str,
    messages: Iterable[dict[str, Any]],
    book: PlanBook,
    now_us: int,
    load_month: Callable[[str], MonthCredits | None],
    load_version: Callable[[str], int | None],
) -> RepUpdate:
    """Fold one rep's credit messages into its month maps; snapshot every period touched.

    Messages apply in arrival order: the last one wins. A snapshot_version is
    ``max(previous + 1, now_us)``: strictly increasing per (rep, period), and
    still ahead of anything published before a crash that lost state.
    """
    months: dict[str, MonthCredits] = {}

    def month(name: str) -> MonthCredits:
        if name not in months:
            months[name] = MonthCredits(load_month(name) or {})
        return months[name]

    seen: dict[Trigger, None] = {}  # in order; the parts of one split message carry the same triggers
    earliest: int | None = None
    changed: dict[tuple[str, str], RecordCredits | None] = {}
    for message in messages:
        for event_id, at in message["triggers"]:
            seen.pop((event_id, at), None)
            seen[(event_id, at)] = None
        first = message.get("earliest", min((t[1] for t in message["triggers"]), default=None))
        if first is not None and (earliest is None or first < earliest):
            earliest = first
        for upsert in message["upserts"]:
            record_id = upsert["record_id"]
            by_month: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for credit in upsert["credits"]:
                by_month[credit["credit_date"][:7]].append(credit)
            for name in {day[:7] for day in upsert["days"]} | set(by_month):
                held = month(name)
                if by_month.get(name):
                    kept = held.get(record_id)
                    if kept is None or list(kept.wire) != by_month[name]:  # unchanged keeps its ratings
                        held[record_id] = changed[(name, record_id)] = RecordCredits.from_wire(by_month[name])
                elif held.pop(record_id, None) is not None:
                    changed[(name, record_id)] = None
    triggers = list(seen)[-MAX_TRIGGERS:]
    if book.plan_for(rep_id) is None or not months:
        return RepUpdate(months, {}, [], changed)

    untouched: dict[str, MonthCredits] = {}  # read, not written back

    def read(name: str) -> MonthCredits:
        if name in months:
            return months[name]
        if name not in untouched:
            loaded = load_month(name)
            untouched[name] = loaded if isinstance(loaded, MonthCredits) else MonthCredits(loaded or {})
        return untouched[name]

    def credits_in(names: Iterable[str]) -> list[Credit]:
        return [credit for name in names for record in read(name).values() for credit in record.credits]

    def earnings_of(period: str, names: list[str]) -> PeriodEarnings | None:
        """The period's earnings from its months (in date order, so their sorted credits stay sorted)."""
        views = [read(name).sorted_view() for name in names]

        def rated(plan: Plan) -> list[RatedCredit]:
            return [item for view in views for item in view.rated_under(plan, book.fx)]

        credits = [credit for view in views for credit in view.credits]
        return compute_period_earnings(book, rep_id, period, credits, rated)

    touched_days = [day for name in months for day in _days_of_month(name)]
    carrying = any(carries_forward(plan) for plan in book.plans_of(rep_id))
    credited: list[date] = []  # periods_to_publish reads them only under a plan that carries forward
    if carrying:
        years = sorted({int(name[:4]) for name in months})
        credited = [c.credit_date for c in credits_in(f"{y}-{m:02d}" for y in years for m in range(1, 13))]
    versions: dict[str, int] = {}
    snapshots = []
    for period in periods_to_publish(book, rep_id, touched_days, credited):
        first, last = period_bounds(period)
        start = date(first.year, 1, 1) if carrying else first
        names = [f"{y}-{m:02d}" for y in range(start.year, last.year + 1) for m in range(1, 13)
                 if start <= date(y, m, 1) <= last]
        earnings = earnings_of(period, names)
        if earnings is None:
            continue
        version = max((load_version(period) or 0) + 1, now_us)
        versions[period] = version
        snapshots.append(Snapshot(earnings, version, triggers, earliest))
    return RepUpdate(months, versions, snapshots, changed)


def _days_of_month(name: str) -> list[date]:
    first, last = period_bounds(name)
    return [date(first.year, first.month, day) for day in range(1, last.day + 1)]


def group_by_rep(messages: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for message in messages:
        grouped[message["rep_id"]].append(message)
    return grouped


def month_to_wire(credits: MonthCredits) -> dict[str, Any]:
    return {record_id: list(record.wire) for record_id, record in credits.items()}


def month_from_wire(data: dict[str, Any]) -> MonthCredits:
    return MonthCredits((record_id, RecordCredits.from_wire(wire)) for record_id, wire in data.items())


def record_key(rep_id: str, month: str, record_id: str) -> bytes:
    """The stored key of one record's credits to one rep in one month (a JSON array: ids may hold any text)."""
    return orjson.dumps([rep_id, month, record_id])


class MonthIndex:
    """(rep, month) -> :class:`MonthCredits`, over a store of one value per (rep, month, record).

    Stage 2 reads whole months; the store keeps each record's credits on its own
    key (:func:`record_key`), so no stored value grows with a rep's deals. The
    index lives in memory only and is rebuilt from the store whenever the store
    is (:meth:`rebuild`); between rebuilds :meth:`apply` keeps both in step.
    """

    def __init__(self) -> None:
        self.months: dict[tuple[str, str], MonthCredits] = {}

    def get(self, rep_id: str, month: str) -> MonthCredits | None:
        return self.months.get((rep_id, month))

    def apply(self, rep_id: str, update: RepUpdate) -> dict[bytes, RecordCredits | None]:
        """Take ``update``'s months; return the values to store (None: delete), by key."""
        for name, credits in update.months.items():
            if credits:
                self.months[(rep_id, name)] = credits
            else:
                self.months.pop((rep_id, name), None)
        return {record_key(rep_id, name, record_id): value for (name, record_id), value in update.records.items()}

    def rebuild(self, stored: MutableMapping[bytes, Any]) -> None:
        """Index every value of ``stored``, decoding (in place) those still JSON bytes from a changelog."""
        grouped: dict[tuple[str, str], dict[str, RecordCredits]] = defaultdict(dict)
        for key, value in stored.items():
            rep_id, month, record_id = orjson.loads(key)
            if isinstance(value, bytes | bytearray):
                value = stored[key] = RecordCredits.from_wire(orjson.loads(value))
            grouped[(rep_id, month)][record_id] = value
        self.months = {key: MonthCredits(records) for key, records in grouped.items()}
