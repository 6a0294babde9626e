"""Portal live-feed benchmark (``make bench-portal``): ingest accepted -> SSE delta received, and many streams.

    .venv/bin/python bench/portal_sse.py [--rates 50,500] [--seconds 30] [--streams 10000] [--broker apache]

The whole stack (``attain.embedded.stack.Stack``: ingest, calculator, ledger, notifier, portal, the embedded
PostgreSQL) on Apache Kafka by default (Tansu answers a fetch only when its max wait runs out, which would be
measured instead of the portal; ``--broker tansu`` to compare), a plan book of ``--reps`` reps.

1. **Latency.** One comp admin signs in at the embedded issuer the way a browser does (the portal's ``/login``,
   the issuer's form, the callback; the issuer's directory holds the demo's people, and the portal serves any
   reader the ledger admits the same stream) and opens every rep's ``/reps/{rep}/events`` stream with aiohttp,
   reading ``text/event-stream`` line by line: it stands for the browser's EventSource. CRM events are posted
   to ingest at each fixed rate for ``--seconds``; for each ``delta`` event received, the latency is the
   receive time minus the ``data-ingested-at`` the fragment carries: the time ingest stamped on the earliest
   change behind the snapshot when it accepted it (``ingested_at``, the snapshot's ``trigger_ingested_at``).
   One machine, one clock. Split at the snapshot's ``computed_at`` (the fragment's ``data-ms``).
2. **Streams** (``--streams N``, 0 to skip): N more streams of the same session spread over the reps; the
   portal's RSS (process) before and after, hence memory per stream; then one won deal for each of a few reps
   and the time until every stream of those reps has its delta.

Writes the ``bench:portal-sse`` block of ``--out``. Every process it starts is stopped before it exits.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import re
import resource
import signal
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import psutil
import workload
from blocks import command_line, markdown_table, write_block
from probes import scrape

from attain.embedded.apache_kafka import ApacheKafka
from attain.embedded.stack import Stack
from attain.embedded.tansu import TansuBroker
from attain.platform import topics
from attain.platform.settings import KafkaSettings
from cli.main import load_demo_org

READER = "comp-admin"  # the issuer's sample comp admin (every region): one session reads every rep's stream
STEPS = ("fetched", "projected", "loop")  # services/portal/live.py STEP
OPENING = 100  # streams being opened at once in the capacity phase (as browsers arrive, not all in one burst)
INGESTED = re.compile(r'data-ingested-at="(\d+)"')
COMPUTED = re.compile(r'data-ms="(\d+)"')


class BenchFailed(RuntimeError):
    pass


@dataclass
class Phase:
    rate: int
    seconds: float
    driven: float = 0.0  # events/s actually sent
    events: int = 0
    latencies: list[float] = field(default_factory=list)  # ingest accepted -> received, ms
    computed: list[float] = field(default_factory=list)  # ingest accepted -> computed, ms
    pushed: list[float] = field(default_factory=list)  # computed -> received, ms
    load: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)  # the portal's own mean per step, ms
    # Not the measure, shown with this label: the first phase after start (a cold JVM: the broker's JIT compiling;
    # cold caches) and the first after a restart of the services alone (a warm broker).
    note: str = ""


@dataclass
class Streams:
    opened: int = 0
    open_seconds: float = 0.0
    rss_before: int = 0
    rss_after: int = 0
    reps: int = 0
    expected: int = 0  # streams of the reps that got a deal
    delivered: int = 0
    latencies: list[float] = field(default_factory=list)
    client_rss: int = 0
    load: float = 0.0
    failed: str = ""


def sign_in(portal_url: str, issuer_url: str, password: str) -> str:
    """The session cookie of ``READER`` after the browser's sign-in round trip."""
    with httpx.Client(timeout=30, follow_redirects=False) as client:
        to_issuer = client.get(f"{portal_url}/login", params={"login_hint": READER})
        page = client.get(to_issuer.headers["location"])
        form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page.text))
        back = client.post(f"{issuer_url}/authorize", data={**form, "username": READER, "password": password})
        signed = client.get(back.headers["location"])
        if signed.status_code != 302:
            raise BenchFailed(f"sign-in failed: {signed.status_code} {signed.text[:200]}")
        return str(client.cookies["attain_portal_session"])


