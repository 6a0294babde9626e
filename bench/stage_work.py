"""The calculator's own work per event, without Kafka: where a stage's CPU goes.

    python bench/stage_work.py [EVENTS] [--prof PATH]
    python bench/stage_work.py --history 60000,250000,1000000 [--window 10000]

Runs EVENTS (default 60000) realistic Opportunity changes (bench/workload.py,
200 reps on the flat-rate demo plan) through both calculator stages in batches
of 2,000, with in-memory dicts standing in for the faust tables, and prints
events/s and the microseconds per event of each step:

- decode: Avro ``crm.changes`` bytes to a CrmChange (``change_from_avro``)
- merge: ``merge_changes`` into the stored record states
- credit: ``credit_touched``, one credit message per affected rep
- enc1: stage 1's output as JSON (record changelog values, credit messages)
- stage2: the messages parsed, grouped by rep, ``apply_rep_messages``, the
  changed records' changelog values (one per rep, month and record, through
  the month index as the service keeps it) and Avro earnings snapshots encoded

Garbage collection is set up as the service sets it (``configure_gc``); its
pauses count in whichever step they land in, and the ``gc`` line says how much
of the total they took.
``--prof PATH`` writes a cProfile of the run to PATH (read it with pstats).

``--history H1,H2,...``: the cost of a change as history grows. For each H, runs
H events of history untimed, then times the next ``--window`` events (default
10,000) and prints their cost per event by step (stage 2 is the one that
recomputes a touched period from its credits). The events all fall in one
quarter, so the window's changes land in periods holding the whole history.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from blocks import markdown_table, write_block  # noqa: E402
from workload import avro_changes, change_events, rep_ids, write_plan_book  # noqa: E402

from attain.contracts.crm_changes import change_from_avro  # noqa: E402
from attain.contracts.wire import to_millis  # noqa: E402
from attain.planfiles import load_book  # noqa: E402
from attain.platform import topics  # noqa: E402
from attain.platform.avro import contract  # noqa: E402
from services.calculator.config import CalculatorSettings, configure_gc  # noqa: E402
from services.calculator.convert import snapshot_to_avro  # noqa: E402
from services.calculator.credit_stage import (  # noqa: E402
    RecordEntry,
    credit_touched,
    encode_credit_messages,
    merge_changes,
)
from services.calculator.earnings_stage import apply_rep_messages, group_by_rep  # noqa: E402
from services.calculator.month_cache import MonthIndex  # noqa: E402

BATCH = 2000
STEPS = ("decode", "merge", "credit", "enc1", "stage2")


def run(messages: list[tuple[bytes, bytes]], book: Any, timed_from: int = 0) -> dict[str, float]:
    """Seconds spent in each step over ``messages`` from index ``timed_from`` (all by default)."""
    changes, earnings = contract(topics.CRM_CHANGES), contract(topics.EARNINGS)
    records: dict[str, RecordEntry] = {}
    index = MonthIndex()
    versions: dict[tuple[str, str], int] = {}
    spent = dict.fromkeys(STEPS, 0.0)
    for start in range(0, len(messages), BATCH):
        t0 = time.perf_counter()
        decoded = []
        for _, value in messages[start:start + BATCH]:
            record = changes.decode(value)
            decoded.append((change_from_avro(record), to_millis(record["ingested_at"])))
        t1 = time.perf_counter()
        touched = merge_changes(records.get, decoded)
        t2 = time.perf_counter()
        result = credit_touched(touched, book)
        t3 = time.perf_counter()
        for record_id, entry in touched.items():
            records[record_id] = entry
            orjson.dumps(entry.to_json())
        out = [part for message in result.messages_by_rep.values() for part in encode_credit_messages(message)]
        t4 = time.perf_counter()
        for rep, rep_messages in group_by_rep(orjson.loads(data) for data in out).items():
            update = apply_rep_messages(rep, rep_messages, book, 1, lambda m, rep=rep: index.get(rep, m),
                                        lambda p, rep=rep: versions.get((rep, p)))
            for credits in index.apply(rep, update).values():
                if credits is not None:
                    orjson.dumps(orjson.Fragment(credits.encoded))
            for period, version in update.versions.items():
                versions[(rep, period)] = version
            for snapshot in update.snapshots:
                triggers = snapshot.event_ids()[-50:]
                earnings.encode(snapshot_to_avro(snapshot.earnings, snapshot.snapshot_version, 0, triggers, None))
        t5 = time.perf_counter()
        if start < timed_from:
            continue
        for step, seconds in zip(STEPS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            spent[step] += seconds
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("events", nargs="?", type=int, default=60000)
    parser.add_argument("--prof", metavar="PATH", help="write a cProfile of the run to PATH")
    parser.add_argument("--history", metavar="H1,H2", help="time --window events after each H events of history")
    parser.add_argument("--window", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md",
                        help="document whose generated block this run rewrites ('' to print only)")
    args = parser.parse_args()
    write = str(args.out) not in ("", ".")
    configure_gc(CalculatorSettings())  # first, as the service's main() does

    reps = rep_ids(200)
    plan_path = Path(tempfile.mkdtemp()) / "plans.yaml"
    write_plan_book(plan_path, reps)
    book = load_book([plan_path])
    if args.history:
        rows = []
        for history in (int(size) for size in args.history.split(",")):
            window = args.window - args.window % BATCH
            messages = avro_changes(change_events(reps, history + window, "h", 7), int(time.time() * 1000))
            spent = run(messages, book, timed_from=history)
            per_event = {step: round(seconds / window * 1e6, 1) for step, seconds in spent.items()}
            print(f"history {history}: next {window} events {sum(spent.values()):.2f}s -> "
                  f"{sum(per_event.values()):.1f} us/event; per event us: {per_event}", flush=True)
            rows.append((f"{history:,}", f"{sum(per_event.values()):.1f}", *(per_event.values())))
            del messages
            gc.collect()
        if write:
            write_block("stage-work-history", markdown_table(
                ("history (events)", "µs/event, all steps", *(f"{step} µs" for step in spent)), rows, "r" * 9),
                document=args.out)
        return
    messages = avro_changes(change_events(reps, args.events, "b", 7), int(time.time() * 1000))

    paused = [0.0, 0.0]  # seconds in gc, start of the current collection
    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            paused[1] = time.perf_counter()
        else:
            paused[0] += time.perf_counter() - paused[1]
    gc.callbacks.append(on_gc)

    started = time.perf_counter()
    if args.prof:
        profile = cProfile.Profile()
        spent = profile.runcall(run, messages, book)
        profile.dump_stats(args.prof)
    else:
        spent = run(messages, book)
    total = time.perf_counter() - started
    gc.callbacks.remove(on_gc)

    per_event = {step: round(seconds / args.events * 1e6, 1) for step, seconds in spent.items()}
    print(f"{args.events} events {total:.2f}s -> {args.events / total:.0f} ev/s; per event us: {per_event}")
    print(f"gc: {paused[0]:.2f}s of it ({paused[0] / args.events * 1e6:.1f} us/event), thresholds {gc.get_threshold()}")
    if write and not args.prof:
        write_block("stage-work", markdown_table(
            ("events", "events/s", "µs/event, all steps", *(f"{step} µs" for step in per_event), "of which gc µs"),
            [(f"{args.events:,}", f"{args.events / total:,.0f}", f"{total / args.events * 1e6:.1f}",
              *per_event.values(), f"{paused[0] / args.events * 1e6:.1f}")], "r" * 10), document=args.out)


if __name__ == "__main__":
    main()
