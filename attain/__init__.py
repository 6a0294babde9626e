"""Attain: real-time incentive compensation.

Packages: ``attain.core`` (pure plan semantics, no I/O), ``attain.platform``
(shared plumbing for the services), ``attain.embedded`` (real broker and
PostgreSQL for the demo and tests), ``attain.cli`` (the ``attain`` command).
"""

__version__ = "0.1.0"
