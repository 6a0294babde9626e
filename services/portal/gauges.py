"""The portal's gauges for operators (the alerts and dashboard of deploy/monitoring): its open live streams and
how far its read model is behind the topics it projects."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

from confluent_kafka import Consumer, KafkaException
from prometheus_client import Gauge

LIVE_STREAMS = Gauge("attain_portal_live_streams", "SSE streams open on this process")
CONSUMER_LAG = Gauge(
    "attain_portal_consumer_lag",
    "Messages of the topic the read model has not projected: the ends of this process's partitions (as the last "
    "fetch saw them) minus its positions, after its last batch",
    ["topic"],
)
_REPORTED: set[str] = set()


def count_streams(count: Callable[[], int]) -> None:
    """Report ``count()`` (the hub's open streams) at each scrape."""
    LIVE_STREAMS.set_function(count)


def measure_lag(consumer: Consumer, subscribed: Iterable[str]) -> None:
    """Set each topic's lag over the partitions this consumer holds now (none held: 0; a revoked partition's
    lag is its new owner's to report)."""
    lags: dict[str, int] = defaultdict(int)
    try:
        held = consumer.assignment()
        positions = consumer.position(held) if held else []
    except KafkaException:
        return
    for position in positions:
        lags[position.topic] += 0  # reported even before its first message
        if position.offset < 0:  # nothing consumed yet on this partition
            continue
        _, high = consumer.get_watermark_offsets(position, cached=True) or (-1, -1)
        if high >= 0:
            lags[position.topic] += max(0, high - position.offset)
    for topic in (_REPORTED & set(subscribed)) - set(lags):
        CONSUMER_LAG.labels(topic).set(0)
    for topic, lag in lags.items():
        CONSUMER_LAG.labels(topic).set(lag)
    _REPORTED.update(lags)
