"""Ledger metrics."""

from prometheus_client import Counter, Gauge, Histogram

SNAPSHOTS_IN = Counter("attain_ledger_snapshots_total", "Earnings snapshots consumed")
SNAPSHOTS_STALE = Counter(
    "attain_ledger_snapshots_stale_total", "Snapshots ignored: an equal or newer version was applied"
)
ENTRIES_OUT = Counter("attain_ledger_entries_total", "Ledger entries appended")
REJECTED = Counter("attain_ledger_rejected_total", "Snapshots dead-lettered", ["reason"])
DB_ERRORS = Counter("attain_ledger_db_errors_total", "Failed database transactions (retried)")
REBALANCES = Counter(
    "attain_ledger_partitions_given_up_total", "Times the group took this member's partitions", ["how"]
)
ASSIGNED_PARTITIONS = Gauge("attain_ledger_assigned_partitions", "earnings partitions this member holds")
COMMIT_FAILURES = Counter(
    "attain_ledger_offset_commit_failures_total", "Offset commits the group refused (the batch is replayed)"
)
BATCH_SECONDS = Histogram(
    "attain_ledger_batch_seconds",
    "Decode, reconcile, commit and offset commit of one batch",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
CONSUMER_LAG = Gauge("attain_ledger_consumer_lag", "Messages behind the end of earnings")
SNAPSHOTS_QUARANTINED = Counter(
    "attain_ledger_snapshots_quarantined_total",
    "Snapshots of a calculator lineage the ledger has not adopted: held in quarantine, not booked "
    "(the calculator's state was rebuilt from nothing; see `attain ledger lineage`)",
)
IDEMPOTENCY_CONFLICTS = Counter(
    "attain_ledger_idempotency_conflicts_total",
    "Entries not booked because their idempotency key already booked different inputs (the first stands)",
    ["kind"],
)
OUTBOX_BACKLOG = Gauge(
    "attain_ledger_outbox_backlog",
    "Outbox rows (payout lines, control records) not yet published, at the relay's last round",
)
OUTBOX_OLDEST_AGE = Gauge(
    "attain_ledger_outbox_oldest_age_seconds",
    "Age of the oldest unpublished outbox row at the relay's last round (0 when none is waiting)",
)
OUTBOX_PUBLISHED = Counter(
    "attain_ledger_outbox_published_total", "Outbox rows the broker acknowledged, by topic", ["topic"]
)
PAYOUT_LINES = Counter(
    "attain_ledger_payout_lines_published_total", "Payout lines published on payouts, by pay period", ["period"]
)
