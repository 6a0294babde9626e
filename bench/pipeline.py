"""Pipeline benchmark (``make bench``): throughput, latency and memory, in one run on one broker.

    .venv/bin/python bench/pipeline.py [--events N] [--rate R] [--out docs/benchmarks.md]

Steps, all against the same embedded broker (Tansu; `--broker apache` for Apache Kafka):

1. Baseline A: a plain confluent-kafka consume -> produce loop (no work) over a
   topic pre-filled with N ~400-byte ``crm.changes`` messages.
2. Baseline B: faust-streaming's bare batch consume of that topic
   (``bench/faust_bare.py``, the calculator's faust settings, a separate process).
3. The pipeline (:class:`attain.embedded.stack.Stack`, 200 reps): N events
   pushed through ingest as fast as it takes them; ingest, calculator and
   ledger rates from their Prometheus counters, sampled every 0.2 s.
4. Latency: gRPC subscribers for a subset of reps while ingest is driven at a
   steady R events/s; ingest accept -> push, from ``trigger_ingested_at_ms``
   against the receive time (one machine, one clock), and the notifier's histogram.
5. Calculator (drain): the calculator stopped, ``crm.changes`` pre-filled with
   N Avro events by a plain producer, the calculator restarted; its rate while
   it works through the backlog.
Then the ledger totals are checked against a batch recompute of every event,
and peak RSS per process (sampled throughout) is reported.

Prints the tables and rewrites the generated block of ``--out``. Exits 1 when
the pipeline fails (a service dies, a request is refused, events go missing,
the ledger disagrees with the recompute); ``--check-targets`` also exits 3 when
a target is missed. Every process it starts is stopped before it exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
import httpx
import psutil
import workload
from blocks import command_line, write_block
from confluent_kafka import Consumer, Producer
from probes import ConsumerLag, Monitor, Rate, busy_rate, delta, histogram_bound
from report import Results, machine_facts, markdown_block, print_tables
from rich.console import Console

from attain.embedded._process import log_tail, spawn, terminate
from attain.embedded.apache_kafka import ApacheKafka
from attain.embedded.ports import free_port
from attain.embedded.stack import SERVICES, Stack
from attain.embedded.tansu import TansuBroker
from attain.platform import topics
from attain.platform.kafka import consumer_config, ensure_topics, producer_config
from attain.platform.settings import KafkaSettings
from services.issuer.directory import mint_token
from services.notifier.proto import notifier_pb2, notifier_pb2_grpc

console = Console()
BENCH_DIR = Path(__file__).resolve().parent
SOURCE_TOPIC, SINK_TOPIC = "bench.source", "bench.sink"
CALCULATOR_GROUP, LEDGER_GROUP = "attain-calculator", "attain-ledger"
EVENTS = "attain_calculator_events_total"
BATCH_SUMS = {stage: f"attain_calculator_batch_seconds_sum{{stage={stage}}}"
              for stage in ("credit", "earnings")}
CREDIT_BATCHES = "attain_calculator_batch_seconds_count{stage=credit}"
FLUSH_SUM = "attain_stream_flush_seconds_sum"
HISTOGRAM = "attain_notifier_end_to_end_seconds_bucket"


class PipelineFailed(RuntimeError):
    """The pipeline did not do its job; the message says which part and where its log is."""

    partial: Results | None = None  # what was measured before it failed


# -- baselines ----------------------------------------------------------------------------------


def produce(producer: Producer, topic: str, key: bytes | None, value: bytes | None) -> None:
    """Queue one message, waiting for room when the client's queue is full."""
    while True:
        try:
            producer.produce(topic, value=value, key=key)
            return
        except BufferError:
            producer.poll(0.01)


