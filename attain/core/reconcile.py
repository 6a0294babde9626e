"""Reconciliation: what must be appended so the ledger equals a cumulative snapshot.

The ledger never stores running totals; it stores entries. Given the cumulative
amount per component a snapshot says is earned, and the sum already posted per
component, the entries to append are the differences. Components the snapshot no
longer has are reversed to zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TypeVar

Key = TypeVar("Key", str, tuple[str, str])  # a component, or (component, entry kind) where draws are split


def deltas(
    snapshot_amounts: Mapping[Key, Decimal], posted_amounts: Mapping[Key, Decimal]
) -> dict[Key, Decimal]:
    """Non-zero amounts to post per component (or per key).

    >>> deltas({"commission": Decimal("150.00")}, {"commission": Decimal("100.00")})
    {'commission': Decimal('50.00')}
    >>> deltas({}, {"spiff": Decimal("20")})
    {'spiff': Decimal('-20')}
    """
    result: dict[Key, Decimal] = {}
    for component in sorted(set(snapshot_amounts) | set(posted_amounts)):
        delta = snapshot_amounts.get(component, Decimal(0)) - posted_amounts.get(component, Decimal(0))
        if delta != 0:
            result[component] = delta
    return result
