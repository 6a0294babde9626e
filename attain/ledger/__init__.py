"""Ledger rules as plain Python: period states, approvals, separation of duties, the audit hash chain.

No I/O here; ``services/ledger`` stores and serves what these functions decide.
"""