def prefill(kafka: KafkaSettings, topic: str, messages: Sequence[tuple[bytes, bytes]]) -> Rate:
    """Produce ``messages`` (key, value) to ``topic`` with the services' producer settings."""
    producer = Producer(producer_config(kafka, **{"client.id": "attain-bench"}))
    started = time.perf_counter()
    for key, value in messages:
        produce(producer, topic, key, value)
        producer.poll(0)
    if producer.flush(60) != 0:
        raise PipelineFailed(f"could not pre-fill {topic}: messages still queued after 60 s")
    return Rate(len(messages), time.perf_counter() - started)


def consume_produce_baseline(kafka: KafkaSettings, count: int, passes: int = 3) -> Rate:
    """Baseline A, the median of ``passes`` passes: one pass takes well under a second."""
    rates = sorted((consume_produce_pass(kafka, count, f"attain-bench-a-{os.getpid()}-{number}")
                    for number in range(passes)), key=lambda rate: rate.per_second)
    return rates[len(rates) // 2]


def consume_produce_pass(kafka: KafkaSettings, count: int, group: str, timeout: float = 120) -> Rate:
    """Consume ``SOURCE_TOPIC`` from the start and produce every message to ``SINK_TOPIC``."""
    consumer = Consumer(consumer_config(kafka, group))
    producer = Producer(producer_config(kafka, **{"client.id": "attain-bench-a"}))
    consumer.subscribe([SOURCE_TOPIC])
    seen = first_batch = 0
    first_at = 0.0
    deadline = time.monotonic() + timeout
    try:
        while seen < count:
            if time.monotonic() > deadline:
                raise PipelineFailed(f"baseline A consumed {seen} of {count} in {timeout} s")
            batch = [m for m in consumer.consume(1000, 0.5) if not m.error()]
            if batch and not seen:
                first_at, first_batch = time.perf_counter(), len(batch)
            for message in batch:
                produce(producer, SINK_TOPIC, message.key(), message.value())
            producer.poll(0)
            seen += len(batch)
        producer.flush(60)
        return Rate(seen - first_batch, time.perf_counter() - first_at)
    finally:
        consumer.close()


def faust_bare_baseline(kafka: KafkaSettings, count: int, workdir: Path, mode: str = "take",
                        timeout: float = 180) -> Rate:
    """Baseline B, or a variant (``mode``: see ``bench/faust_bare.py``), as its own process."""
    name = f"faust-{mode}"
    result = workdir / f"{name}.json"
    env = dict(os.environ, ATTAIN_KAFKA_BOOTSTRAP=kafka.bootstrap,
               ATTAIN_KAFKA_PARTITIONS=str(kafka.partitions), ATTAIN_KAFKA_CREATE_TOPICS="true",
               ATTAIN_CALCULATOR_PORT=str(free_port()),
               ATTAIN_CALCULATOR_DATA_DIR=str(workdir / name))
    log = workdir / f"{name}.log"
    process = spawn([sys.executable, str(BENCH_DIR / "faust_bare.py"), SOURCE_TOPIC, str(count),
                     str(result), f"--{mode}"], log, env=env)
    try:
        deadline = time.monotonic() + timeout
        while not result.exists():
            if process.poll() is not None:
                raise PipelineFailed(f"faust baseline exited with {process.returncode}:\n{log_tail(log)}")
            if time.monotonic() > deadline:
                raise PipelineFailed(f"faust baseline gave no result in {timeout} s:\n{log_tail(log)}")
            time.sleep(0.2)
        time.sleep(0.1)  # the file is written in one call; let it land
        data = json.loads(result.read_text())
        return Rate(data["events"], data["seconds"])
    finally:
        terminate(process, grace=15)


# -- the pipeline -------------------------------------------------------------------------------


class Pipeline:
    """The stack under test plus the means to watch it."""

    def __init__(self, stack: Stack, monitor: Monitor, lag: ConsumerLag) -> None:
        self.stack = stack
        self.monitor = monitor
        self.lag = lag

    def check_alive(self) -> None:
        for name, service in self.stack.services.items():
            process = service.process
            if process is not None and process.poll() is not None:
                raise PipelineFailed(f"service {name} exited with {process.returncode}; log "
                                     f"{service.log_path}:\n{log_tail(service.log_path)}")

    def settled(self, since: float) -> bool:
        """The calculator has published nothing for a second and the ledger committed every snapshot.

        Not the calculator's committed offsets: after a rebalance with batches in
        flight, faust-streaming 0.15.3 sometimes stops advancing one partition's
        committed offset while it goes on processing it (seen in restart tests; a
        later restart re-reads from there, which the stages make harmless).
        """
        snapshots = self.monitor.points("calculator", "attain_calculator_snapshots_total", since)
        quiet = bool(snapshots) and next(
            (at for at, value in reversed(snapshots) if value != snapshots[-1][1]), snapshots[0][0]
        ) < time.monotonic() - 1.0
        return quiet and self.lag(LEDGER_GROUP, topics.EARNINGS) == 0

    def wait_calculated(self, total: float, since: float, timeout: float,
                        stall_seconds: float = 60) -> float:
        """Wait until the calculator's counter reads ``total`` and all lag is gone.

        Returns the monotonic time of the first sample (after ``since``) at ``total``.
        Fails after ``timeout``, or sooner when the counter stands still for
        ``stall_seconds`` short of ``total`` or lag remains that long after it.
        """
        deadline = time.monotonic() + timeout
        reached: float | None = None
        last_value, last_change = -1.0, time.monotonic()
        while time.monotonic() < deadline:
            self.check_alive()
            points = self.monitor.points("calculator", EVENTS, since)
            value = points[-1][1] if points else 0.0
            if value != last_value:
                last_value, last_change = value, time.monotonic()
            if reached is None and value >= total:
                reached = next(at for at, counted in points if counted >= total)
            if reached is not None and self.settled(since):
                return reached
            if time.monotonic() - (last_change if reached is None else reached) > stall_seconds:
                break
            time.sleep(0.3)
        counted = self.monitor.points("calculator", EVENTS, since)
        lags = ", ".join(f"{group} on {topic}: {self.lag(group, topic)}" for group, topic in (
            (CALCULATOR_GROUP, topics.CRM_CHANGES), (CALCULATOR_GROUP, topics.CALCULATOR_CREDITS),
            (LEDGER_GROUP, topics.EARNINGS)))
        raise PipelineFailed(
            f"the calculator's counter stopped at {counted[-1][1] if counted else 0:.0f} of "
            f"{total:.0f} (no progress for {stall_seconds:.0f} s, or {timeout:.0f} s passed); "
            f"lag {lags}; logs in {self.stack.workdir}")


def ingest_headers(stack: Stack) -> dict[str, str]:
    """What a machine caller sends to ingest: a client-credentials token of the sample ingest client."""
    assert stack.issuer is not None
    return {"Authorization": f"Bearer {stack.issuer.client_token('attain-ingest-client')}"}


async def push_all(url: str, bodies: Sequence[bytes], in_flight: int, headers: dict[str, str]) -> float:
    """POST every body as fast as ingest answers, ``in_flight`` at a time; returns seconds."""
    pending = iter(bodies)
    async with httpx.AsyncClient(base_url=url, timeout=120, headers=headers,
                                 limits=httpx.Limits(max_connections=in_flight)) as client:
        async def sender() -> None:
            for body in pending:
                await post(client, body)

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(in_flight)))
        return time.perf_counter() - started


