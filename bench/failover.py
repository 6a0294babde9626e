"""Calculator failover benchmark: how soon a surviving calculator serves the partitions of one SIGKILLed.

    .venv/bin/python bench/failover.py [--records 1000000] [--standby-replicas 1] [--broker apache]

Steps, on one embedded broker (Tansu; ``--broker apache`` for Apache Kafka) and the embedded PostgreSQL:

1. The pipeline (:class:`attain.embedded.stack.Stack`, 200 reps, 4 partitions) with one calculator;
   ``crm.changes`` filled with ``--records`` won deals, each a CRM record of its own (so the
   calculator holds that many records in stage 1 and as many credits in stage 2), and drained.
2. A second calculator joins the group (``ATTAIN_CALCULATOR_STANDBY_REPLICAS`` as given): it takes
   half the partitions and, with standby replicas, a copy of the other half; the bench waits until
   it is ready and its copy has caught up (``standby_lag`` 0 on its readiness page).
3. A steady flow of new deals (200 events/s over every partition), then SIGKILL of the first
   calculator. The survivor's log says when it got the partitions (the end of the rebalance) and
   when its tables were recovered; its first snapshot on ``earnings`` for a partition it took over
   (the message's timestamp) says when it served again.

The figures go to the ``bench:failover`` block of docs/benchmarks.md (``--out``). Every process it
starts is stopped before it exits.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson
import workload
from blocks import command_line, markdown_table, write_block
from confluent_kafka import Consumer, Producer, TopicPartition
from probes import scrape, tree_usage

from attain.contracts.crm_changes import normalise, parse_json
from attain.embedded.apache_kafka import ApacheKafka
from attain.embedded.stack import Stack
from attain.platform import topics
from attain.platform.avro import contract
from attain.platform.kafka import consumer_config, producer_config
from attain.platform.settings import KafkaSettings

REPO = Path(__file__).resolve().parents[1]
PARTITIONS = 4
FLOW_PER_SECOND = 200


def won_deals(reps: Sequence[str], count: int, start: int, prefix: str = "006FO") -> list[dict[str, Any]]:
    """``count`` won deals, one CRM record each, spread over the reps and the months of 2026-Q1."""
    return [{
        "event_id": f"{prefix}{number:010d}-won", "record_id": f"{prefix}{number:010d}",
        "object_type": "Opportunity", "change_type": "CREATE",
        "commit_timestamp": f"2026-0{1 + number % 3}-15T09:00:00Z",
        "fields": {"owner_id": reps[number % len(reps)], "amount": str(1000 + number % 90_000), "is_won": True,
                   "close_date": f"2026-0{1 + number % 3}-{1 + number % 28:02d}", "currency": "INR"},
    } for number in range(start, start + count)]


def produce_all(kafka: KafkaSettings, messages: Sequence[tuple[bytes, bytes]]) -> None:
    producer = Producer(producer_config(kafka, **{"client.id": "attain-bench-failover"}))
    for key, value in messages:
        while True:
            try:
                producer.produce(topics.CRM_CHANGES, value=value, key=key)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    if producer.flush(120) != 0:
        raise RuntimeError("crm.changes: messages still queued after 120 s")


def won_deal_messages(reps: Sequence[str], count: int, start: int, now_ms: int) -> list[tuple[bytes, bytes]]:
    """:func:`won_deals` as ``crm.changes`` messages, as :func:`workload.avro_changes` makes them but without
    ingest's parse and validation per event (two thirds of the bench's own CPU at a million records): each
    record is the normalised record of the first deal of its month with the deal's own ids and fields. The
    first deals of each month are also made the slow way, and must come out the same."""
    changes = contract(topics.CRM_CHANGES)
    deals = won_deals(reps, count, start)
    checked = deals[:6]
    templates = {deal["commit_timestamp"]: normalise(parse_json(json.dumps(deal)), "bench", now_ms)
                 for deal in checked}
    messages = []
    for deal in deals:
        record = {**templates[deal["commit_timestamp"]], "event_id": deal["event_id"], "record_id": deal["record_id"],
                  "fields": {name: orjson.dumps(value).decode() for name, value in deal["fields"].items()}}
        messages.append((deal["record_id"].encode(), changes.encode(record)))
    if messages[:len(checked)] != workload.avro_changes(checked, now_ms):
        raise AssertionError("won_deal_messages: a message differs from the one ingest's normalise makes")
    return messages


def fill(kafka: KafkaSettings, reps: Sequence[str], records: int, chunk: int = 50_000) -> None:
    for start in range(0, records, chunk):
        messages = won_deal_messages(reps, min(chunk, records - start), start, int(time.time() * 1000))
        produce_all(kafka, messages)
        print(f"  crm.changes: {start + len(messages):,} of {records:,} records", flush=True)


def counter(port: int, name: str) -> float:
    try:
        return scrape(port).get(name, 0.0)
    except (httpx.HTTPError, OSError):
        return 0.0


def wait_for(check: Any, timeout: float, what: str, interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def standby_lag(port: int) -> int | None:
    try:
        lag = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2).json().get("standby_lag")
    except (httpx.HTTPError, ValueError):
        return None
    return None if lag is None else int(lag)


def recoveries(log_path: Path) -> list[dict[str, Any]]:
    lines = log_path.read_text().splitlines()
    return [record for record in map(json.loads, lines) if record.get("message") == "tables recovered"]


class Flow(threading.Thread):
    """New won deals straight to ``crm.changes`` at a steady rate, until stopped."""

    def __init__(self, kafka: KafkaSettings, reps: Sequence[str], start: int) -> None:
        super().__init__(daemon=True)
        self.kafka, self.reps, self.next, self.halt = kafka, reps, start, threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.1):
            events = won_deals(self.reps, FLOW_PER_SECOND // 10, self.next)
            self.next += len(events)
            produce_all(self.kafka, workload.avro_changes(events, int(time.time() * 1000)))


def first_snapshot_after(kafka: KafkaSettings, partitions: set[int], after: float, timeout: float = 120) -> float:
    """Wall time of the first ``earnings`` message on ``partitions`` produced after ``after``."""
    consumer = Consumer(consumer_config(kafka, f"bench-failover-{uuid.uuid4()}", **{"enable.auto.commit": False}))
    try:
        since = int(after * 1000)
        found = consumer.offsets_for_times([TopicPartition(topics.EARNINGS, p, since) for p in partitions], 10)
        consumer.assign(found)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and not message.error() and message.timestamp()[1] / 1000 >= after:
                return float(message.timestamp()[1]) / 1000
        raise TimeoutError(f"no snapshot on earnings partitions {sorted(partitions)} within {timeout} s")
    finally:
        consumer.close()


def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(args.workdir)
    reps = workload.rep_ids(200)
    plans = workdir / "plans.yaml"
    shutil.rmtree(workdir, ignore_errors=True)  # the bench's own directory: a fresh database each run
    workdir.mkdir(parents=True)
    workload.write_plan_book(plans, reps)
    broker = ApacheKafka(workdir / "apache-kafka") if args.broker == "apache" else None
    bootstrap = broker.start() if broker is not None else None
    stack = Stack(workdir=workdir / "stack", plans_file=plans, kafka_bootstrap=bootstrap, partitions=PARTITIONS,
                  extra_env={"ATTAIN_CALCULATOR_STANDBY_REPLICAS": str(args.standby_replicas)})
    result: dict[str, Any] = {"records": args.records, "standby_replicas": args.standby_replicas,
                              "broker": args.broker}
    flow: Flow | None = None
    try:
        stack.start(timeout=180)
        kafka = KafkaSettings(bootstrap=stack.kafka_bootstrap or "", partitions=PARTITIONS)
        first = stack.services["calculator"]
        print(f"filling crm.changes with {args.records:,} records...", flush=True)
        filled = time.monotonic()
        fill(kafka, reps, args.records)
        wait_for(lambda: counter(first.port, "attain_calculator_events_total") >= args.records,
                 max(1800, args.records // 200), "the first calculator to take every record")
        result["drain_seconds"] = time.monotonic() - filled
        print(f"drained after {result['drain_seconds']:.0f} s; a second calculator joins...", flush=True)
        joined = time.monotonic()
        second = stack.add_instance("calculator", "calculator-2")
        slow = max(900, args.records // 200)  # a cold join reads the changelogs: ~1,000 records/s on a loaded host
        stack.wait_ready(timeout=slow, names=("calculator-2",))
        result["join_ready_seconds"] = time.monotonic() - joined
        if args.standby_replicas:
            wait_for(lambda: standby_lag(second.port) == 0, slow, "the joined calculator's standby copy")
            time.sleep(10)  # its values decoded in the background (RepCredits._decode_applied, every second)
        result["join_caught_up_seconds"] = time.monotonic() - joined
        result["rss_mib"] = {name: tree_usage(stack.services[name].process.pid)[0] // 2**20  # type: ignore[union-attr]
                             for name in ("calculator", "calculator-2")}
        taken = set(range(PARTITIONS)) - set(recoveries(second.log_path)[-1]["active_partitions"])
        print(f"joined: ready after {result['join_ready_seconds']:.1f} s, caught up after "
              f"{result['join_caught_up_seconds']:.1f} s; SIGKILL of the first, whose partitions were "
              f"{sorted(taken)}...", flush=True)
        flow = Flow(kafka, reps, args.records)
        flow.start()
        time.sleep(2)  # a flow already going at the kill
        seen = len(recoveries(second.log_path))
        killed = time.time()
        stack.kill_service("calculator", signal.SIGKILL)
        wait_for(lambda: len(recoveries(second.log_path)) > seen
                 and recoveries(second.log_path)[-1]["active_partitions"] == list(range(PARTITIONS)),
                 300, "the survivor to own every partition")
        recovered = recoveries(second.log_path)[-1]
        recovered_at = time.mktime(time.strptime(recovered["time"][:19], "%Y-%m-%d %H:%M:%S")) \
            + int(recovered["time"][20:]) / 1000
        assigned_at = recovered_at - recovered["seconds_since_assignment"]
        served_at = first_snapshot_after(kafka, taken, assigned_at)
        result.update(
            session_timeout_ms=kafka.session_timeout_ms, kill_to_assigned=assigned_at - killed,
            assigned_to_recovered=recovered["seconds_since_assignment"], index_seconds=recovered["index_seconds"],
            assigned_to_first_snapshot=served_at - assigned_at, kill_to_first_snapshot=served_at - killed,
            credit_values=recovered["credit_values"], taken=sorted(taken))
        return result
    finally:
        if flow is not None:
            flow.halt.set()
            flow.join(timeout=10)
        stack.stop()
        if broker is not None:
            broker.stop()


def render(result: dict[str, Any]) -> str:
    rows = [
        ("state", f"{result['records']:,} CRM records (stage 1), {result['credit_values']:,} credit values (stage 2)"),
        ("standby replicas (ATTAIN_CALCULATOR_STANDBY_REPLICAS)", result["standby_replicas"]),
        ("broker", result["broker"]),
        ("session timeout", f"{result['session_timeout_ms'] / 1000:g} s"),
        ("first calculator: fill and drain", f"{result['drain_seconds']:.0f} s"),
        ("second calculator: start to ready (its half recovered)", f"{result['join_ready_seconds']:.1f} s"),
        ("second calculator: start to standby copy caught up", f"{result['join_caught_up_seconds']:.1f} s"),
        ("RSS after the join (first / second)",
         f"{result['rss_mib']['calculator']:,} / {result['rss_mib']['calculator-2']:,} MiB"),
        ("partitions taken over", ", ".join(map(str, result["taken"]))),
        ("SIGKILL -> partitions assigned (session timeout and rebalance)", f"{result['kill_to_assigned']:.1f} s"),
        ("assigned -> tables recovered (of which the stage 2 index)",
         f"{result['assigned_to_recovered']:.2f} s ({result['index_seconds']:.2f} s)"),
        ("**assigned -> first snapshot published for a partition taken over**",
         f"**{result['assigned_to_first_snapshot']:.2f} s**"),
        ("SIGKILL -> first snapshot published", f"{result['kill_to_first_snapshot']:.1f} s"),
    ]
    return markdown_table(("measure", "value"), rows, "lr")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--standby-replicas", type=int, default=1)
    parser.add_argument("--broker", choices=("tansu", "apache"), default="tansu")
    parser.add_argument("--workdir", default=str(REPO / ".attain" / "bench-failover"))
    parser.add_argument("--out", default=str(REPO / "docs" / "benchmarks.md"))
    parser.add_argument("--block", default="failover")
    args = parser.parse_args(argv)
    result = run(args)
    body = render(result)
    print(body)
    write_block(args.block, body, command_line(), Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
