"""Stage 2, the earnings stage: one rep's credit messages to its month maps and period snapshots.

Plain functions over state maps (no Kafka, no faust); the faust agent in
:mod:`services.calculator.app` loads state, calls :func:`apply_rep_messages`
and writes state and snapshots back. All plan semantics come from
:mod:`attain.core`: which months make a period is
:func:`attain.core.periods.months_of` (on the rep's fiscal calendar).

State, as maps (never counters): per (rep, calendar month, source record), the
record's latest credits to the rep dated in that month (kept by
:mod:`services.calculator.month_cache`), and per (rep, period) the last
snapshot version. Months are the finest period, so a plan's period (month,
quarter, half, year) is a union of months, whatever the plan says today.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import chain
from typing import Any

from attain.contracts.earnings import SourceChange
from attain.core.clawbacks import reversal_reach
from attain.core.components import RatedCredit
from attain.core.crediting import Credit
from attain.core.earnings import PeriodEarnings, carries_forward, compute_period_earnings, periods_to_publish
from attain.core.fx import FxTable
from attain.core.partials import LineTotals, combined
from attain.core.periods import days_of, months_of, period_bounds, period_of
from attain.core.plans import Plan, PlanBook
from services.calculator.convert import credit_from_json
from services.calculator.limits import MAX_TRIGGERS, Trigger, trigger_from_wire
from services.calculator.month_cache import MonthCredits, RecordCredits, SortedMonth, component_totals, encode_wire


@dataclass
class Snapshot:
    earnings: PeriodEarnings
    snapshot_version: int
    triggers: list[Trigger]  # the newest MAX_TRIGGERS, oldest first
    earliest: int | None = None  # the earliest trigger's ingested at ms, of all of them

    def event_ids(self) -> list[str]:
        """The triggers' event ids, oldest first."""
        return [trigger[0] for trigger in self.triggers]

    def changes(self) -> list[SourceChange]:
        """The triggers as the CRM changes behind the snapshot: record, origin and user (those that name a record)."""
        return [SourceChange(event_id, record_id, origin, user)
                for event_id, _, record_id, origin, user in self.triggers if record_id]


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
    messages_seen = []
    for message in messages:
        messages_seen.append(message)
        for item in message["triggers"]:
            trigger = trigger_from_wire(item)
            seen.pop(trigger, None)
            seen[trigger] = None
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
                    encoded = encode_wire(by_month[name])
                    if kept is None or kept.encoded != encoded:  # unchanged keeps its ratings
                        held[record_id] = changed[(name, record_id)] = RecordCredits(
                            encoded, tuple(map(credit_from_json, by_month[name])))
                elif held.pop(record_id, None) is not None:
                    changed[(name, record_id)] = None
    triggers = list(seen)[-MAX_TRIGGERS:]
    if book.plan_for(rep_id) is None or not months:
        return RepUpdate(months, {}, [], changed)
    moved = months
    if all(message.get("recompute") for message in messages_seen):  # a new book's re-credit (reload.py):
        moved = {name: months[name] for name, _ in changed}  # only what moved; the rescore does the rest
    versions, snapshots = snapshot_periods(rep_id, moved, book, now_us, load_month, load_version,
                                           triggers, earliest)
    return RepUpdate(months, versions, snapshots, changed)


def rescore_rep(
    rep_id: str,
    month_names: Iterable[str],
    book: PlanBook,
    old_book: PlanBook | None,
    now_us: int,
    load_month: Callable[[str], MonthCredits | None],
    load_version: Callable[[str], int | None],
    triggers: list[Trigger],
) -> RepUpdate:
    """Every period of ``rep_id``'s months (``month_names``: all the months it holds) recomputed under ``book``
    (a new plan book), with the credits held; a snapshot only for a period whose earnings differ from what
    ``old_book`` (the book they were computed under; None when unknown) gives for the same credits."""
    months = {name: held for name in month_names if (held := load_month(name))}
    if not months or book.plan_for(rep_id) is None:
        return RepUpdate({}, {}, [])
    earliest = min((trigger[1] for trigger in triggers), default=None)
    versions, snapshots = snapshot_periods(rep_id, months, book, now_us, load_month, load_version,
                                           triggers, earliest)
    if old_book is not None and old_book.plan_for(rep_id) is not None:
        _, before = snapshot_periods(rep_id, months, old_book, now_us, load_month, load_version, triggers, earliest)
        was = {snapshot.earnings.period: snapshot.earnings for snapshot in before}
        snapshots = [s for s in snapshots if was.get(s.earnings.period) != s.earnings]
        versions = {s.earnings.period: versions[s.earnings.period] for s in snapshots}
    return RepUpdate({}, versions, snapshots)


