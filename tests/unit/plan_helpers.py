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
        state = apply_change(state, change)
    return credits_for(state, the_book)


def earned(the_book, rep, period, credits):
    result = compute_period_earnings(the_book, rep, period, credits)
    return {c.component_id: c.earned_amount for c in result.components}
