"""Payroll rules (pure): earning codes, a line's split by earning code, a period's control totals.

Payroll systems pay by *earning code* (commission, bonus, draw...). The ledger maps each
entry to a code with :class:`EarningCodes` and publishes, on every payout line, the line's
amount split by code (:func:`split_by_code`), and per period one control record with the
line count and totals per currency (:func:`control_totals`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from attain.core.money import round_money

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
KEY = re.compile(r"^(\*|kind:[a-z_]+|[^\s=,]+)$")
CARRIED = "kind:carried"  # the balance earlier paid periods of the scope left over
DEFAULT_EARNING_CODES = "*=COMM,kind:draw=DRAW,kind:draw_recovery=DRAWREC,kind:clawback=CLAWBACK,kind:carried=CARRY"


class EarningCodeError(ValueError):
    """A mapping that cannot be used, with what to write instead."""


@dataclass(frozen=True)
class EarningCodes:
    """``component id | kind:<entry kind> | kind:carried | *`` -> earning code.

    An entry's code is its component's, else its kind's, else ``*``'s.

    >>> codes = EarningCodes.parse("commission=COMM, spiff=BONUS, kind:draw=DRAW, *=OTHER")
    >>> codes.code_for("spiff", "earned"), codes.code_for("manual", "draw"), codes.code_for("x", "manual")
    ('BONUS', 'DRAW', 'OTHER')
    """

    mapping: Mapping[str, str]

    @classmethod
    def parse(cls, text: str) -> EarningCodes:
        mapping: dict[str, str] = {}
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            key, equals, code = (side.strip() for side in item.partition("="))
            if not equals or not KEY.match(key):
                raise EarningCodeError(f"earning codes: {item!r} is not KEY=CODE (KEY: a component id, "
                                       "kind:<entry kind>, kind:carried or *)")
            if not CODE.match(code):
                raise EarningCodeError(f"earning codes: code {code!r} of {key!r} must be 1-40 letters, digits, "
                                       "'_', '.' or '-'")
            if key in mapping:
                raise EarningCodeError(f"earning codes: {key!r} is mapped twice")
            mapping[key] = code
        if "*" not in mapping:
            raise EarningCodeError("earning codes: map '*' too (the code of every entry nothing else maps)")
        return cls(mapping)

    def code_for(self, component_id: str, kind: str) -> str:
        return self.mapping.get(component_id) or self.mapping.get(f"kind:{kind}") or self.mapping["*"]

    def carried_code(self) -> str:
        return self.mapping.get(CARRIED) or self.mapping["*"]


def split_by_code(parts: Mapping[str, tuple[Decimal, int]], currency: str
                  ) -> tuple[Decimal, list[tuple[str, Decimal, int]]]:
    """The line amount (rounded to ``currency``) and its parts ``(code, amount, entries)`` in code order.

    Each part is rounded to the currency; the rounding difference, if any, goes to the part
    largest in size (first in code order on a tie), so the parts add up to the line amount
    exactly. Parts that are zero after that are left out.

    >>> amount, parts = split_by_code({"COMM": (Decimal("100.004"), 2), "BONUS": (Decimal("50.004"), 1)}, "INR")
    >>> amount, parts
    (Decimal('150.01'), [('BONUS', Decimal('50.00'), 1), ('COMM', Decimal('100.01'), 2)])
    """
    total = round_money(sum((amount for amount, _ in parts.values()), Decimal(0)), currency)
    rounded = {code: round_money(amount, currency) for code, (amount, _) in parts.items()}
    difference = total - sum(rounded.values(), Decimal(0))
    if difference and rounded:
        largest = max(sorted(rounded), key=lambda code: abs(parts[code][0]))
        rounded[largest] += difference
    return total, [(code, rounded[code], parts[code][1]) for code in sorted(rounded) if rounded[code] != 0]


@dataclass(frozen=True)
class CurrencyTotal:
    currency: str
    line_count: int
    amount: Decimal


def control_totals(lines: Iterable[tuple[str, str, Decimal]]) -> tuple[int, list[CurrencyTotal]]:
    """``(payout_id, currency, amount)`` lines -> (distinct line count, totals per currency in currency order).

    >>> control_totals([("a", "INR", Decimal("10.50")), ("b", "INR", Decimal("-0.50")), ("c", "USD", Decimal("3.00"))])
    (3, [CurrencyTotal(currency='INR', line_count=2, amount=Decimal('10.00')), \
CurrencyTotal(currency='USD', line_count=1, amount=Decimal('3.00'))])
    """
    seen: dict[str, tuple[str, Decimal]] = {}
    for payout_id, currency, amount in lines:
        seen[payout_id] = (currency, amount)
    by_currency: dict[str, tuple[int, Decimal]] = {}
    for currency, amount in seen.values():
        count, total = by_currency.get(currency, (0, Decimal(0)))
        by_currency[currency] = (count + 1, total + amount)
    return len(seen), [CurrencyTotal(currency, count, round_money(total, currency))
                       for currency, (count, total) in sorted(by_currency.items())]
