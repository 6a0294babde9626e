"""Ingest metrics. ``source`` is a bounded label: http, webhook, file, backfill, dlq-replay or
``salesforce:<channel>`` for the configured channels; never a record id."""

from prometheus_client import Counter, Gauge, Histogram

RECEIVED = Counter("attain_ingest_events_received_total", "Change events received", ["source"])
PUBLISHED = Counter("attain_ingest_events_published_total", "Change events published to crm.changes", ["source"])
REJECTED = Counter("attain_ingest_events_rejected_total", "Change events dead-lettered", ["source", "reason"])
ERRORS = Counter("attain_ingest_errors_total", "Failures to publish (request answered 503)")
LATENCY = Histogram(
    "attain_ingest_request_seconds",
    "Time from request received to all of its records acknowledged by Kafka",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

# Salesforce Pub/Sub API
SALESFORCE_EVENTS = Counter(
    "attain_ingest_salesforce_events_total", "Salesforce change events received (before the split per record id)",
    ["channel"])
REPLAY_LAG = Gauge(
    "attain_ingest_salesforce_replay_lag_seconds",
    "Now minus the commit timestamp of the newest change acknowledged by Kafka", ["channel"])
REPLAY_FALLBACKS = Counter(
    "attain_ingest_salesforce_replay_fallbacks_total",
    "Stored replay ids Salesforce refused (expired/invalid); the subscription restarted at the configured policy",
    ["channel", "policy"])
RECONNECTS = Counter(
    "attain_ingest_salesforce_reconnects_total", "Subscribe streams re-opened after an error", ["channel", "code"])
TOKEN_REFRESHES = Counter(
    "attain_ingest_salesforce_token_refreshes_total", "OAuth access tokens requested", ["flow", "outcome"])
GAPS = Counter(
    "attain_ingest_salesforce_gaps_total", "Gap events (GAP_*): Salesforce lost a change's detail", ["channel"])
REREADS = Counter(
    "attain_ingest_salesforce_rereads_total",
    "Re-reads of records from the REST API (reason gap or replay_expired; outcome ok or failed)",
    ["channel", "reason", "outcome"])
REREAD_RECORDS = Counter(
    "attain_ingest_salesforce_reread_records_total", "Records re-read from the REST API and published",
    ["channel", "reason"])
SCHEMA_FETCHES = Counter("attain_ingest_salesforce_schema_fetches_total", "GetSchema calls (cache misses)")
WEBHOOK_AUTH_FAILURES = Counter(
    "attain_ingest_webhook_auth_failures_total", "Webhook requests refused for a missing or bad signature", ["reason"])
AUTH_FAILURES = Counter(
    "attain_ingest_auth_failures_total", "Token-authenticated requests refused (no valid token, or a missing scope)",
    ["reason"])
RATE_LIMITED = Counter(
    "attain_ingest_rate_limited_total",
    "Requests answered 429 (per credential, per webhook sender address, or a replay already running)", ["limit"])
