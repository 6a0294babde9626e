"""Period close at scale (``make bench-close``): the machine's part of closing a quarter.

    .venv/bin/python bench/period_close.py [--reps 1200] [--versions 12] [--database-url URL]

On a real PostgreSQL (embedded unless ``--database-url``) and the embedded broker (Tansu): a quarter of
activity is booked first (``--reps`` reps x ``--versions`` earnings snapshots each, two components, as
the ledger's worker books them; not timed), then the clock runs over what a period close asks of the
machine, step by step:

1. **lock**: the preparer locks the period (``period_service.lock_period``);
2. **statements**: every rep's statement is built from the ledger (JSON) and drawn as a PDF;
3. **approvals**: the approval chain (manager, comp admin, finance) approves; the last step writes the
   payout lines and their control record to the outbox in its transaction;
4. **payouts on the topic**: the outbox relay (the ledger service's, ``payouts.OutboxRelay``) publishes
   them, until a consumer of ``payouts`` has read every line of the period.

Checks that every line read from ``payouts`` is one the ledger wrote (exits 1 otherwise) and prints one
Markdown table; ``--out`` rewrites the ``bench:period-close`` block of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from blocks import markdown_table, write_block  # noqa: E402
from ledger import ledger_engine, snapshots  # noqa: E402

from attain.contracts.earnings import EarningsSnapshot  # noqa: E402
from attain.embedded.tansu import TansuBroker  # noqa: E402
from attain.ledger.approvals import Actor  # noqa: E402
from attain.platform import topics  # noqa: E402
from attain.platform.avro import contract  # noqa: E402
from attain.platform.kafka import consumer_config, ensure_topics, producer_config  # noqa: E402
from attain.platform.settings import KafkaSettings  # noqa: E402
from services.ledger.commands import DEMO_APPROVERS  # noqa: E402
from services.ledger.db import apply_snapshots  # noqa: E402
from services.ledger.payouts import OutboxRelay, lines_of  # noqa: E402
from services.ledger.period_service import decide, lock_period  # noqa: E402
from services.ledger.statements import statement, statement_pdf  # noqa: E402

PERIOD = "2026-Q1"


def book_quarter(engine: Any, run: str, reps: int, versions: int) -> str:
    """Book the quarter (untimed); the scope (the snapshots' plan family) to close."""
    items = [EarningsSnapshot.from_avro(item) for item in snapshots(run, reps, versions)]
    for start in range(0, len(items), 2000):
        apply_snapshots(engine, items[start:start + 2000])
    return items[0].plan_id


def close(engine: Any, scope: str, reps: list[str], bootstrap: str, timeout: float) -> list[tuple[str, float]]:
    kafka = KafkaSettings(bootstrap=bootstrap)
    ensure_topics(kafka, [topics.PAYOUTS, topics.PAYOUTS_CONTROL])
    consumer = Consumer(consumer_config(kafka, f"bench-close-{uuid.uuid4().hex[:8]}",
                                        **{"auto.offset.reset": "latest"}))
    consumer.subscribe([topics.PAYOUTS])
    while not consumer.assignment():  # joined before the clock starts, reading from the end
        consumer.poll(0.1)
    stopping = threading.Event()
    relay = threading.Thread(target=OutboxRelay(engine, Producer(producer_config(kafka))).run,
                             args=(stopping, 0.05), daemon=True)
    relay.start()
    steps: list[tuple[str, float]] = []
    started = time.perf_counter()

    def step(name: str) -> None:
        steps.append((name, time.perf_counter() - started - sum(seconds for _, seconds in steps)))

    lock_period(engine, scope, PERIOD, "bench-preparer")
    step("lock")
    pages = sum(len(statement_pdf(statement(engine, rep, PERIOD))) for rep in reps)
    step(f"statements: {len(reps):,} JSON + PDF ({pages / 1e6:,.1f} MB)")
    for user, role in DEMO_APPROVERS:
        decide(engine, scope, PERIOD, Actor(user, frozenset({role})), True, f"{role}: bench")
    step("approval chain (3 steps; the last writes the payout lines)")
    wanted = {line["payout_id"] for line in lines_of(engine, scope, PERIOD)}
    payouts = contract(topics.PAYOUTS)
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while seen != wanted and time.monotonic() < deadline:
        message = consumer.poll(0.1)
        if message is not None and not message.error():
            seen.add(payouts.decode(message.value())["payout_id"])
    step(f"{len(wanted):,} payout lines read from payouts")
    stopping.set()
    relay.join(10)
    consumer.close()
    if seen != wanted:
        raise SystemExit(f"{len(wanted - seen)} payout lines not on payouts after {timeout}s; "
                         f"{len(seen - wanted)} unexpected")
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=1200)
    parser.add_argument("--versions", type=int, default=12, help="earnings snapshots per rep in the quarter")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md",
                        help="document whose generated block this run rewrites ('' to print only)")
    args = parser.parse_args()
    run = uuid.uuid4().hex[:6]
    with tempfile.TemporaryDirectory(prefix="attain-bench-close-") as workdir, \
            ledger_engine(Path(workdir), args.database_url) as engine:
        scope = book_quarter(engine, run, args.reps, args.versions)
        reps = [f"{run}-rep-{rep:05d}" for rep in range(args.reps)]
        with TansuBroker(Path(workdir) / "tansu.log") as broker:
            steps = close(engine, scope, reps, broker.bootstrap, args.timeout)
    rows = [(name, f"{seconds:,.2f}") for name, seconds in steps]
    rows.append(("**lock to every payout line on `payouts`**", f"**{sum(s for _, s in steps):,.2f}**"))
    table = markdown_table(("step", "seconds"), rows, "lr")
    summary = (f"{args.reps:,} reps, a quarter of {args.versions} earnings snapshots each (2 components), "
               "embedded PostgreSQL and Tansu. Goal: under 60 s.")
    print(f"\n{summary}\n\n{table}")
    if str(args.out) not in ("", "."):
        write_block("period-close", f"{summary}\n\n{table}", document=args.out)


if __name__ == "__main__":
    main()