async def post(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post("/v1/events", content=body,
                                 headers={"content-type": "application/json"})
    if response.status_code != 202:
        raise PipelineFailed(f"ingest answered {response.status_code}: {response.text[:300]}")


def throughput_phase(pipeline: Pipeline, events: list[dict[str, Any]], batch: int,
                     in_flight: int, results: Results) -> None:
    bodies = workload.http_bodies(events, batch)
    console.print(f"pushing {len(events):,} events through ingest "
                  f"({len(bodies)} batches of {batch}, {in_flight} in flight)...")
    since = time.monotonic()
    seconds = asyncio.run(push_all(pipeline.stack.ingest_url, bodies, in_flight,
                                   ingest_headers(pipeline.stack)))
    ingest_done = time.monotonic()
    results.ingest = Rate(len(events), seconds)
    reached = pipeline.wait_calculated(len(events), since, timeout=240)
    pipeline.monitor.sample_now()
    results.calculator_pipeline = busy_rate(
        pipeline.monitor.points("calculator", EVENTS, since), len(events))
    behind = reached - ingest_done
    results.calculator_pipeline_note = (
        f"busy: finished {behind:.1f} s after ingest" if behind > 1.0
        else "ingest-bound: kept up with ingest")
    results.ledger_entries = busy_rate(
        pipeline.monitor.points("ledger", "attain_ledger_entries_total", since))
    results.ledger_snapshots = busy_rate(
        pipeline.monitor.points("ledger", "attain_ledger_snapshots_total", since))


async def drive_and_listen(url: str, target: str, bodies: Sequence[bytes], interval: float,
                           reps: Sequence[str], before_send: Callable[[], None],
                           after_send: Callable[[], None], token_for: Callable[[str], str],
                           headers: dict[str, str]) -> tuple[list[tuple[float, float]], float]:
    """Send one body every ``interval`` seconds while subscribed to ``reps``.

    Returns, for each update caused by this phase's events, (ingest accept ->
    computed by the calculator, computed -> received) in ms, and the seconds from
    the first send to the last. ``before_send`` runs once the
    subscriptions are open and their replays are in; ``after_send`` (in a thread)
    waits for the pipeline to finish the work.
    """
    latencies: list[tuple[float, float]] = []
    phase_start_ms = float("inf")

    async def listen(stub: notifier_pb2_grpc.NotifierStub, rep_id: str) -> None:
        call = stub.Subscribe(notifier_pb2.SubscribeRequest(rep_id=rep_id),
                              metadata=(("authorization", f"Bearer {token_for(rep_id)}"),))
        async for update in call:
            received_ms = time.time() * 1000
            if update.trigger_ingested_at_ms >= phase_start_ms:
                latencies.append((update.computed_at_ms - update.trigger_ingested_at_ms,
                                  received_ms - update.computed_at_ms))

    async with grpc.aio.insecure_channel(target) as channel:
        stub = notifier_pb2_grpc.NotifierStub(channel)
        listeners = [asyncio.create_task(listen(stub, rep)) for rep in reps]
        await asyncio.sleep(1.5)  # the latest update of each rep is replayed on subscribe: skip it
        before_send()
        async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as client:
            phase_start_ms = time.time() * 1000
            window = await workload.send_paced(bodies, interval, lambda body: post(client, body))
        await asyncio.get_running_loop().run_in_executor(None, after_send)
        await asyncio.sleep(2.0)  # the last pushes
        for listener in listeners:
            listener.cancel()
        for outcome in await asyncio.gather(*listeners, return_exceptions=True):
            if isinstance(outcome, grpc.aio.AioRpcError) and outcome.code() != grpc.StatusCode.CANCELLED:
                raise PipelineFailed(f"a Subscribe stream failed: {outcome.code()} {outcome.details()}")
    return latencies, window


def latency_phase(pipeline: Pipeline, events: list[dict[str, Any]], rate: int, reps: Sequence[str],
                  results: Results) -> None:
    per_request = max(1, rate // 20)  # 20 requests a second
    bodies = workload.http_bodies(events, per_request)
    interval = per_request / rate
    console.print(f"steady {rate} events/s for {len(events) / rate:.0f} s "
                  f"({per_request} events every {interval * 1000:.0f} ms), "
                  f"{len(reps)} reps subscribed...")
    pipeline.monitor.sample_now()
    since = time.monotonic()
    counted_before = pipeline.monitor.latest("calculator", EVENTS)
    histogram_before: dict[float, float] = {}

    def subscribed() -> None:
        pipeline.monitor.sample_now()
        histogram_before.update(_histogram(pipeline.monitor))

    def drained() -> None:
        pipeline.wait_calculated(counted_before + len(events), since, timeout=120)

    issuer = pipeline.stack.issuer
    assert issuer is not None

    def token_for(rep_id: str) -> str:  # each rep watches its own pay, as a signed-in rep would
        return mint_token(issuer.data_dir, issuer.url, issuer.audience, rep_id, roles=["rep"])

    latencies, window = asyncio.run(drive_and_listen(
        pipeline.stack.ingest_url, pipeline.stack.notifier_target, bodies, interval, reps,
        subscribed, drained, token_for, ingest_headers(pipeline.stack)))
    pipeline.monitor.sample_now()
    histogram_after = _histogram(pipeline.monitor)
    results.latencies_ms = [computed + pushed for computed, pushed in latencies]
    results.computed_ms = [computed for computed, _ in latencies]
    results.pushed_ms = [pushed for _, pushed in latencies]
    results.driven_rate = (len(events) - per_request) / window if window else 0.0
    buckets = {bound: histogram_after[bound] - histogram_before.get(bound, 0.0)
               for bound in histogram_after}
    results.notifier_histogram = {label: histogram_bound(buckets, q)
                                  for label, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))}


