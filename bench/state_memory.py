"""Where the calculator's memory goes per record of state, without Kafka.

    .venv/bin/python bench/state_memory.py [--records 50000]

Runs ``--records`` won deals (the failover bench's, one CRM record each, 200 reps on the flat-rate
demo plan) through both stages as the calculator's batch agents do, with dicts standing in for the
faust stores, holding what an active calculator holds: stage 1's ``records`` values, stage 2's
``rep-credits`` values, the month index with its sorted and rated views (built by the snapshots),
the snapshot versions, and the store's key -> partition map. Then it measures with tracemalloc
what each part takes per record, by dropping the parts one at a time, and what the same state
takes as it arrives on a standby copy (the changelog's bytes, as faust applies them).
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from failover import won_deals
from workload import avro_changes, rep_ids, write_plan_book

from attain.contracts.crm_changes import change_from_avro
from attain.contracts.wire import to_millis
from attain.planfiles import load_book
from attain.platform import topics
from attain.platform.avro import contract
from services.calculator.credit_stage import RecordEntry, credit_touched, encode_credit_messages, merge_changes
from services.calculator.earnings_stage import apply_rep_messages, group_by_rep
from services.calculator.month_cache import MonthIndex, RecordCredits, compact
from services.calculator.state import HOT_RECORDS, HeldValues

BATCH = 2000
PARTITIONS = 4


class State:
    """What one active calculator holds for its partitions (all of them here), held as the service holds it."""

    def __init__(self) -> None:
        self.records: dict[bytes, Any] = {}
        self.credits: dict[bytes, Any] = {}
        self.held = {"records": HeldValues(lambda data: RecordEntry.from_json(orjson.loads(data)), HOT_RECORDS),
                     "rep-credits": HeldValues(RecordCredits.from_stored)}
        self.key_partition: dict[bytes, int] = {}
        self.index = MonthIndex()
        self.versions: dict[bytes, int] = {}
        self.changelog: dict[str, dict[bytes, bytes]] = {"records": {}, "rep-credits": {}}

    def put(self, table: dict[bytes, Any], name: str, key: bytes, value: Any, encode: Callable[[Any], Any]) -> None:
        encoded = orjson.dumps(encode(value))
        table[key] = self.held[name].keep(key, value, encoded)
        self.key_partition[key] = hash(key) % PARTITIONS
        self.changelog[name][key] = compact(encoded)  # as a standby copy gets them: bytes of their own size


def fill(state: State, book: Any, records: int) -> None:
    reps = rep_ids(200)
    changes = contract(topics.CRM_CHANGES)
    held = state.held["records"]
    for start in range(0, records, BATCH):
        messages = avro_changes(won_deals(reps, min(BATCH, records - start), start), int(time.time() * 1000))
        decoded = []
        for _, value in messages:
            record = changes.decode(value)
            decoded.append((change_from_avro(record), to_millis(record["ingested_at"])))
        touched = merge_changes(lambda record_id: held.get(state.records, record_id.encode()), decoded)
        result = credit_touched(touched, book)
        for record_id, entry in touched.items():
            state.put(state.records, "records", record_id.encode(), entry, RecordEntry.to_json)
        out = [part for message in result.messages_by_rep.values() for part in encode_credit_messages(message)]
        for rep, rep_messages in group_by_rep(orjson.loads(data) for data in out).items():
            update = apply_rep_messages(rep, rep_messages, book, 1, lambda m, rep=rep: state.index.get(rep, m),
                                        lambda p, rep=rep: state.versions.get(f"{rep}|{p}".encode()))
            for key, value in state.index.apply(rep, update).items():
                if value is not None:
                    state.put(state.credits, "rep-credits", key, value, lambda value: orjson.Fragment(value.encoded))
            for period, version in update.versions.items():
                state.versions[f"{rep}|{period}".encode()] = version


def traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--sites", type=int, default=0, help="also print the N source lines holding the most")
    args = parser.parse_args()
    plan_path = Path(tempfile.mkdtemp()) / "plans.yaml"
    write_plan_book(plan_path, rep_ids(200))
    book = load_book([plan_path])
    state = State()
    tracemalloc.start()
    base = traced()
    started = time.perf_counter()
    fill(state, book, args.records)
    took = time.perf_counter() - started
    total = traced() - base
    per = args.records
    rows: list[tuple[str, int]] = []

    def drop(what: str, action: Callable[[], None]) -> None:
        before = traced()
        action()
        rows.append((what, before - traced()))

    if args.sites:
        for stat in tracemalloc.take_snapshot().statistics("lineno")[:args.sites]:
            print(f"  {stat.size / per:8,.0f} B/record  {stat.count / per:6.1f} blocks/record  {stat.traceback}")
    changelog = state.changelog
    drop("changelog bytes (the standby form; not held by an active calculator)",
         lambda: changelog.clear())  # type: ignore[func-returns-value]
    held = total - rows[0][1]
    drop("month index: sorted and rated views (caches)", lambda: [
        setattr(month, "_view", None) for month in state.index.months.values()])
    drop("rep-credits: per-plan ratings and totals (caches)", lambda: [
        (value._rated.clear(), value._totals.clear()) for value in state.credits.values()])
    drop("month index: the (rep, month) -> records maps", lambda: state.index.months.clear())
    drop("rep-credits values", lambda: state.credits.clear())
    drop(f"records: the last {HOT_RECORDS:,} kept decoded (a fixed cost, not per record)",
         lambda: [state.held["records"].forget(key) for key in state.records])
    drop("records values (stage 1)", lambda: state.records.clear())
    drop("store key -> partition map", lambda: state.key_partition.clear())
    drop("snapshot versions", lambda: state.versions.clear())
    print(f"{args.records:,} records in {took:.1f} s; active state held: {held / 2**20:,.1f} MiB, "
          f"{held / per:,.0f} B a record; traced after the fill (with the changelog bytes): {total / 2**20:,.1f} MiB")
    for what, size in rows:
        print(f"  {what:<72} {size / 2**20:9,.1f} MiB {size / per:8,.0f} B/record")
    tracemalloc.stop()


if __name__ == "__main__":
    main()
