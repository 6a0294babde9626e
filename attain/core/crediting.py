"""Crediting: which rep a CRM record credits, with what value, on which date.

Skeleton rule: a won Opportunity credits its amount to its owner on its close
date (measure ``closed_won_amount``). A record that is not (or no longer) won,
deleted, or not yet complete credits nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from attain.core.money import MoneyError, parse_decimal
from attain.core.plans import PlanBook
from attain.core.records import ChangeVersion, RecordState


class CreditingError(ValueError):
    """A record whose values cannot be credited as they are; the reason says which field."""


@dataclass(frozen=True)
class Credit:
    """The value one record contributes to one rep's measure."""

    record_id: str
    rep_id: str
    measure: str
    credit_date: date
    amount: Decimal
    currency: str
    version: ChangeVersion


def credit_for(state: RecordState, book: PlanBook) -> Credit | None:
    """The credit ``state`` earns now, or None.

    Raises :class:`CreditingError` when the record is won but a value is unusable
    (bad amount, bad date, a currency other than the rep's plan currency).
    """
    if state.object_type != "Opportunity" or state.is_deleted or state.value("is_won") is not True:
        return None
    owner_id, amount_value, close_value = (state.value(n) for n in ("owner_id", "amount", "close_date"))
    if owner_id is None or amount_value is None or close_value is None:
        return None
    plan = book.plan_for(str(owner_id))
    if plan is None:
        return None
    where = f"record {state.record_id}"
    try:
        amount = parse_decimal(amount_value, f"{where} field amount")
    except MoneyError as error:
        raise CreditingError(str(error)) from None
    currency = state.value("currency") or plan.currency
    if currency != plan.currency:
        raise CreditingError(
            f"{where} field currency: {currency!r} differs from plan {plan.plan_id!r} "
            f"currency {plan.currency!r} and FX conversion is not configured"
        )
    try:
        close_date = date.fromisoformat(str(close_value))
    except ValueError:
        raise CreditingError(f"{where} field close_date: {close_value!r} is not YYYY-MM-DD") from None
    return Credit(
        record_id=state.record_id,
        rep_id=str(owner_id),
        measure="closed_won_amount",
        credit_date=close_date,
        amount=amount,
        currency=plan.currency,
        version=state.latest_version,
    )