class Listener:
    """SSE streams read by aiohttp; each ``delta`` event's timings go to the callback."""

    def __init__(self, portal_url: str, cookie: str) -> None:
        self.portal_url = portal_url
        self.session = aiohttp.ClientSession(
            cookies={"attain_portal_session": cookie},
            connector=aiohttp.TCPConnector(limit=0, force_close=False),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=60))
        self.received: dict[int, list[tuple[float, int, int]]] = defaultdict(list)  # stream -> (at, ingested, computed)
        self.open: dict[int, asyncio.Event] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.errors: list[str] = []

    def start(self, number: int, rep: str) -> None:
        self.open[number] = asyncio.Event()
        self.tasks.append(asyncio.create_task(self._read(number, rep)))

    async def _read(self, number: int, rep: str) -> None:
        try:
            async with self.session.get(f"{self.portal_url}/reps/{rep}/events",
                                        headers={"Accept": "text/event-stream"}) as response:
                if response.status != 200:
                    self.errors.append(f"{rep}: {response.status}")
                    self.open[number].set()
                    return
                event = ""
                async for raw in response.content:
                    line = raw.decode().rstrip("\n")
                    if line.startswith(":"):
                        self.open[number].set()
                    elif line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event == "delta":
                        at = time.time() * 1000
                        ingested, computed = INGESTED.search(line), COMPUTED.search(line)
                        if ingested and computed:
                            self.received[number].append((at, int(ingested.group(1)), int(computed.group(1))))
        except (TimeoutError, aiohttp.ClientError) as error:
            self.errors.append(f"{rep}: {type(error).__name__} {error}")
            self.open[number].set()

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.session.close()


def won_deal(rep: str, record_id: str) -> dict[str, Any]:
    return {"event_id": f"{record_id}-won", "record_id": record_id, "object_type": "Opportunity",
            "change_type": "CREATE", "commit_timestamp": "2026-02-10T09:00:00Z",
            "fields": {"owner_id": rep, "name": f"Deal {record_id}", "amount": "100000", "currency": "INR",
                       "is_won": True, "stage": "Closed Won", "close_date": "2026-02-10"}}


async def post(client: httpx.AsyncClient, body: bytes) -> None:
    for _ in range(5):  # ingest's 503 says retry (the broker did not acknowledge in time: a JVM warming up)
        response = await client.post("/v1/events", content=body, headers={"content-type": "application/json"})
        if response.status_code != 503:
            break
        await asyncio.sleep(1)
    if response.status_code != 202:
        raise BenchFailed(f"ingest answered {response.status_code}: {response.text[:300]}")


async def drive(ingest_url: str, headers: dict[str, str], events: list[dict[str, Any]], rate: int) -> float:
    """POST ``events`` at ``rate`` events/s (20 requests a second); returns the rate reached."""
    per_request = max(1, rate // 20)
    bodies = workload.http_bodies(events, per_request)
    interval = per_request / rate
    async with httpx.AsyncClient(base_url=ingest_url, timeout=60, headers=headers) as client:
        window = await workload.send_paced(bodies, interval, lambda body: post(client, body))
    return (len(events) - per_request) / window if window else 0.0


async def quiet(listener: Listener, seconds: float, longest: float, caught_up: Callable[[], bool] = lambda: True,
                ) -> None:
    """Until ``caught_up()`` (asked in a thread: the streams are read on this loop) and then no delta for
    ``seconds`` (at most ``longest`` in all)."""
    deadline = time.monotonic() + longest
    count, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = sum(len(v) for v in listener.received.values())
        if now != count or not await asyncio.to_thread(caught_up):
            count, since = now, time.monotonic()
        elif time.monotonic() - since > seconds:
            return
        await asyncio.sleep(0.2)


def metrics(stack: Stack) -> dict[str, float]:
    """The portal's /metrics; a loaded machine can keep it from answering for seconds: up to a minute."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return scrape(stack.services["portal"].port, timeout=10)
        except OSError:  # URLError, timeouts
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def projected(stack: Stack) -> float:
    """How many crm.changes messages the portal has projected (its counter)."""
    return metrics(stack).get(f"attain_portal_projected_total{{topic={topics.CRM_CHANGES}}}", 0.0)


COLD = "warm-up (cold start, not the measure)"
RESTARTED = "after a restart of the services alone, on the warm broker (not the measure)"


async def latency_phases(stack: Stack, cookie: str, reps: Sequence[str], rates: Sequence[int],
                         seconds: float, warmup_rate: int, warmup_seconds: float, first: str = COLD,
                         deals: str = "P") -> list[Phase]:
    """A first phase (``first``, shown, not the measure) at ``warmup_rate``, then one per rate; the opportunity
    ids start with ``006`` + ``deals`` + the phase's number (a later call gives its own, not the same deals)."""
    assert stack.issuer is not None
    headers = {"Authorization": f"Bearer {stack.issuer.client_token('attain-ingest-client')}"}
    listener = Listener(stack.portal_url, cookie)
    phases = []
    try:
        for number, rep in enumerate(reps):
            listener.start(number, rep)
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in listener.open.values())), 60)
        if listener.errors:
            raise BenchFailed(f"streams refused: {listener.errors[:3]}")
        plan = [(warmup_rate, warmup_seconds, first)] + [(rate, seconds, "") for rate in rates]
        for index, (rate, length, note) in enumerate(plan):
            phase = Phase(rate, length, note=note)
            events = workload.change_events(reps, int(rate * length), f"006{deals}{index}", seed=19 + index)
            phase.events = len(events)
            phase.load = psutil.getloadavg()[0]
            print(f"{note + ': ' if note else ''}{rate} events/s for {length:.0f} s to "
                  f"{len(reps)} streams...", flush=True)
            start_ms = time.time() * 1000
            before = metrics(stack)
            changes_before = projected(stack)
            phase.driven = await drive(stack.ingest_url, headers, events, rate)
            target = changes_before + len(events)
            await quiet(listener, 3.0, 300, lambda target=target: projected(stack) >= target)  # type: ignore[misc]
            phase.steps = step_means(before, metrics(stack))
            for received in listener.received.values():
                for at, ingested, computed in received:
                    if ingested >= start_ms:
                        phase.latencies.append(at - ingested)
                        phase.computed.append(computed - ingested)
                        phase.pushed.append(at - computed)
            listener.received.clear()
            if not phase.latencies:
                raise BenchFailed(f"no delta arrived at {rate} events/s")
            phases.append(phase)
    finally:
        await listener.close()
    return phases


