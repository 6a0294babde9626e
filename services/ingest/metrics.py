"""Ingest metrics."""

from prometheus_client import Counter, Histogram

RECEIVED = Counter("attain_ingest_events_received_total", "Change events received", ["source"])
PUBLISHED = Counter("attain_ingest_events_published_total", "Change events published to crm.changes")
REJECTED = Counter("attain_ingest_events_rejected_total", "Change events dead-lettered", ["reason"])
ERRORS = Counter("attain_ingest_errors_total", "Failures to publish (request answered 503)")
LATENCY = Histogram(
    "attain_ingest_request_seconds",
    "Time from request received to all of its records acknowledged by Kafka",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
