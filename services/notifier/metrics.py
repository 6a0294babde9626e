"""Notifier metrics."""

from prometheus_client import Counter, Gauge, Histogram

SNAPSHOTS_IN = Counter("attain_notifier_snapshots_total", "Earnings snapshots consumed")
PUSHED = Counter("attain_notifier_pushed_total", "Updates pushed to subscribers")
REJECTED = Counter("attain_notifier_rejected_total", "Snapshots that could not be decoded")
DROPPED_SUBSCRIBERS = Counter(
    "attain_notifier_slow_subscribers_total", "Subscribers disconnected for not keeping up"
)
SUBSCRIBERS = Gauge("attain_notifier_subscribers", "Open Subscribe streams")
END_TO_END = Histogram(
    "attain_notifier_end_to_end_seconds",
    "From ingest accepting the earliest event behind a snapshot to its push",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
HELD = Counter(
    "attain_notifier_snapshots_held_total",
    "Snapshots not pushed: their lineage is not the one the ledger books (a rebuilt calculator state)",
)
DETECTED = Counter("attain_notifier_milestones_detected_total", "Milestones recorded (once per key)", ["kind"])
DELIVERED = Counter("attain_notifier_notifications_delivered_total", "Notifications a channel took",
                    ["channel", "kind"])
FAILED = Counter("attain_notifier_notifications_failed_total",
                 "Notifications dead-lettered after every retry failed", ["channel", "kind"])
