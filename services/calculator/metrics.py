"""Calculator metrics."""

from prometheus_client import Counter, Histogram

EVENTS_IN = Counter("attain_calculator_events_total", "CRM change events consumed")
CREDIT_UPDATES = Counter("attain_calculator_credit_updates_total", "Credit upserts sent to stage 2")
SNAPSHOTS_OUT = Counter("attain_calculator_snapshots_total", "Earnings snapshots published")
REJECTED = Counter("attain_calculator_rejected_total", "Events dead-lettered", ["reason"])
BATCH_SECONDS = Histogram(
    "attain_calculator_batch_seconds",
    "Processing time of one batch",
    ["stage"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
