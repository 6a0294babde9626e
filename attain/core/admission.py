"""Admission: which changes a record takes, and which it refuses and holds.

A change is merged into its record only if the record can still be credited
afterwards (:func:`~attain.core.crediting.credits_for` succeeds: every value in
bounds, a date it can read, a negative value only where the measure allows
it). Otherwise the change is refused, with the reason, and the record stays at
its last valid state, credits included, until a later change makes it valid
again. Changes are admitted one at a time in the order given, so the streaming
calculator (in arrival order, batch by batch) and the batch recompute (in the
order of the event log) take and refuse the very same changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from attain.core.crediting import Credit, CreditingError, credits_for
from attain.core.plans import PlanBook
from attain.core.records import CrmChange, RecordState, apply_change


@dataclass(frozen=True)
class Refusal:
    """A change a record did not take: ``code`` is the kind (see :class:`CreditingError`), or
    ``error`` for an exception nothing foresaw."""

    record_id: str
    event_id: str
    reason: str
    code: str
    reps: tuple[str, ...] = ()  # the reps the refused change named (owner and other rep fields), for their trace

    def describe(self) -> str:
        """The line a dead letter and the explanation trace show.

        >>> Refusal("006A", "e9", "amount: -5 is negative", "negative_amount").describe()
        'record 006A held at its last valid value: change e9 refused (negative_amount): amount: -5 is negative'
        """
        return (f"record {self.record_id} held at its last valid value: change {self.event_id} refused "
                f"({self.code}): {self.reason}")


@dataclass
class Admitted:
    """A record after admission: its state, its credits now, and the changes refused (in order)."""

    state: RecordState | None
    credits: list[Credit]
    refused: list[Refusal] = field(default_factory=list)
    held: bool = False  # the last change was refused: the record waits at its last valid state


def admit(state: RecordState | None, changes: Iterable[CrmChange], book: PlanBook) -> Admitted:
    """Merge ``changes`` into ``state`` one by one, refusing each that leaves the record uncreditable.

    ``state`` is the record's last valid state (None for a new record). Never raises on a value.

    >>> from attain.core.plan_parser import parse_plan_book
    >>> from attain.core.records import ChangeVersion
    >>> book = parse_plan_book({"plans": [{"id": "ae", "currency": "INR", "components": [
    ...     {"id": "c", "measure": "closed_won_amount", "rate": "0.05"}]}],
    ...     "participants": [{"id": "r1", "plan": "ae", "quota": "1000"}]})
    >>> won = {"owner_id": '"r1"', "is_won": "true", "close_date": '"2026-02-01"'}
    >>> good = CrmChange("e1", "006A", "Opportunity", "CREATE", ChangeVersion(1), {**won, "amount": "500"})
    >>> poison = CrmChange("e2", "006A", "Opportunity", "UPDATE", ChangeVersion(2), {"amount": "1e26"})
    >>> fixed = CrmChange("e3", "006A", "Opportunity", "UPDATE", ChangeVersion(3), {"amount": "700"})
    >>> held = admit(None, [good, poison], book)
    >>> [c.amount for c in held.credits], [(r.event_id, r.code) for r in held.refused]
    ([Decimal('500')], [('e2', 'out_of_bounds')])
    >>> [c.amount for c in admit(held.state, [fixed], book).credits]
    [Decimal('700')]
    """
    credits: list[Credit] | None = None
    refused: list[Refusal] = []
    held = False
    for change in changes:
        candidate = apply_change(state, change, book.clawback_fields)
        try:
            credits = credits_for(candidate, book)
        except CreditingError as error:
            refused.append(Refusal(change.record_id, change.event_id, str(error), error.code,
                                   _named_reps(candidate, book)))
            held = True
            continue
        except Exception as error:  # noqa: BLE001 - no value may stop the pipeline: refuse, say why
            refused.append(Refusal(change.record_id, change.event_id, f"{type(error).__name__}: {error}"[:500],
                                   "error", _named_reps(candidate, book)))
            held = True
            continue
        state, held = candidate, False
    return Admitted(state, _current(state, book) if credits is None else credits, refused, held)


def _current(state: RecordState | None, book: PlanBook) -> list[Credit]:
    """The credits of a stored state no change of this batch replaced (none if it cannot be credited)."""
    if state is None:
        return []
    try:
        return credits_for(state, book)
    except Exception:  # noqa: BLE001 - a state stored before these rules: it credits nothing
        return []


def _named_reps(state: RecordState, book: PlanBook) -> tuple[str, ...]:
    """The participants a record's rep fields name (roles of kind field and split fallbacks)."""
    names = {role.field for role in book.roles.values() if role.kind == "field"}
    names |= {role.of for role in book.roles.values() if role.kind == "splits" and role.of}
    reps = set()
    for name in names:
        try:
            value = state.value(name)
        except Exception:  # noqa: BLE001 - the value the change was refused for may be this one
            continue
        if isinstance(value, str) and value in book.participants:
            reps.add(value)
    return tuple(sorted(reps))
