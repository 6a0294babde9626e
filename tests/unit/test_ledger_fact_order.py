"""The ledger writes new facts' outbox rows in the order the facts were given, in linear time: it does so while
the period's row is locked, with a fact per rep."""

from __future__ import annotations

from services.ledger.ledger_events import in_order


class Counted(str):
    """A fact id that counts how often it is compared for equality."""

    comparisons = 0

    def __eq__(self, other: object) -> bool:
        Counted.comparisons += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def test_new_facts_keep_the_given_order():
    given = ["statement_ready|ae|2026-Q1|r3", "statement_ready|ae|2026-Q1|r1", "statement_ready|ae|2026-Q1|r2"]
    assert in_order(reversed(given[:2]), given) == given[:2]
    assert in_order({given[2], given[0]}, given) == [given[0], given[2]]
    assert in_order([], given) == []


def test_ordering_many_facts_compares_each_about_once_not_with_every_other():
    given = [Counted(f"statement_ready|ae|2026-Q1|r{number}") for number in range(2000)]
    chosen = [Counted(str(fact)) for fact in reversed(given)]  # equal ids, other objects: as read back from SQL
    Counted.comparisons = 0
    assert in_order(chosen, given) == given
    assert Counted.comparisons < 3 * len(given)  # searching the list for each was about len² / 2 = 2,000,000
