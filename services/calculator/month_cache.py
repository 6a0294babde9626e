"""Stage 2's month cache: a month's credits per record, kept sorted and rated, and the (rep, month) index.

The calculator keeps each (rep, month)'s records together in memory
(:class:`MonthCredits`), an index (:class:`MonthIndex`) rebuilt from the stored
values, but stores each record on its own key (:func:`record_key`): no stored
value grows with the number of deals a rep has in a month. Pure caches: what a
month holds is decided by the earnings stage; this only keeps it fast to read.
"""

from __future__ import annotations

from bisect import bisect_left, insort_right
from collections import defaultdict
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from datetime import date
from operator import attrgetter, is_
from typing import Any, Protocol, TypeVar

import orjson

from attain.core.components import RatedCredit, credit_order, rate_credit
from attain.core.crediting import Credit
from attain.core.fx import FxError, FxTable
from attain.core.partials import LineTotals, total_of
from attain.core.plans import Plan
from services.calculator.convert import credit_from_json

T = TypeVar("T")


@dataclass(frozen=True)
class RecordCredits:
    """One record's credits to one rep in one month: as stored (the JSON of the list sent), parsed, and rated.

    ``encoded`` is the stored value's JSON itself (a list of the credits as sent), kept as bytes: the
    parsed form is ``credits``, so a second decoded copy would only cost memory (about 1.1 KB a
    credit). The ratings (:func:`rate_credit`: FX, kickers, filters per component) are
    kept per plan, with the plan and FX table they were made under, and reused
    only while both are the very same objects; a changed record arrives as a
    new ``RecordCredits``, so a rating never outlives its credit.
    """

    encoded: bytes
    credits: tuple[Credit, ...]
    _rated: dict[int, tuple[Plan, FxTable, tuple[RatedCredit, ...]]] = field(
        default_factory=dict, compare=False, repr=False)
    _totals: dict[int, tuple[tuple[RatedCredit, ...], tuple[LineTotals | None, ...]]] = field(
        default_factory=dict, compare=False, repr=False)

    def rated(self, plan: Plan, fx: FxTable) -> tuple[RatedCredit, ...]:
        """The credits rated under ``plan`` and ``fx``, computed on first use."""
        kept = self._rated.get(id(plan))
        if kept is None or kept[0] is not plan or kept[1] is not fx:
            kept = (plan, fx, tuple(rate_credit(plan, fx, credit) for credit in self.credits))
            self._rated[id(plan)] = kept
        return kept[2]

    def totals(self, plan: Plan, fx: FxTable) -> tuple[LineTotals | None, ...]:
        """Per component of ``plan``, this record's lines summed (None where a line's conversion failed),
        kept as the ratings are."""
        rated = self.rated(plan, fx)
        kept = self._totals.get(id(plan))
        if kept is None or kept[0] is not rated:
            kept = self._totals[id(plan)] = (rated, component_totals(rated, len(plan.components)))
        return kept[1]

    @classmethod
    def from_wire(cls, wire: Iterable[dict[str, Any]]) -> RecordCredits:
        """From the credits as sent (stage 1's JSON objects)."""
        items = list(wire)
        return cls(encode_wire(items), tuple(credit_from_json(item) for item in items))

    @classmethod
    def from_stored(cls, encoded: bytes) -> RecordCredits:
        """From a stored value (a changelog record's bytes, kept as they are)."""
        return cls(encoded, tuple(credit_from_json(item) for item in orjson.loads(encoded)))

    def wire(self) -> list[dict[str, Any]]:
        """The credits as sent, decoded again from :attr:`encoded`."""
        items: list[dict[str, Any]] = orjson.loads(self.encoded)
        return items


def encode_wire(items: list[dict[str, Any]]) -> bytes:
    """A record's credits as stored: their JSON list (the same bytes for equal lists in the same key order)."""
    return compact(orjson.dumps(items))


def compact(encoded: bytes) -> bytes:
    """A copy of orjson's output to keep: the bytes orjson returns hold the whole buffer it wrote them in
    (4 KiB even for a value of 40 bytes) for as long as they live."""
    return bytes(memoryview(encoded))


_ORDER = attrgetter("order")
Totals = list[LineTotals | None]


def component_totals(rated: Iterable[RatedCredit], components: int) -> tuple[LineTotals | None, ...]:
    """Per component index, the lines of ``rated`` summed; None where one of them is a failed conversion
    (the period is then computed from the lines, which raises it as the batch recompute does)."""
    lines_of: list[list[Any]] = [[] for _ in range(components)]
    for item in rated:
        for index, line in enumerate(item.lines):
            if line is not None:
                lines_of[index].append(line)
    return tuple(None if any(isinstance(line, FxError) for line in lines) else LineTotals.of(lines)
                 for lines in lines_of)


