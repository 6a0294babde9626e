"""Both calculator stages over in-memory tables, as the faust agents drive them (no broker)."""

import json
from decimal import Decimal

import orjson

from attain.core.records import ChangeVersion, CrmChange
from services.calculator.credit_stage import (
    RecordEntry,
    credit_touched,
    encode_credit_messages,
    merge_changes,
)
from services.calculator.earnings_stage import apply_rep_messages, group_by_rep, rescore_rep
from services.calculator.limits import MAX_VALUE_BYTES
from services.calculator.month_cache import MonthIndex, month_from_wire, month_to_wire
from services.calculator.reload import recredit


def roundtrip(data):
    """What a changelog or topic hands back: the JSON text, parsed again."""
    return json.loads(json.dumps(data))


def opp(event_id, record, ts, **fields):
    return CrmChange(event_id, record, "Opportunity", "UPDATE", ChangeVersion(ts, 0, 0, event_id),
                     {k: json.dumps(v) if not isinstance(v, Decimal) else str(v) for k, v in fields.items()})


class Calculator:
    """Stage 1 and stage 2 with JSON round trips where the state stores and topics are.

    Stage 2's store holds one JSON value per (rep, month, record), as the
    calculator's ``rep-credits`` table does, and its month index is rebuilt from
    those stored bytes when ``recover_every`` batches have passed (1: before
    every batch, as if the calculator restarted each time; 0: never).

    ``published`` keeps the newest (snapshot_version, total) per (rep, period) and
    checks that versions only grow; ``snapshots`` every snapshot in order;
    ``largest`` the most bytes of any value stored or message written;
    ``refused`` every change stage 1 refused (what it dead-letters).
    """

    def __init__(self, plan_book, recover_every=1, limit=MAX_VALUE_BYTES):
        self.book, self.records, self.credits, self.versions, self.published = plan_book, {}, {}, {}, {}
        self.index, self.recover_every, self.limit, self.batches = MonthIndex(), recover_every, limit, 0
        self.clock, self.snapshots, self.largest = 0, [], 0
        self.refused = []

    def _sized(self, encoded):
        self.largest = max(self.largest, len(encoded))
        return encoded

    def recover(self):
        """Rebuild the month index from the stored bytes, as after a restart."""
        self.index.rebuild(dict(self.credits))

    def load_month(self, rep_id, month):
        return self.index.get(rep_id, month)

    def store_months(self, rep_id, update):
        for key, value in self.index.apply(rep_id, update).items():
            if value is None:
                self.credits.pop(key, None)
            else:
                self.credits[key] = self._sized(value.encoded)

    def feed(self, batch):
        if self.recover_every and self.batches % self.recover_every == 0:
            self.recover()
        self.batches += 1

        def load_record(record_id):
            stored = self.records.get(record_id)
            return None if stored is None else RecordEntry.from_json(orjson.loads(stored))

        touched = merge_changes(load_record, [(c, 0) for c in batch])
        result = credit_touched(touched, self.book)
        self.refused.extend(refusal for refusal, _ in result.rejected)
        for record_id, entry in touched.items():
            self.records[record_id] = self._sized(orjson.dumps(entry.to_json()))
        self.feed_messages([part for body in result.messages_by_rep.values()
                            for part in encode_credit_messages(body, self.limit)])

    def feed_batches(self, order, cuts):
        """Feed ``order`` in batches split at the sorted positions ``cuts``."""
        for start, end in zip([0, *cuts], [*cuts, len(order)], strict=True):
            if end > start:
                self.feed(order[start:end])

    def feed_messages(self, parts):
        """Stage 2 alone, on ``calculator.credits`` messages as encoded for the topic."""
        messages = [orjson.loads(self._sized(part)) for part in parts]
        for rep_id, rep_messages in group_by_rep(messages).items():
            self.clock += 1
            update = apply_rep_messages(
                rep_id, rep_messages, self.book, self.clock,
                lambda month, rep_id=rep_id: self.load_month(rep_id, month),
                lambda period, rep_id=rep_id: self.versions.get((rep_id, period)),
            )
            self.store_months(rep_id, update)
            self.publish(rep_id, update)

    def switch_book(self, new_book, rescore_first=False):
        """A new plan book published while running, as the calculator's reconcile task applies it
        (services/calculator/reload.py): stage 1 credits every record again and sends its credits, stage 2
        recomputes every period of every rep it holds (publishing only what the change moves); in the real
        calculator either may run first, so ``rescore_first`` chooses."""
        old_book, self.book = self.book, new_book
        self.recover()
        entries = {rid: RecordEntry.from_json(orjson.loads(v)) for rid, v in self.records.items()}
        result = recredit(entries, new_book, ("reference:new", 0))
        for record_id, entry in result.records.items():
            self.records[record_id] = self._sized(orjson.dumps(entry.to_json()))
        parts = [part for body in result.messages_by_rep.values() for part in encode_credit_messages(body, self.limit)]
        if not rescore_first:
            self.feed_messages(parts)
        held = {}
        for rep_id, month in self.index.months:
            held.setdefault(rep_id, []).append(month)
        for rep_id, months in sorted(held.items()):
            self.clock += 1
            update = rescore_rep(rep_id, months, new_book, old_book, self.clock,
                                 lambda month, rep_id=rep_id: self.load_month(rep_id, month),
                                 lambda period, rep_id=rep_id: self.versions.get((rep_id, period)),
                                 [("reference:new", 0)])
            self.publish(rep_id, update)
        if rescore_first:
            self.feed_messages(parts)

    def publish(self, rep_id, update):
        self.versions.update({(rep_id, period): v for period, v in update.versions.items()})
        for snapshot in update.snapshots:
            key = (rep_id, snapshot.earnings.period)
            previous = self.published.get(key)
            assert previous is None or previous[0] < snapshot.snapshot_version
            self.published[key] = (snapshot.snapshot_version, snapshot.earnings.total_earned)
            self.snapshots.append(snapshot)

    def totals(self):
        return {key: total for key, (_, total) in self.published.items() if total != 0}


class WholeMonthCalculator(Calculator):
    """The calculator as it was before issue 11: one stored value per (rep, month) holding all its records."""

    def __init__(self, plan_book):
        super().__init__(plan_book, recover_every=0, limit=1 << 60)
        self.months = {}

    def load_month(self, rep_id, month):
        return month_from_wire(self.months.get((rep_id, month), {}))

    def store_months(self, rep_id, update):
        for month, credits in update.months.items():
            self.months[(rep_id, month)] = roundtrip(month_to_wire(credits))
