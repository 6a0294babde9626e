"""Helpers for plan-engine tests: books from YAML text, records and credits by hand."""

import json
from datetime import date
from decimal import Decimal

from attain.core.crediting import Credit, credits_for
from attain.core.earnings import compute_period_earnings
from attain.core.plan_parser import parse_plan_book
from attain.core.records import ChangeVersion, CrmChange, apply_change
from attain.planfiles import load_text


def book(text):
    return parse_plan_book(load_text(text).data)


def won(record_id, rep, amount, day, currency="INR", **attributes):
    return Credit(record_id, rep, "closed_won_amount", date.fromisoformat(day), Decimal(amount), currency,
                  ChangeVersion(1), attributes=tuple(sorted((k, str(v)) for k, v in attributes.items())))


def record(record_id, object_type="Opportunity", version=1, change_type="UPDATE", **fields):
    encoded = {name: json.dumps(value) if not isinstance(value, Decimal) else str(value)
               for name, value in fields.items()}
    return CrmChange(f"e{record_id}{version}", record_id, object_type, change_type,
                     ChangeVersion(version, 0, 0, f"e{record_id}{version}"), encoded)


def credits_of(the_book, *changes):
    state = None
    for change in changes:
        state = apply_change(state, change, the_book.clawback_fields)
    return credits_for(state, the_book)


def earned(the_book, rep, period, credits):
    result = compute_period_earnings(the_book, rep, period, credits)
    return {c.component_id: c.earned_amount for c in result.components}


def roles_and_bookings(when: str = "{is_won: true}", credit_to: str = "[split, sdr, manager]",
                       window_days: int = 60, sdr_field: str | None = None) -> str:
    """The head of a plan book many engine tests share: split and manager roles (and an SDR role read
    from ``sdr_field``), and a ``bookings`` measure with a cancellation clawback. More measures may follow."""
    sdr = f"  sdr: {{field: {sdr_field}}}\n" if sdr_field else ""
    return f"""
roles:
{sdr}  split: {{splits: splits, fallback: owner_id}}
  manager: {{managers_of: split}}
measures:
  bookings:
    object: Opportunity
    sum: amount
    currency_field: currency
    date_field: close_date
    when: {when}
    credit_to: {credit_to}
    clawback: {{cancel_field: cancelled_on, window_days: {window_days}}}
"""
