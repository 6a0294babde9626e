"""Attain: real-time incentive compensation.

Packages: ``attain.core`` (pure plan semantics, no I/O), ``attain.platform``
(shared plumbing for the services), ``attain.embedded`` (real broker and
PostgreSQL for the demo and tests). The ``attain`` command lives above the library,
in the top-level ``cli`` package; nothing here imports ``cli`` or ``services``.
"""

__version__ = "0.1.0"