def snapshot_periods(
    rep_id: str,
    months: dict[str, MonthCredits],
    book: PlanBook,
    now_us: int,
    load_month: Callable[[str], MonthCredits | None],
    load_version: Callable[[str], int | None],
    triggers: list[Trigger],
    earliest: int | None,
) -> tuple[dict[str, int], list[Snapshot]]:
    """The snapshot of every period the ``months`` touched make (and their versions), under ``book``."""
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
        """The period's earnings from its months (in date order, so their sorted credits stay sorted), and
        from the months of the periods its clawbacks reverse (their effective rates): from the months'
        partial results where the core can use them, else from their rated credits."""
        reversed_days = {day for name in names for day, _ in read(name).sorted_view().reversals}
        names = sorted(set(names).union(*(original_months(day) for day in reversed_days)))
        views = [read(name).sorted_view() for name in names]

        def rated(plan: Plan) -> list[RatedCredit]:
            return [item for view in views for item in view.rated_under(plan, book.fx)]

        def summed(plan: Plan, index: int, first: date, last: date) -> LineTotals | None:
            return period_totals(views, names, plan, book.fx, index, first, last)

        credits = list(chain.from_iterable(view.credits for view in views))
        return compute_period_earnings(book, rep_id, period, credits, rated, summed)

    def original_months(day: date) -> list[str]:
        plan = book.plan_on(rep_id, day)
        return [] if plan is None else months_of(period_of(day, plan.period_type, plan.fiscal_start),
                                                 fiscal_start=plan.fiscal_start, from_year_start=carrying)

    touched_days = [day for name in months for day in days_of(name)]
    carrying = any(carries_forward(plan) for plan in book.plans_of(rep_id))
    credited: list[date] = []  # periods_to_publish reads them only under a plan that carries forward
    fiscal_start = book.fiscal_start(rep_id)
    if carrying:  # every month of each (fiscal) year a touched month is in
        years = sorted({period_of(date.fromisoformat(f"{name}-01"), "year", fiscal_start) for name in months})
        credited = [c.credit_date for c in credits_in(
            name for year in years for name in months_of(year, fiscal_start=fiscal_start))]
    periods = periods_to_publish(book, rep_id, touched_days, credited)
    reach = reversal_reach(book)
    if reach:  # a period's effective rates move the reversals of its deals in later periods: publish those too
        moved = [day for period in periods for day in _reversals_of(period, reach, read, fiscal_start)]
        periods = sorted(set(periods).union(periods_to_publish(book, rep_id, moved, credited)))
    versions: dict[str, int] = {}
    snapshots = []
    for period in periods:
        names = months_of(period, fiscal_start=fiscal_start, from_year_start=carrying)
        earnings = earnings_of(period, names)
        if earnings is None:
            continue
        version = max((load_version(period) or 0) + 1, now_us)
        versions[period] = version
        snapshots.append(Snapshot(earnings, version, triggers, earliest))
    return versions, snapshots


def _reversals_of(period: str, reach: int, read: Callable[[str], MonthCredits], fiscal_start: int = 1) -> list[date]:
    """The dates of clawbacks reversing the credits of ``period``: they land at most ``reach`` days after it
    (read from each month's index of its reversals, :attr:`SortedMonth.reversals`)."""
    first, last = period_bounds(period, fiscal_start)
    names = [name for day in (first, last + timedelta(days=reach)) for name in [day.isoformat()[:7]]]
    span = [f"{year:04d}-{month:02d}" for year in range(first.year, last.year + reach // 365 + 2)
            for month in range(1, 13)]
    return sorted({on for name in span if names[0] <= name <= names[1]
                   for reversed_day, on in read(name).sorted_view().reversals if first <= reversed_day <= last})


def period_totals(views: Sequence[SortedMonth], names: Sequence[str], plan: Plan, fx: FxTable, index: int,
                  first: date, last: date) -> LineTotals | None:
    """Component ``index`` of ``plan`` over ``first``..``last``, from the months ``names`` (their ``views``):
    a month wholly inside takes its partial result, a month cut by the range sums its lines in the range."""
    parts = []
    for name, view in zip(names, views, strict=True):
        month_first, month_last = period_bounds(name)
        if month_last < first or month_first > last:
            continue
        if first <= month_first and month_last <= last:
            part = view.totals_under(plan, fx)[index]
        else:
            part = component_totals(_dated(view.rated_under(plan, fx), first, last), len(plan.components))[index]
        if part is None:
            return None
        parts.append(part)
    return combined(parts)


def _dated(rated: list[RatedCredit], first: date, last: date) -> list[RatedCredit]:
    """The items of ``rated`` (sorted by order, so by date) dated ``first``..``last``."""
    return rated[bisect_left(rated, first, key=_day):bisect_right(rated, last, key=_day)]


def _day(item: RatedCredit) -> date:
    return item.order[0]


def group_by_rep(messages: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for message in messages:
        grouped[message["rep_id"]].append(message)
    return grouped