@dataclass
class SortedMonth:
    """A month's credits in line order, and rated per plan in the same order, for ``records``."""

    records: tuple[RecordCredits, ...]
    credits: list[Credit]
    rated: dict[int, tuple[Plan, FxTable, list[RatedCredit]]] = field(default_factory=dict)
    totals: dict[int, tuple[Plan, FxTable, Totals]] = field(default_factory=dict)
    # clawbacks reversing what was paid among the credits: (date reversed, clawback's date) -> how many
    reversals: dict[tuple[date, date], int] = field(default_factory=dict)

    def totals_under(self, plan: Plan, fx: FxTable) -> Totals:
        """Per component of ``plan``, the month's lines summed (the month's partial results)."""
        kept = self.totals.get(id(plan))
        if kept is None or kept[0] is not plan or kept[1] is not fx:
            parts = [record.totals(plan, fx) for record in self.records]
            summed: Totals = [_sum_or_none(part[index] for part in parts) for index in range(len(plan.components))]
            kept = self.totals[id(plan)] = (plan, fx, summed)
        return kept[2]

    def rated_under(self, plan: Plan, fx: FxTable) -> list[RatedCredit]:
        """:attr:`credits`, rated under ``plan`` and ``fx``, in the same order."""
        kept = self.rated.get(id(plan))
        if kept is None or kept[0] is not plan or kept[1] is not fx:
            items = sorted((item for record in self.records for item in record.rated(plan, fx)), key=_ORDER)
            kept = self.rated[id(plan)] = (plan, fx, items)
        return kept[2]

    @classmethod
    def of(cls, records: tuple[RecordCredits, ...]) -> SortedMonth:
        credits = sorted((credit for record in records for credit in record.credits), key=credit_order)
        return cls(records, credits, reversals=_reversal_counts({}, credits, 1))

    def patched(self, records: tuple[RecordCredits, ...]) -> SortedMonth:
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
            return SortedMonth.of(records)
        credits = list(self.credits)
        for credit in (credit for record in gone for credit in record.credits):
            _remove(credits, credit_order(credit), credit_order, lambda each, credit=credit: each is credit)
        for credit in (credit for record in new for credit in record.credits):
            insort_right(credits, credit, key=credit_order)
        reversals = _reversal_counts(dict(self.reversals), (c for record in gone for c in record.credits), -1)
        view = SortedMonth(records, credits,
                           reversals=_reversal_counts(reversals, (c for record in new for c in record.credits), 1))
        for key, (plan, fx, items) in self.rated.items():
            kept = list(items)
            for credit in (credit for record in gone for credit in record.credits):
                _remove(kept, credit_order(credit), _ORDER, lambda each, credit=credit: each.credit is credit)
            for item in (item for record in new for item in record.rated(plan, fx)):
                insort_right(kept, item, key=_ORDER)
            view.rated[key] = (plan, fx, kept)
        for key, (plan, fx, totals) in self.totals.items():
            patched = _patched_totals(totals, [r.totals(plan, fx) for r in gone], [r.totals(plan, fx) for r in new])
            if patched is not None:
                view.totals[key] = (plan, fx, patched)
        return view


def _reversal_counts(counts: dict[tuple[date, date], int], credits: Iterable[Credit],
                     sign: int) -> dict[tuple[date, date], int]:
    """``counts`` (changed in place) with the reversals of what was paid among ``credits`` added (or taken away)."""
    for credit in credits:
        if credit.reverses is not None:
            key = (credit.reverses, credit.credit_date)
            left = counts.get(key, 0) + sign
            if left:
                counts[key] = left
            else:
                del counts[key]
    return counts


def _sum_or_none(parts: Iterable[LineTotals | None]) -> LineTotals | None:
    kept = list(parts)
    return None if None in kept else total_of(part for part in kept if part is not None)


def _patched_totals(totals: Totals, gone: list[tuple[LineTotals | None, ...]],
                    new: list[tuple[LineTotals | None, ...]]) -> Totals | None:
    """``totals`` without the records ``gone`` and with the records ``new`` (subtract old, add new: exact);
    None where a failed conversion is involved (the month's totals are then summed afresh on use)."""
    patched: Totals = []
    for index, total in enumerate(totals):
        old = _sum_or_none(part[index] for part in gone)
        added = _sum_or_none(part[index] for part in new)
        if total is None or old is None or added is None:
            return None
        patched.append(total - old + added)
    return patched


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
        self._view: SortedMonth | None = records._view if isinstance(records, MonthCredits) else None

    def sorted_view(self) -> SortedMonth:
        """The month's credits stably sorted in line order (:func:`credit_order`), and rated per plan."""
        view = self._view
        if view is None:
            view = self._view = SortedMonth.of(tuple(self.values()))
        elif len(view.records) != len(self) or not all(map(is_, view.records, self.values())):
            view = self._view = view.patched(tuple(self.values()))
        return view

    def sorted_credits(self) -> list[Credit]:
        return self.sorted_view().credits

    def sorted_rated(self, plan: Plan, fx: FxTable) -> list[RatedCredit]:
        return self.sorted_view().rated_under(plan, fx)



class MonthChanges(Protocol):
    """What :meth:`MonthIndex.apply` reads of a rep's update (the earnings stage's ``RepUpdate``)."""

    months: dict[str, MonthCredits]
    records: dict[tuple[str, str], RecordCredits | None]


def month_to_wire(credits: MonthCredits) -> dict[str, Any]:
    return {record_id: record.wire() for record_id, record in credits.items()}


def month_from_wire(data: dict[str, Any]) -> MonthCredits:
    return MonthCredits((record_id, RecordCredits.from_wire(wire)) for record_id, wire in data.items())


def record_key(rep_id: str, month: str, record_id: str) -> bytes:
    """The stored key of one record's credits to one rep in one month (a JSON array: ids may hold any text),
    :func:`compact`: it lives as long as the record's credits are held."""
    return compact(orjson.dumps([rep_id, month, record_id]))


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

    def apply(self, rep_id: str, update: MonthChanges) -> dict[bytes, RecordCredits | None]:
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
                value = stored[key] = RecordCredits.from_stored(bytes(value))
            grouped[(rep_id, month)][record_id] = value
        self.months = {key: MonthCredits(records) for key, records in grouped.items()}
