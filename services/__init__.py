"""Attain's services: ingest, calculator, ledger, notifier. Each runs as ``python -m services.<name>``."""
