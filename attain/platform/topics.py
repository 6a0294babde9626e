"""Topic names: one place, so services and tools agree."""

CRM_CHANGES = "crm.changes"
CRM_CHANGES_DLQ = "crm.changes.dlq"
CALCULATOR_CREDITS = "calculator.credits"  # internal: credits re-keyed by rep
EARNINGS = "earnings"
EARNINGS_DLQ = "earnings.dlq"
PAYOUTS = "payouts"
PAYOUTS_CONTROL = "payouts.control"  # one control record per approved period: line count, totals
LEDGER_EVENTS = "ledger.events"  # facts about a rep's pay from the ledger's outbox: statement issued, paid, ...
SALESFORCE_REPLAY = "ingest.salesforce.replay"  # internal, compacted: last acknowledged replay id per channel

PUBLIC_TOPICS = (CRM_CHANGES, CRM_CHANGES_DLQ, EARNINGS, EARNINGS_DLQ, PAYOUTS, PAYOUTS_CONTROL, LEDGER_EVENTS)
# internal: one record per calculator lineage (state built from nothing), never compacted or expired
CALCULATOR_LINEAGE = "calculator.lineage"
# Reference data (attain/contracts/reference.py): versions of the plan book by id (compacted), and one audit
# record per publication (one partition, never compacted or expired; the last names the current version).
REFERENCE_VERSIONS = "reference.versions"
REFERENCE_PUBLICATIONS = "reference.publications"
# Notifier (docs/notifications.md): its durable record of milestones, keyed by milestone key (compacted), people's
# notification preferences by person id (compacted), and the deliveries that kept failing.
NOTIFICATIONS = "notifications"
NOTIFICATION_PREFERENCES = "notifications.preferences"
NOTIFICATIONS_DLQ = "notifications.dlq"
