"""The explanation trace: each credited record as a rep reads it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from attain.core.admission import Admitted


def shown(value: Decimal, places: int = 2) -> str:
    """``value`` as a person reads it: at most ``places`` decimals (display only; results stay exact).

    >>> shown(Decimal("146870.5416666666666666666667")), shown(Decimal("24752.0")), shown(Decimal("0.8869047619"), 6)
    ('146870.54', '24752.0', '0.886905')
    """
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -places:
        return str(value)
    return str(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class CreditLine:
    """One record's contribution to a component, from the CRM value to the value credited.

    ``value = original_amount x fx_rate x multiplier`` (for counts, the share of one record).
    """

    record_id: str
    role: str
    kind: str
    credit_date: date
    original_amount: Decimal
    original_currency: str
    fx_rate: Decimal
    fx_date: date | None
    multiplier: Decimal
    kickers: tuple[str, ...]
    value: Decimal
    earned: Decimal | None = None  # per-deal rates, and reversals of what was paid
    reverses: date | None = None  # a clawback reversing what was paid: the credit date it reverses
    changed_by: tuple[str, str] = ("", "")  # (origin, user) of the record's newest change at the CRM
    event_id: str = ""  # the ingest event of that newest change (the record's latest version)

    def describe(self) -> str:
        """One readable line.

        >>> CreditLine("006A", "owner", "credit", date(2026, 2, 1), Decimal("1000"), "USD", Decimal("83.5"),
        ...            date(2026, 1, 31), Decimal("1"), (), Decimal("83500.0")).describe()
        '006A owner 2026-02-01: 1000 USD x 83.5 (rate of 2026-01-31) = 83500.0'
        >>> CreditLine("006A", "owner", "credit", date(2026, 2, 1), Decimal("1000"), "INR", Decimal("1"),
        ...            None, Decimal("1"), (), Decimal("1000"), changed_by=("client=DataLoader", "005A1"),
        ...            event_id="e7").describe()
        '006A owner 2026-02-01: 1000 INR = 1000 [last changed by 005A1 via client=DataLoader, event e7]'
        """
        text = f"{self.record_id} {self.role} {self.credit_date}: "
        text += "reversed " if self.kind == "clawback" else ""
        text += f"(paid on the credit of {self.reverses}) " if self.reverses is not None else ""
        text += f"{shown(self.original_amount)} {self.original_currency}".rstrip()
        if self.fx_date is not None:  # a reversal of what was paid: the rate of its original credit date
            text += f" x {shown(self.fx_rate, 8)} (rate of {self.fx_date})"
        if self.multiplier != 1:
            text += f" x {self.multiplier} ({', '.join(self.kickers)})"
        text += f" = {shown(self.value)}"
        if self.earned is not None:
            text += f", earns {shown(self.earned, 4)}"
        return text + changed_by_text(self.changed_by, self.event_id)


def changed_by_text(changed_by: tuple[str, str], event_id: str = "") -> str:
    """`` [last changed by USER via ORIGIN, event EVENT]`` for a record's newest CRM change (the event id a
    ledger line and a dispute name too), empty when the CRM did not say who changed it."""
    origin, user = changed_by
    if not (origin or user):
        return ""
    event = f", event {event_id}" if event_id else ""
    return f" [last changed by {user or 'an unnamed user'}{f' via {origin}' if origin else ''}{event}]"


def held_lines(records: Iterable[Admitted], rep_id: str) -> list[str]:
    """What a rep reads about the records held for them: each refused change of a record that credits
    ``rep_id`` (its credits stay at the last valid value) or that named the rep, and whether it still holds.

    >>> from attain.core.admission import Refusal
    >>> held_lines([Admitted(None, [], [Refusal("006A", "e2", "amount: -5 is negative", "negative_amount",
    ...                                         ("r1",))], True)], "r1")
    ['006A held at its last valid value: change e2 refused (negative_amount): amount: -5 is negative']
    """
    lines = []
    for record in records:
        credited = any(credit.rep_id == rep_id for credit in record.credits)
        for refusal in record.refused:
            if not credited and rep_id not in refusal.reps:
                continue
            state = "held at its last valid value" if record.held else "was held until a later change"
            lines.append(f"{refusal.record_id} {state}: change {refusal.event_id} refused ({refusal.code}): "
                         f"{refusal.reason}")
    return lines