def step_means(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """The portal's mean milliseconds per delta in each step of its last hop, between two scrapes."""
    means = {}
    for step in STEPS:
        total, count = (f"attain_portal_delta_step_seconds_{part}{{step={step}}}" for part in ("sum", "count"))
        counted = after.get(count, 0.0) - before.get(count, 0.0)
        if counted:
            means[step] = 1000 * (after.get(total, 0.0) - before.get(total, 0.0)) / counted
    return means


def portal_rss(stack: Stack) -> int:
    process = stack.services["portal"].process
    assert process is not None
    return int(psutil.Process(process.pid).memory_info().rss)


async def many_streams(stack: Stack, cookie: str, reps: Sequence[str], count: int, deal_reps: int) -> Streams:
    assert stack.issuer is not None
    result = Streams(reps=deal_reps)
    headers = {"Authorization": f"Bearer {stack.issuer.client_token('attain-ingest-client')}"}
    await asyncio.sleep(2)
    result.rss_before = portal_rss(stack)
    listener = Listener(stack.portal_url, cookie)
    started = time.monotonic()
    try:
        for number in range(count):
            listener.start(number, reps[number % len(reps)])
            if number >= OPENING:
                await listener.open[number - OPENING].wait()
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in listener.open.values())), 600)
        result.open_seconds = time.monotonic() - started
        result.opened = count - len(listener.errors)
        if listener.errors:
            result.failed = f"{len(listener.errors)} streams failed to open, e.g. {listener.errors[:2]}"
        await asyncio.sleep(3)
        result.rss_after = portal_rss(stack)
        result.client_rss = int(psutil.Process().memory_info().rss)
        result.load = psutil.getloadavg()[0]
        chosen = list(reps[:deal_reps])
        watching = [n for n in range(count) if reps[n % len(reps)] in chosen]
        result.expected = len(watching)
        listener.received.clear()
        start_ms = time.time() * 1000
        await drive(stack.ingest_url, headers, [won_deal(rep, f"006S{i:05d}") for i, rep in enumerate(chosen)],
                    max(1, deal_reps))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and sum(
                1 for n in watching if any(i >= start_ms for _, i, _ in listener.received.get(n, ()))) < len(watching):
            await asyncio.sleep(0.2)
        for n in watching:
            mine = [at - ingested for at, ingested, _ in listener.received.get(n, ()) if ingested >= start_ms]
            if mine:
                result.delivered += 1
                result.latencies.append(mine[0])
    finally:
        await listener.close()
    return result


def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))] if ordered else float("nan")