def _histogram(monitor: Monitor) -> dict[float, float]:
    samples = monitor.samples["notifier"]
    if not samples:
        return {}
    prefix = HISTOGRAM + "{le="
    return {float(key[len(prefix):-1]): value for key, value in samples[-1][1].items()
            if key.startswith(prefix)}


def drain_phase(pipeline: Pipeline, kafka: KafkaSettings, events: list[dict[str, Any]],
                results: Results) -> None:
    """Stop the calculator, pre-fill crm.changes, restart it and time it through the backlog."""
    console.print(f"calculator drain: stopping it, pre-filling crm.changes with "
                  f"{len(events):,} Avro events...")
    messages = workload.avro_changes(events, int(time.time() * 1000))
    pipeline.stack.kill_service("calculator", signal.SIGTERM)
    prefill(kafka, topics.CRM_CHANGES, messages)
    restarted = time.monotonic()
    pipeline.stack.start_service("calculator")
    pipeline.stack.wait_ready(timeout=180, names=("calculator",))
    results.calculator_recovery_seconds = time.monotonic() - restarted
    console.print(f"calculator ready after {results.calculator_recovery_seconds:.1f} s; draining...")
    pipeline.wait_calculated(len(events), restarted, timeout=300)
    pipeline.monitor.sample_now()
    points = pipeline.monitor.points("calculator", EVENTS, restarted)
    results.calculator_drain = busy_rate(points, len(events))
    opening = next((at for at, value in points if value > points[0][1]), None)
    closing = next((at for at, value in points if value >= len(events)), None)
    if opening is not None and closing is not None and closing > opening:
        seconds = closing - opening

        def drained(metric: str) -> float:
            """How much the calculator's ``metric`` grew while it drained."""
            return delta(pipeline.monitor.points("calculator", metric, restarted), opening, closing)

        results.calculator_drain_cpu = delta(
            pipeline.monitor.cpu_points("calculator", restarted), opening, closing) / seconds
        results.calculator_drain_stages = {
            stage: drained(metric) / seconds for stage, metric in BATCH_SUMS.items()}
        results.calculator_drain_stages["(of which waiting for the broker's acks)"] = drained(FLUSH_SUM) / seconds
        batches = drained(CREDIT_BATCHES)
        if batches:
            results.calculator_drain_mean_batch = len(events) / batches


