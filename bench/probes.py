"""Watching a running pipeline from outside: metrics, memory, consumer lag, rates.

Nothing here changes what it watches: it scrapes ``/metrics`` pages, reads
process memory with psutil and asks the broker for committed offsets.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psutil
from confluent_kafka import Consumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from attain.platform.kafka import consumer_config
from attain.platform.settings import KafkaSettings

Point = tuple[float, float]  # (time.monotonic(), value)


@dataclass(frozen=True)
class Rate:
    """``events`` counted over ``seconds`` of work."""

    events: float
    seconds: float

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def scrape(port: int, timeout: float = 2.0) -> dict[str, float]:
    """A service's ``/metrics`` as ``{"name{label=value,...}": value}``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return values


def tree_usage(pid: int) -> tuple[int, float]:
    """Resident bytes and CPU seconds (user + system) of a process and all its descendants."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0, 0.0
    rss, cpu = 0, 0.0
    for process in processes:
        try:
            with process.oneshot():
                rss += process.memory_info().rss
                times = process.cpu_times()
                cpu += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return rss, cpu


class Monitor:
    """A background thread sampling metrics pages and process memory and CPU.

    ``watch_metrics(name, port)`` adds a ``/metrics`` page; ``watch_process(name,
    pids)`` a callable naming the root pids of a process tree (looked up at each
    sample, so a restarted service is followed). Peak RSS is kept per name, and
    CPU seconds as a series (``cpu_points``).
    """

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.samples: dict[str, list[tuple[float, dict[str, float]]]] = defaultdict(list)
        self.peak_rss: dict[str, int] = defaultdict(int)
        self.cpu: dict[str, list[Point]] = defaultdict(list)
        self._ports: dict[str, int] = {}
        self._pids: dict[str, Callable[[], Sequence[int]]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-monitor", daemon=True)

    def watch_metrics(self, name: str, port: int) -> None:
        with self._lock:
            self._ports[name] = port

    def watch_process(self, name: str, pids: Callable[[], Sequence[int]]) -> None:
        with self._lock:
            self._pids[name] = pids

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def points(self, service: str, metric: str, since: float = 0.0) -> list[Point]:
        """The samples of one metric of one service taken at or after ``since``."""
        with self._lock:
            return [(at, values[metric]) for at, values in self.samples[service]
                    if at >= since and metric in values]

    def latest(self, service: str, metric: str, default: float = 0.0) -> float:
        points = self.points(service, metric)
        return points[-1][1] if points else default

    def sample_now(self) -> None:
        with self._lock:
            ports, pids = dict(self._ports), dict(self._pids)
        for name, port in ports.items():
            try:
                values = scrape(port)
            except OSError:
                continue  # restarting or not up yet: no sample
            with self._lock:
                self.samples[name].append((time.monotonic(), values))
        for name, roots in pids.items():
            usages = [tree_usage(pid) for pid in roots()]
            at = time.monotonic()
            with self._lock:
                self.peak_rss[name] = max(self.peak_rss[name], sum(rss for rss, _ in usages))
                if usages:
                    self.cpu[name].append((at, sum(cpu for _, cpu in usages)))

    def cpu_points(self, name: str, since: float = 0.0) -> list[Point]:
        with self._lock:
            return [(at, cpu) for at, cpu in self.cpu[name] if at >= since]

    def _run(self) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            with contextlib.suppress(psutil.Error):  # a process ended mid-sample: next one
                self.sample_now()
            self._stopping.wait(max(0.0, self.interval - (time.monotonic() - started)))


def busy_rate(points: Sequence[Point], target: float | None = None) -> Rate | None:
    """The rate of a counter while it climbs: from its first rise until it reaches ``target``.

    ``target`` defaults to the last value seen. The first sample above the starting
    value opens the window and the first sample at or above the target closes it,
    so idle time before and after is left out and the events counted before the
    opening sample are not credited to the window.
    """
    if len(points) < 2:
        return None
    start_value = points[0][1]
    goal = points[-1][1] if target is None else target
    opening = next((p for p in points if p[1] > start_value), None)
    closing = next((p for p in points if p[1] >= goal), None)
    if opening is None or closing is None or closing[0] <= opening[0]:
        return None
    return Rate(closing[1] - opening[1], closing[0] - opening[0])


def delta(points: Sequence[Point], start: float, end: float) -> float:
    """How much a counter grew between two times (nearest samples at or after each)."""
    after_start = next((v for at, v in points if at >= start), None)
    after_end = next((v for at, v in points if at >= end), points[-1][1] if points else None)
    if after_start is None or after_end is None:
        return 0.0
    return after_end - after_start


class ConsumerLag:
    """Messages a consumer group has not yet committed, per topic, from the broker's view."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self._kafka = kafka

    def __call__(self, group: str, topic: str) -> int:
        consumer = Consumer(consumer_config(self._kafka, group))
        try:
            metadata = consumer.list_topics(topic, timeout=10).topics[topic]
            partitions = [TopicPartition(topic, p) for p in sorted(metadata.partitions)]
            lag = 0
            for committed in consumer.committed(partitions, timeout=10):
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, committed.partition), timeout=10)
                position = committed.offset if committed.offset >= 0 else low
                lag += max(0, high - position)
            return lag
        finally:
            consumer.close()


def histogram_bound(buckets: dict[float, float], quantile: float) -> float | None:
    """The upper bound of the histogram bucket holding ``quantile`` of the observations.

    ``buckets`` are cumulative counts ``{le: count}``; None when there are none. The
    answer is "at most this" (``inf`` when the rank is past the largest finite bound).
    """
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = quantile * buckets[bounds[-1]]
    return next(bound for bound in bounds if buckets[bound] >= rank)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1) of a non-empty sequence."""
    ordered = sorted(values)
    rank = math.ceil(fraction * len(ordered))
    return ordered[min(len(ordered), max(1, rank)) - 1]