def markdown(phases: Sequence[Phase], streams: Streams | None, broker: str, reps: int) -> str:
    parts = [f"Broker: {broker}; {reps} reps, one SSE stream each (aiohttp standing for the browser's "
             f"EventSource); latency from ingest's `ingested_at` on the earliest change behind the snapshot to the "
             f"client receiving the `delta` event, one machine, one clock. The first row is the warm-up "
             f"right after the stack starts, shown but not the measure: the broker's JVM is still compiling its hot "
             f"code then (its C2 compiler thread took 3 to 7 CPU-s of 20 s in the first phase after start). "
             f"The last row, when there, is the first phase after every service was stopped (SIGTERM) and started "
             f"again on the same, warm broker and database, once all were ready: a rollout's cold start without "
             f"the broker's. "
             f"In the portal: its own mean per delta of each step of the last hop "
             f"(`attain_portal_delta_step_seconds`): "
             f"fetched = snapshot computed -> its consumer has it, projected = -> handed to the event loop (the "
             f"batch's transaction and offset commit), loop = -> in the streams' queues."]
    rows: list[tuple[object, ...]] = []
    for p in phases:
        rows.append((f"{p.note + ': ' if p.note else ''}"
                     f"{p.rate}/s for {p.seconds:.0f} s (driven {p.driven:,.0f}/s, load {p.load:.1f})",
                     f"{len(p.latencies):,}", *(f"{quantile(p.latencies, q):,.0f}" for q in (0.5, 0.95, 0.99)),
                     f"{max(p.latencies):,.0f}",
                     f"{quantile(p.computed, 0.5):,.0f} / {quantile(p.computed, 0.99):,.0f}",
                     f"{quantile(p.pushed, 0.5):,.0f} / {quantile(p.pushed, 0.99):,.0f}",
                     " · ".join(f"{step} {p.steps[step]:,.0f}" for step in STEPS if step in p.steps) or "–",
                     "–" if p.note else "met" if quantile(p.latencies, 0.99) < 250 else
                     ("under 1 s" if quantile(p.latencies, 0.99) < 1000 else "missed")))
    parts.append(markdown_table(
        ("rate", "deltas", "p50 ms", "p95 ms", "p99 ms", "max ms", "accept -> computed p50 / p99",
         "computed -> received p50 / p99", "in the portal, mean ms", "goal p99 250 ms (must < 1 s)"),
        rows, "lrrrrrrrll"))
    if streams is not None:
        per = (streams.rss_after - streams.rss_before) / streams.opened if streams.opened else float("nan")
        mib = 1024 * 1024
        srows: list[tuple[object, ...]] = [
            ("streams open (one portal process)", f"{streams.opened:,}"),
            ("time to open them all (each admitted and logged by the ledger)", f"{streams.open_seconds:.1f} s"),
            ("portal RSS before / after", f"{streams.rss_before / mib:,.0f} / {streams.rss_after / mib:,.0f} MiB"),
            ("**memory per stream**", f"**{per / 1024:,.1f} KiB**"),
            ("client process RSS (all streams)", f"{streams.client_rss / mib:,.0f} MiB"),
            (f"deltas delivered to every stream of {streams.reps} reps given a deal",
             f"{streams.delivered:,} of {streams.expected:,}"),
            ("ingest accepted -> received under load, p50 / p99 / max",
             f"{quantile(streams.latencies, 0.5):,.0f} / {quantile(streams.latencies, 0.99):,.0f} / "
             f"{max(streams.latencies, default=float('nan')):,.0f} ms"),
            ("load average with the streams open", f"{streams.load:.1f}"),
        ]
        if streams.failed:
            srows.append(("failures", streams.failed))
        parts.append(markdown_table(("streams", "value"), srows, "lr"))
    return "\n\n".join(parts)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="50,500", help="steady rates in events/s, one phase each")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--reps", type=int, default=100, help="reps in the plan book, one stream each")
    parser.add_argument("--streams", type=int, default=10_000, help="streams of the capacity phase (0: none)")
    parser.add_argument("--deal-reps", type=int, default=10, help="reps given a deal in the capacity phase")
    parser.add_argument("--broker", choices=("apache", "tansu"), default="apache")
    parser.add_argument("--warmup-seconds", type=float, default=30,
                        help="the first phase, right after start: reported, not the measure")
    parser.add_argument("--warmup-rate", type=int, default=None, help="events/s of the warm-up (default: the "
                        "highest of --rates)")
    parser.add_argument("--restart-services", action=argparse.BooleanOptionalAction, default=True,
                        help="after the rates, stop and start every service on the warm broker and run the "
                             "top rate once more (shown, not the measure)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="experiment: one more environment variable for every service (repeatable)")
    parser.add_argument("--fetch-wait-ms", type=int, default=None,
                        help="experiment: every consumer's fetch max wait (default: the services' own on Apache "
                             "Kafka, where a fetch returns as soon as records arrive; the embedded stack's on Tansu, "
                             "which holds each fetch for the whole wait)")
    parser.add_argument("--workdir", type=Path, default=Path(".attain/bench-portal"))
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"), help="'' prints only")
    parser.add_argument("--block", default="portal-sse", help="the block of --out to rewrite")
    return parser.parse_args(argv)


def fetch_wait_ms(args: argparse.Namespace) -> int:
    if args.fetch_wait_ms is not None:
        return int(args.fetch_wait_ms)
    default = KafkaSettings.model_fields["fetch_max_wait_ms"].default  # not the environment's
    return int(default) if args.broker == "apache" else Stack.fetch_max_wait_ms


def deployed(args: argparse.Namespace) -> dict[str, str]:
    """On Apache Kafka, what deploy/k8s sets for it unlike the embedded stack: no changelog seals."""
    return {"ATTAIN_KAFKA_SEAL_CHANGELOGS": "false"} if args.broker == "apache" else {}


def run(args: argparse.Namespace) -> str:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = args.streams + args.reps + 1000
    if soft < needed:  # the portal inherits it: it holds one socket per stream too
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, needed), hard))
    workdir, reps, plans_file = workload.fresh_workdir(args.workdir, args.reps)
    broker: TansuBroker | ApacheKafka = (
        ApacheKafka(workdir / "kafka") if args.broker == "apache" else TansuBroker(workdir / "tansu.log"))
    stack: Stack | None = None
    try:
        print(f"starting {args.broker} and the stack...", flush=True)
        # The ledger's per-person rate limit (600/minute) would refuse the capacity phase's streams: they are
        # all one person's, a shortcut of the bench (each is still admitted and logged by the ledger).
        stack = Stack(workdir=workdir / "stack", plans_file=plans_file, kafka_bootstrap=broker.start(),
                      partitions=4,
                      extra_env={"ATTAIN_LEDGER_RATE_LIMIT": "", **deployed(args),
                                 **dict(pair.split("=", 1) for pair in args.env)},
                      fetch_max_wait_ms=fetch_wait_ms(args))
        stack.start(timeout=180)
        assert stack.database_url is not None and stack.issuer is not None
        load_demo_org(plans_file, stack.database_url)  # regions: the comp admin's reach
        cookie = sign_in(stack.portal_url, stack.issuer.url, stack.issuer.init()[READER])
        rates = [int(r) for r in args.rates.split(",") if r]
        phases = asyncio.run(latency_phases(stack, cookie, reps, rates, args.seconds,
                                            args.warmup_rate or max(rates), args.warmup_seconds))
        if args.restart_services:
            print("restarting every service on the warm broker...", flush=True)
            began = time.monotonic()
            stack.restart_services(timeout=180)
            phases += asyncio.run(latency_phases(
                stack, cookie, reps, [], args.seconds, max(rates), args.warmup_seconds,
                first=f"{RESTARTED}; all ready {time.monotonic() - began:.0f} s after the stop began", deals="R"))
        streams = None
        if args.streams:
            print(f"opening {args.streams:,} streams...", flush=True)
            gc.collect()
            streams = asyncio.run(many_streams(stack, cookie, reps, args.streams, args.deal_reps))
        broker_name = "Apache Kafka" if args.broker == "apache" else "Tansu"
        experiment = "".join(f", {name}={value}" for name, value in
                             {**deployed(args), **dict(pair.split("=", 1) for pair in args.env)}.items())
        return markdown(phases, streams, f"{broker_name}, every consumer's fetch max wait {fetch_wait_ms(args)} ms"
                        f"{experiment}", args.reps)
    finally:
        if stack is not None:
            stack.stop()
        broker.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Run, print the block, write it to ``--out``; 1 when the bench failed, 130 when interrupted."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        body = run(args)
        print(body)
        if str(args.out) not in ("", "."):
            write_block(args.block, body, command_line(), args.out)
        return 0
    except BenchFailed as error:
        print(f"portal bench failed: {error}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted; everything started was stopped", file=sys.stderr)
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