def check_ledger(stack: Stack, plans_file: Path, events: list[dict[str, Any]]) -> str:
    """The ledger's totals against a batch recompute of every event sent."""
    from attain.core.recompute import recompute
    from cli.main import changes_of, load_book
    from services.ledger.db import ledger_totals, make_engine

    expected = {key: earnings.total_earned
                for key, earnings in recompute(load_book(plans_file), changes_of(events)).items()}
    engine = make_engine(stack.database_url or "")
    try:
        totals = ledger_totals(engine)
    finally:
        engine.dispose()
    if totals != expected:
        wrong = sorted(k for k in expected.keys() | totals.keys() if expected.get(k) != totals.get(k))
        raise PipelineFailed(f"ledger differs from the batch recompute for {len(wrong)} (rep, period) "
                             f"pairs, e.g. {wrong[:3]}")
    return f"ledger totals equal a batch recompute of all {len(events):,} events ({len(totals)} reps)"


# -- the run ------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=60_000,
                        help="events for the baselines, the throughput run and the drain")
    parser.add_argument("--rate", type=int, default=500, help="steady rate of the latency run")
    parser.add_argument("--latency-seconds", type=float, default=30)
    parser.add_argument("--reps", type=int, default=200, help="participants in the plan book")
    parser.add_argument("--subscribers", type=int, default=100, help="reps subscribed over gRPC")
    parser.add_argument("--batch", type=int, default=500, help="events per ingest request")
    parser.add_argument("--in-flight", type=int, default=4, help="concurrent ingest requests")
    parser.add_argument("--broker", choices=("tansu", "apache"), default="tansu",
                        help="embedded broker for the whole run: Tansu (default) or Apache Kafka "
                             "(needs Java; jars from Maven Central, cached in .cache/)")
    parser.add_argument("--workdir", type=Path, default=Path(".attain/bench"))
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"),
                        help="document whose results block is rewritten ('' for none)")
    parser.add_argument("--consumer-fetch-wait-ms", type=int, default=None,
                        help="experiment: every service consumer's fetch max wait instead of "
                             "the stack's 20 ms; results are marked as an experiment")
    parser.add_argument("--skip-check", action="store_true",
                        help="skip the ledger-versus-recompute check at the end")
    parser.add_argument("--check-targets", action="store_true", help="exit 3 when a target is missed")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> Results:
    started = time.monotonic()
    workdir, reps, plans_file = workload.fresh_workdir(args.workdir, args.reps)
    steady_events = int(args.rate * args.latency_seconds)
    with console.status("generating events..."):
        throughput_events = workload.change_events(reps, args.events, "006T", seed=11)
        steady = workload.change_events(reps, steady_events, "006L", seed=12)
        drain = workload.change_events(reps, args.events, "006R", seed=13)
        baseline_message = workload.avro_changes(drain[:1], int(time.time() * 1000))[0][1]

    broker: TansuBroker | ApacheKafka = (
        ApacheKafka(workdir / "kafka") if args.broker == "apache" else TansuBroker(workdir / "tansu.log"))
    monitor = Monitor()
    stack: Stack | None = None
    try:
        with console.status(f"starting the broker ({args.broker})..."):
            kafka = KafkaSettings(bootstrap=broker.start(), partitions=4)
        label, word = (("broker (Apache Kafka)", "kafka.kafka") if args.broker == "apache"
                       else ("broker (Tansu)", "tansu"))
        monitor.watch_process(label, lambda: _children_named(word))
        monitor.start()
        ensure_topics(kafka, [SOURCE_TOPIC, SINK_TOPIC])
        console.print(f"{args.broker} at {kafka.bootstrap}; pre-filling {SOURCE_TOPIC} with {args.events:,} "
                      f"copies of a {len(baseline_message)}-byte crm.changes message...")
        prefill(kafka, SOURCE_TOPIC, [(f"006B{n:08d}".encode(), baseline_message)
                                      for n in range(args.events)])
        baseline_a = consume_produce_baseline(kafka, args.events)
        console.print(f"baseline A: {baseline_a.per_second:,.0f} events/s (median of 3 passes)")
        baseline_b = faust_bare_baseline(kafka, args.events, workdir)
        console.print(f"baseline B: {baseline_b.per_second:,.0f} events/s")
        results = Results(args.events, args.rate, min(args.subscribers, len(reps)), baseline_a, baseline_b)
        results.broker = "Apache Kafka" if args.broker == "apache" else "Tansu"
        if args.consumer_fetch_wait_ms is not None:
            results.experiment = (f"every service consumer's fetch max wait set to "
                                  f"{args.consumer_fetch_wait_ms} ms")
        results.faust_table = faust_bare_baseline(kafka, args.events, workdir, mode="table-writes")
        console.print(f"faust with a Table write per event: {results.faust_table.per_second:,.0f} events/s")
        results.faust_batch_agent = faust_bare_baseline(kafka, args.events, workdir, mode="batch-agent")
        console.print(f"faust, batch agent (no stream): {results.faust_batch_agent.per_second:,.0f} events/s")

        with console.status("starting PostgreSQL and the four services..."):
            stack = Stack(workdir=workdir / "stack", plans_file=plans_file,
                          kafka_bootstrap=kafka.bootstrap, partitions=kafka.partitions,
                          **({} if args.consumer_fetch_wait_ms is None
                             else {"fetch_max_wait_ms": args.consumer_fetch_wait_ms}))
            stack.start(timeout=120)
        for name in SERVICES:
            monitor.watch_metrics(name, stack.services[name].port)
            monitor.watch_process(name, _service_pid(stack, name))
        pgdata = str(workdir / "stack" / "pgdata")
        monitor.watch_process("PostgreSQL", lambda: _processes_with_argument(pgdata))
        pipeline = Pipeline(stack, monitor, ConsumerLag(kafka))

        try:
            throughput_phase(pipeline, throughput_events, args.batch, args.in_flight, results)
            latency_phase(pipeline, steady, args.rate, reps[:results.subscribers], results)
            drain_phase(pipeline, kafka, drain, results)
            if not args.skip_check:
                with console.status("checking the ledger against a batch recompute..."):
                    results.consistency = check_ledger(stack, plans_file,
                                                       throughput_events + steady + drain)
        except PipelineFailed as error:
            results.consistency = "not checked: the pipeline failed"
            error.partial = results
            raise
        finally:
            results.peak_rss = dict(monitor.peak_rss)
            results.wall_seconds = time.monotonic() - started
        return results
    finally:
        monitor.stop()
        if stack is not None:
            stack.stop()
        broker.stop()


