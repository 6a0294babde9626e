"""Ledger benchmark (``make bench-ledger``): earnings snapshots reconciled and persisted per second.

    .venv/bin/python bench/ledger.py [--reps 2000] [--versions 10] [--batch 1000] [--database-url URL]

Two measurements on a real PostgreSQL (embedded unless ``--database-url``) and,
for the second, the embedded broker (Tansu):

1. **DB path**: :func:`services.ledger.db.apply_snapshots` over batches of
   ``--batch`` snapshots (``--reps`` reps x ``--versions`` increasing versions,
   two components each, every snapshot changes both), i.e. the reconciling
   transaction alone: head lock, posted sums, period states, delta entries, heads.
2. **Service path**: the same snapshots pre-produced as Avro on ``earnings``,
   then :class:`services.ledger.worker.LedgerWorker` (the service's loop) drains
   them with a fresh group: consume, decode, reconcile, DB commit, offset commit.

Checks afterwards that the ledger totals equal the last snapshot of every rep
(exits 1 otherwise) and prints one Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer
from prometheus_client import REGISTRY

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from blocks import markdown_table, write_block  # noqa: E402

from attain.contracts.earnings import EarningsSnapshot  # noqa: E402
from attain.embedded.postgres import EmbeddedPostgres  # noqa: E402
from attain.embedded.tansu import TansuBroker  # noqa: E402
from attain.platform import topics  # noqa: E402
from attain.platform.avro import contract  # noqa: E402
from attain.platform.kafka import consumer_config, ensure_topics, producer_config  # noqa: E402
from attain.platform.settings import KafkaSettings  # noqa: E402
from services.ledger.db import apply_snapshots, ledger_totals, make_engine, migrate  # noqa: E402
from services.ledger.worker import LedgerWorker  # noqa: E402


def snapshots(run: str, reps: int, versions: int) -> list[dict[str, Any]]:
    """Version-major order, as a busy quarter looks to the ledger: every rep moves, again and again."""
    result = []
    for version in range(1, versions + 1):
        for rep in range(reps):
            commission, spiff = Decimal(version * 1000 + rep) / 100, Decimal(version * 10)
            result.append({
                "rep_id": f"{run}-rep-{rep:05d}", "period": "2026-Q1", "plan_id": f"bench-{run}", "plan_version": 1,
                "currency": "INR", "snapshot_version": version, "computed_at": datetime.now(UTC),
                "total_earned": str(commission + spiff), "trigger_event_ids": [f"evt-{run}-{rep}-{version}"],
                "trigger_ingested_at": None,
                "components": [
                    {"component_id": "commission", "credited_value": "0", "quota": None, "attainment_ratio": None,
                     "earned_amount": str(commission), "source_record_count": version},
                    {"component_id": "spiff", "credited_value": "0", "quota": None, "attainment_ratio": None,
                     "earned_amount": str(spiff), "source_record_count": 1},
                ],
            })
    return result


def check(engine: Any, items: list[dict[str, Any]]) -> None:
    last = {(s["rep_id"], s["period"]): Decimal(s["total_earned"]) for s in items}
    totals = ledger_totals(engine)
    wrong = [key for key, total in last.items() if totals.get(key) != total]
    if wrong:
        raise SystemExit(f"ledger disagrees with the last snapshot for {len(wrong)} reps, e.g. {wrong[:3]}")


def db_path(engine: Any, items: list[dict[str, Any]], batch: int) -> float:
    typed = [EarningsSnapshot.from_avro(item) for item in items]  # decoded, as the worker hands them over
    started = time.perf_counter()
    for start in range(0, len(typed), batch):
        apply_snapshots(engine, typed[start:start + batch])
    elapsed = time.perf_counter() - started
    check(engine, items)
    return len(items) / elapsed


def service_path(engine: Any, items: list[dict[str, Any]], batch: int, bootstrap: str) -> float:
    kafka = KafkaSettings(bootstrap=bootstrap)
    ensure_topics(kafka, [topics.EARNINGS, topics.EARNINGS_DLQ])
    producer = Producer(producer_config(kafka, **{"linger.ms": 20}))
    earnings = contract(topics.EARNINGS)
    for snapshot in items:
        producer.produce(topics.EARNINGS, key=snapshot["rep_id"].encode(), value=earnings.encode(snapshot))
        producer.poll(0)
    producer.flush(60)
    group = f"bench-ledger-{uuid.uuid4().hex[:8]}"
    worker = LedgerWorker(Consumer(consumer_config(kafka, group)), Producer(producer_config(kafka)), engine,
                          batch, 0.2, 1.0)
    thread = threading.Thread(target=worker.run, daemon=True)
    consumed_before = _sample("attain_ledger_snapshots_total")
    thread.start()
    # The clock runs from the first snapshot consumed (group join excluded) to the end of the
    # last batch (DB commit and offset commit done), from the worker's own Prometheus counters.
    first = last = 0.0
    batches = _sample("attain_ledger_batch_seconds_count")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        now = time.perf_counter()
        consumed = _sample("attain_ledger_snapshots_total") - consumed_before
        if consumed and not first:
            first = now
        if (current := _sample("attain_ledger_batch_seconds_count")) != batches:
            batches, last = current, now
        if consumed >= len(items) and last and now - last > 2:
            break
        time.sleep(0.002)
    worker.stopping.set()
    thread.join(30)
    check(engine, items)
    return len(items) / (last - first)


def _sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


@contextmanager
def ledger_engine(workdir: Path, database_url: str | None) -> Iterator[Any]:
    """A migrated ledger database (the embedded PostgreSQL under ``workdir`` unless ``database_url``), its engine."""
    postgres = None if database_url else EmbeddedPostgres(workdir / "pg", delete_on_stop=True)
    url = database_url or postgres.start()  # type: ignore[union-attr]
    try:
        migrate(url)
        engine = make_engine(url)
        yield engine
        engine.dispose()
    finally:
        if postgres is not None:
            postgres.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=2000)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--skip-service", action="store_true")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md",
                        help="document whose generated block this run rewrites ('' to print only)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="attain-bench-ledger-") as workdir, \
            ledger_engine(Path(workdir), args.database_url) as engine:
        count = args.reps * args.versions
        db_rate = db_path(engine, snapshots(uuid.uuid4().hex[:6], args.reps, args.versions), args.batch)
        rows = [("DB path: apply_snapshots", count, db_rate)]
        if not args.skip_service:
            with TansuBroker(Path(workdir) / "tansu.log") as broker:
                rate = service_path(engine, snapshots(uuid.uuid4().hex[:6], args.reps, args.versions),
                                    args.batch, broker.bootstrap)
            rows.append(("Service path: consume, decode, reconcile, commit", count, rate))
    table = markdown_table(("measurement", "snapshots", "snapshots/s"),
                           [(name, f"{n:,}", f"{rate:,.0f}") for name, n, rate in rows], "lrr")
    print(f"\n{args.reps} reps x {args.versions} versions, 2 components, batches of {args.batch}\n\n{table}")
    if str(args.out) not in ("", "."):
        write_block("ledger", f"{args.reps:,} reps x {args.versions} versions, 2 components, "
                              f"batches of {args.batch:,}.\n\n{table}", document=args.out)


if __name__ == "__main__":
    main()
