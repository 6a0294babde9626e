"""The what-if estimator over a running pipeline: a rep signs in at the real issuer, estimates closing an open
opportunity through the page's form, then the same deal closes for real and the ledger's pay equals the
estimate to the paisa. Another rep's what-if is not found, and bad amounts are clear form errors."""

from __future__ import annotations

import json
import re
import secrets
from decimal import Decimal
from typing import Any

import httpx
import pytest

from attain.embedded.stack import Stack
from services.issuer.directory import hash_secret, write_private
from tests.e2e.conftest import post, totals_for, wait_drained, wait_until
from tests.e2e.portal.test_portal import sign_in

REP, OTHER = "p-whatif-1", "p-whatif-2"  # this module's own reps (portal_plans.yaml): no other module posts for them


@pytest.fixture(scope="module")
def stack(stack: Stack) -> Stack:
    """The portal package's stack (tests/e2e/portal/conftest.py), with this module's reps known to its issuer."""
    for person in (REP, OTHER):
        enrol(stack, person)
    return stack


def enrol(stack: Stack, user: str) -> None:
    """Add a rep to the running issuer's directory (it re-reads the file: no restart) and to the credentials
    file the sign-in helper reads the password from."""
    assert stack.issuer is not None
    folder, password = stack.issuer.data_dir, secrets.token_urlsafe(18)
    identities = json.loads((folder / "identities.json").read_text())
    identities["users"][user] = {"roles": ["rep"], "regions": [], "password": hash_secret(password)}
    write_private(folder / "identities.json", json.dumps(identities, indent=2).encode())
    credentials = {**stack.issuer.init(), user: password}
    write_private(folder / "credentials.json", json.dumps(credentials, indent=2).encode())


def change(record_id: str, number: int, at: str, **fields: Any) -> dict[str, Any]:
    return {"event_id": f"{record_id}-{number}", "record_id": record_id, "object_type": "Opportunity",
            "change_type": "CREATE" if number == 1 else "UPDATE", "commit_timestamp": at, "fields": fields}


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def whatif(client: httpx.Client, stack: Stack, rep: str, form: dict[str, str]) -> httpx.Response:
    """The what-if form posted as a browser posts it (the CSRF token from the page)."""
    page = client.get(f"{stack.portal_url}/reps/{rep}/what-if", headers={"Accept-Language": "en-IN"})
    assert page.status_code == 200, page.text[:500]
    return client.post(f"{stack.portal_url}/reps/{rep}/what-if", data={**form, "csrf": csrf_of(page.text)},
                       headers={"Accept-Language": "en-IN"})


def test_the_estimate_of_a_deal_is_its_pay_once_it_closes(stack: Stack) -> None:
    earlier = change("006WHATIF0", 1, "2026-02-05T09:00:00Z", owner_id=REP, name="Wayne Enterprises",
                     amount=600000, currency="INR", is_won=True, stage="Closed Won", close_date="2026-02-05")
    opened = change("006WHATIF1", 1, "2026-02-06T09:00:00Z", owner_id=REP, name="Stark Industries",
                    amount=650000, currency="INR", is_won=False, stage="Negotiation",
                    close_date="2026-03-31")
    assert [r.status_code for r in post(stack, [earlier, opened])] == [202]
    rep = sign_in(stack, REP)
    home = rep.get(f"{stack.portal_url}/reps/{REP}")
    assert f'href="/reps/{REP}/what-if"' in home.text  # linked from the rep home

    def projected() -> bool:  # the read model holds the won deal (the deal list) and the open opportunity
        page = rep.get(f"{stack.portal_url}/reps/{REP}").text
        return "Wayne Enterprises: credit" in page and "Stark Industries" in page

    wait_until(projected, 60, "the portal to project both records")
    form = {"pick": "006WHATIF1", "measure_006WHATIF1": "closed_won_amount", "amount_006WHATIF1": "700000.55",
            "currency_006WHATIF1": "INR", "close_006WHATIF1": "2026-03-20"}
    answer = whatif(rep, stack, REP, form)
    assert answer.status_code == 200, answer.text[:2000]
    period = re.search(r'data-period="2026-Q1" data-before="([^"]+)" data-after="([^"]+)" '
                       r'data-difference="([^"]+)"', answer.text)
    assert period, answer.text[:3000]
    # by hand: before 600,000 x 5% = 30,000.00; after 1,300,000.55 = 1,000,000 x 5% + 300,000.55 x 8%
    # = 50,000 + 24,000.044 = 74,000.04
    assert period.groups() == ("30000.00", "74000.04", "44000.04")
    assert "tier 0-1 → 1+" in answer.text and "+₹44,000.04" in answer.text
    assert "006WHATIF1 owner 2026-03-20: 700000.55 INR = 700000.55" in answer.text  # the core's trace
    estimated = Decimal(period.group(2))

    # the same deal closes for real, with the same amount and date
    closing = change("006WHATIF1", 2, "2026-03-20T15:00:00Z", is_won=True, stage="Closed Won",
                     amount="700000.55", currency="INR", close_date="2026-03-20")  # decimal text: exact in JSON
    assert post(stack, [closing])[0].status_code == 202
    wait_drained(stack)
    booked = totals_for(stack, {REP})
    assert booked == {(REP, "2026-Q1"): estimated}, booked
    assert str(booked[(REP, "2026-Q1")].quantize(Decimal("0.01"))) == period.group(2)


def test_a_rep_cannot_run_a_what_if_for_another_rep(stack: Stack) -> None:
    rep = sign_in(stack, OTHER)
    assert rep.get(f"{stack.portal_url}/reps/{REP}/what-if").status_code == 404
    own = rep.get(f"{stack.portal_url}/reps/{OTHER}/what-if")
    refused = rep.post(f"{stack.portal_url}/reps/{REP}/what-if",
                       data={"pick": "new", "measure_new": "closed_won_amount", "amount_new": "1",
                             "currency_new": "INR", "close_new": "2026-02-01", "csrf": csrf_of(own.text)})
    assert refused.status_code == 404
    no_token = rep.post(f"{stack.portal_url}/reps/{OTHER}/what-if", data={"pick": "new"})
    assert no_token.status_code == 403  # the portal's form guard: no CSRF token, no post


@pytest.mark.parametrize(("amount", "currency", "message"), [
    ("-5", "INR", "the amount cannot be negative"),
    ("1e30", "INR", "the amount is too large (at most 1,000,000,000,000,000)"),
    ("twelve", "INR", "the amount twelve is not a number"),
    ("100", "XYZ", "unknown currency XYZ"),
])
def test_a_bad_amount_is_a_clear_form_error(stack: Stack, amount: str, currency: str, message: str) -> None:
    rep = sign_in(stack, OTHER)
    answer = whatif(rep, stack, OTHER, {"pick": "new", "name_new": "Typed deal", "measure_new": "closed_won_amount",
                                        "amount_new": amount, "currency_new": currency, "close_new": "2026-02-01"})
    assert answer.status_code == 400 and 'role="alert"' in answer.text
    assert f"Typed deal: {message}" in answer.text, answer.text[:3000]
    assert f'value="{amount}"' in answer.text  # the form comes back with what was typed, to correct it