def _service_pid(stack: Stack, name: str) -> Callable[[], list[int]]:
    def pids() -> list[int]:
        process = stack.services[name].process
        return [] if process is None or process.poll() is not None else [process.pid]
    return pids


def _children_named(word: str) -> list[int]:
    found = []
    for child in psutil.Process().children():
        try:
            if word in " ".join(child.cmdline()).lower():
                found.append(child.pid)
        except psutil.Error:
            continue
    return found


def _processes_with_argument(text: str) -> list[int]:
    """Root processes whose command line mentions ``text`` (their children are summed by the monitor)."""
    found = []
    for process in psutil.process_iter(["cmdline", "ppid"]):
        cmdline = " ".join(process.info["cmdline"] or [])  # None when it could not be read
        if text in cmdline and not _has_ancestor_with(process.info["ppid"], text):
            found.append(process.pid)
    return found


def _has_ancestor_with(pid: int, text: str) -> bool:
    try:
        return text in " ".join(psutil.Process(pid).cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        results = run(args)
    except PipelineFailed as error:
        if error.partial is not None:
            console.print("[yellow]measured before the failure (not written to --out):[/]")
            print_tables(console, error.partial)
        console.print(f"[red]pipeline failed:[/] {error}")
        return 1
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; everything started was stopped[/]")
        return 130
    print_tables(console, results)
    if str(args.out) not in ("", "."):
        write_block("pipeline", markdown_block(results, machine_facts()), command_line(), args.out)
    if args.check_targets and not results.all_targets_met():
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
