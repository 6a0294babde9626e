"""Lineage rules, without I/O: which calculator state the ledger books, and when a rebuild may be adopted.

A *lineage* names the calculator state that produced an earnings snapshot:
``<cluster id>/<crm.changes topic id>/<epoch>``. The epoch is new whenever the
calculator starts over empty state (lost broker state, deleted changelogs, a new
cluster), so two lineages never share history. Cumulative snapshots of a rebuilt
state are only as complete as what was re-ingested: booking them over another
lineage's history would post the difference (often a large negative) as earnings.

- The ledger books the lineage it has adopted; the first lineage seen by a
  ledger that has adopted none is adopted (audited); any other is quarantined.
- ``attain ledger adopt-lineage`` compares a quarantined lineage's latest
  snapshots with what is booked, per (rep, period, component), and adopts it
  when they agree, or, when the operator says so, with the differences posted
  as audited adjustments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from attain.core.reconcile import deltas

LEGACY = ""  # snapshots written before lineages existed (earnings v1) carry none


class Decision(StrEnum):
    BOOK = "book"
    ADOPT = "adopt"  # the first lineage of a ledger: adopt it and book
    QUARANTINE = "quarantine"


def decide(adopted: str | None, lineage: str) -> Decision:
    """What the ledger does with a snapshot of ``lineage`` when it has adopted ``adopted`` (None: none yet).

    >>> decide(None, "c/t/e1"), decide("c/t/e1", "c/t/e1"), decide("c/t/e1", "c/t/e2")
    (<Decision.ADOPT: 'adopt'>, <Decision.BOOK: 'book'>, <Decision.QUARANTINE: 'quarantine'>)

    A snapshot without a lineage (v1) is booked only by a ledger that has adopted none
    (it was written before lineages existed) and never adopts anything:

    >>> decide(None, ""), decide("c/t/e1", "")
    (<Decision.BOOK: 'book'>, <Decision.QUARANTINE: 'quarantine'>)
    """
    if adopted is None:
        return Decision.BOOK if lineage == LEGACY else Decision.ADOPT
    return Decision.BOOK if lineage == adopted else Decision.QUARANTINE


def describe(lineage: str) -> dict[str, str]:
    """The parts of a lineage, for operators.

    >>> describe("attain/AaIy/3f2a")
    {'cluster_id': 'attain', 'topic_id': 'AaIy', 'epoch': '3f2a'}
    >>> describe("")
    {'cluster_id': '', 'topic_id': '', 'epoch': ''}
    """
    parts = lineage.split("/")
    parts += [""] * (3 - len(parts))
    return {"cluster_id": parts[0], "topic_id": parts[1], "epoch": "/".join(parts[2:])}


@dataclass(frozen=True)
class Difference:
    """One (rep, period, component) where the rebuilt state and the ledger disagree."""

    rep_id: str
    period: str
    component_id: str
    booked: Decimal
    rebuilt: Decimal
    rebuilt_has_key: bool  # False: no rebuilt snapshot for this (rep, period) at all

    @property
    def delta(self) -> Decimal:
        return self.rebuilt - self.booked


Key = tuple[str, str]  # (rep, period)


def compare(rebuilt: Mapping[Key, Mapping[str, Decimal]], booked: Mapping[Key, Mapping[str, Decimal]]
            ) -> list[Difference]:
    """Per (rep, period, component): the rebuilt lineage's cumulative earnings against the booked sum.

    A (rep, period) the ledger booked but the rebuild never produced is a difference
    too (its events were not re-ingested): adopting over it needs the operator's word.

    >>> compare({("a", "Q1"): {"c": Decimal("10")}}, {("a", "Q1"): {"c": Decimal("10")}})
    []
    >>> [(d.rep_id, d.component_id, d.delta, d.rebuilt_has_key) for d in compare(
    ...     {("a", "Q1"): {"c": Decimal("4")}}, {("a", "Q1"): {"c": Decimal("10")}, ("b", "Q1"): {"c": Decimal("1")}})]
    [('a', 'c', Decimal('-6'), True), ('b', 'c', Decimal('-1'), False)]
    """
    found: list[Difference] = []
    for key in sorted(set(rebuilt) | set(booked)):
        wanted, posted = rebuilt.get(key, {}), booked.get(key, {})
        for component in deltas(wanted, posted):
            found.append(Difference(key[0], key[1], component, posted.get(component, Decimal(0)),
                                    wanted.get(component, Decimal(0)), key in rebuilt))
    return found


class LineageError(Exception):
    """An adoption the rules refuse, with the reason for the operator."""


def check_adoption(adopted: str | None, candidate: str, quarantined_keys: int, found: list[Difference],
                   post_differences: bool) -> None:
    """Raise :class:`LineageError` unless ``candidate`` may be adopted now.

    >>> check_adoption("c/t/e1", "c/t/e2", 3, [], False)
    >>> check_adoption("c/t/e1", "c/t/e1", 3, [], False)
    Traceback (most recent call last):
    ...
    attain.ledger.lineage.LineageError: lineage c/t/e1 is already the adopted one
    """
    if candidate == adopted:
        raise LineageError(f"lineage {candidate} is already the adopted one")
    if candidate == LEGACY:
        raise LineageError("snapshots without a lineage (earnings v1) cannot be adopted")
    if quarantined_keys == 0:
        raise LineageError(f"nothing of lineage {candidate} is quarantined: rebuild its state first")
    if found and not post_differences:
        raise LineageError(
            f"the rebuilt lineage {candidate} differs from the ledger in {len(found)} (rep, period, component) "
            "total(s); re-ingest what is missing and retry, or adopt with --post-differences to book them "
            "as audited adjustments")
