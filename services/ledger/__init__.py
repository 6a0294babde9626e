"""Ledger: earnings snapshots in, append-only delta entries in PostgreSQL, exactly once in effect."""
