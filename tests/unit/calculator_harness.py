"""Both calculator stages over in-memory tables, as the faust agents drive them (no broker)."""

import json
from decimal import Decimal

from attain.core.records import ChangeVersion, CrmChange
from services.calculator.stages import (
    RecordEntry,
    apply_rep_messages,
    credit_touched,
    group_by_rep,
    merge_changes,
    month_from_wire,
    month_to_wire,
)


def roundtrip(data):
    """What a changelog or topic hands back: the JSON text, parsed again."""
    return json.loads(json.dumps(data))


def opp(event_id, record, ts, **fields):
    return CrmChange(event_id, record, "Opportunity", "UPDATE", ChangeVersion(ts, 0, 0, event_id),
                     {k: json.dumps(v) if not isinstance(v, Decimal) else str(v) for k, v in fields.items()})


class Calculator:
    """Stage 1 and stage 2 with JSON round trips where the state stores and topics are.

    ``published`` keeps the newest (snapshot_version, total) per (rep, period) and
    checks that versions only grow; ``refused`` every change stage 1 refused (what it dead-letters).
    """

    def __init__(self, plan_book):
        self.book, self.records, self.months, self.versions, self.published = plan_book, {}, {}, {}, {}
        self.clock = 0
        self.refused = []

    def feed(self, batch):
        def load_record(record_id):
            stored = self.records.get(record_id)
            return None if stored is None else RecordEntry.from_json(stored)

        touched = merge_changes(load_record, [(c, 0) for c in batch])
        result = credit_touched(touched, self.book)
        self.refused.extend(refusal for refusal, _ in result.rejected)
        for record_id, entry in touched.items():
            self.records[record_id] = roundtrip(entry.to_json())
        messages = [roundtrip(m) for m in result.messages_by_rep.values()]
        for rep_id, rep_messages in group_by_rep(messages).items():
            self.clock += 1
            update = apply_rep_messages(
                rep_id, rep_messages, self.book, self.clock,
                lambda month, rep_id=rep_id: month_from_wire(self.months.get((rep_id, month), {})),
                lambda period, rep_id=rep_id: self.versions.get((rep_id, period)),
            )
            for month, credits in update.months.items():
                self.months[(rep_id, month)] = roundtrip(month_to_wire(credits))
            self.versions.update({(rep_id, period): v for period, v in update.versions.items()})
            for snapshot in update.snapshots:
                key = (rep_id, snapshot.earnings.period)
                previous = self.published.get(key)
                assert previous is None or previous[0] < snapshot.snapshot_version
                self.published[key] = (snapshot.snapshot_version, snapshot.earnings.total_earned)

    def totals(self):
        return {key: total for key, (_, total) in self.published.items() if total != 0}
