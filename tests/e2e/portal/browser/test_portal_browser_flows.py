"""The portal's other pages in a real browser (headless Debian chromium): a rep runs the what-if on an open
opportunity; a manager approves their rep's period from a phone with a reason, and once the approval chain ends
the rep, watching their own page, sees the payout's approval arrive live. axe-core on each page, no sideways
scroll at 390 px, screenshots kept. The reps are this module's own (tests/e2e/portal_plans.yaml)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect

from attain.embedded.stack import Stack
from tests.e2e.conftest import bearer, post, totals_for, wait_until
from tests.e2e.portal.browser.support import assert_accessible, no_horizontal_scroll, screenshot, sign_in

WHATIF_REP = "p-browser-4"  # plan portal-ae: 5% to quota 1,000,000, 8% above
APPROVED_REP, MANAGER = "p-browser-5", "p-browser-mgr"  # plan portal-browser: its own approval scope


def opportunity(rep: str, record_id: str, name: str, amount: str, won: bool, day: int) -> dict[str, Any]:
    return {"event_id": f"{record_id}-{int(won)}", "record_id": record_id, "object_type": "Opportunity",
            "change_type": "CREATE", "commit_timestamp": f"2026-02-{day:02d}T09:00:00Z",
            "fields": {"owner_id": rep, "name": name, "amount": amount, "currency": "INR", "is_won": won,
                       "stage": "Closed Won" if won else "Negotiation", "close_date": f"2026-03-{day:02d}"}}


def test_a_rep_runs_the_what_if_on_an_open_opportunity(stack: Stack, page_for: Any, passwords: dict[str, str],
                                                        artifacts: Path) -> None:
    won = opportunity(WHATIF_REP, "006BRWHATIF0", "Hooli", "800000", True, 2)
    open_one = opportunity(WHATIF_REP, "006BRWHATIF1", "Pied Piper", "300000", False, 3)
    assert [r.status_code for r in post(stack, [won, open_one])] == [202]
    wait_until(lambda: totals_for(stack, {WHATIF_REP}), 60, f"the ledger to book {WHATIF_REP}'s won deal")

    page = page_for("phone")
    sign_in(page, stack.portal_url, WHATIF_REP, passwords[WHATIF_REP])

    def projected() -> bool:  # the read model holds the open opportunity
        page.goto(f"{stack.portal_url}/reps/{WHATIF_REP}/what-if")
        return page.get_by_text("Pied Piper").count() > 0

    wait_until(projected, 60, "the open opportunity on the what-if page")
    assert_accessible(page, "the what-if form")
    page.get_by_role("checkbox", name="Pied Piper").check()
    page.get_by_role("button", name="Estimate").click()
    result = page.locator("#whatif-result")
    expect(result).to_be_visible()
    # by hand: before 800,000 x 5% = 40,000.00; after 1,100,000 = 1,000,000 x 5% + 100,000 x 8% = 58,000.00
    period = result.locator('[data-period="2026-Q1"]').first
    expect(period).to_have_attribute("data-before", "40000.00")
    expect(period).to_have_attribute("data-after", "58000.00")
    expect(result).to_contain_text("+₹18,000.00")
    assert_accessible(page, "the what-if result")
    no_horizontal_scroll(page)
    screenshot(page, artifacts, "portal-phone-what-if", full_page=True)


def test_a_manager_approves_a_period_from_a_phone(stack: Stack, page_for: Any, passwords: dict[str, str],
                                                  artifacts: Path) -> None:
    assert post(stack, [opportunity(APPROVED_REP, "006BRAPPROVE", "Globex", "400000", True, 4)])[0].status_code == 202
    wait_until(lambda: totals_for(stack, {APPROVED_REP}), 60, f"the ledger to book {APPROVED_REP}'s deal")
    admin = bearer(stack, "p-browser-prep", roles=("comp_admin",), regions=("*",))  # this module's own preparer
    ledger = httpx.Client(base_url=f"http://127.0.0.1:{stack.services['ledger'].port}", timeout=30)
    locked = ledger.post("/v1/periods/portal-browser/2026-Q1/lock", headers=admin)
    assert locked.json() == {"state": "locked"}, locked.text

    rep_page = page_for("phone")  # the rep watches their own page throughout
    sign_in(rep_page, stack.portal_url, APPROVED_REP, passwords[APPROVED_REP])
    expect(rep_page).to_have_url(f"{stack.portal_url}/reps/{APPROVED_REP}")
    rep_page.evaluate("window.__notReloaded = true")

    page = page_for("phone")
    sign_in(page, stack.portal_url, MANAGER, passwords[MANAGER])
    expect(page).to_have_url(re.compile(r"/team$"))
    expect(page.locator("main")).to_contain_text(APPROVED_REP)
    assert_accessible(page, "the manager's team page")
    no_horizontal_scroll(page)
    screenshot(page, artifacts, "portal-phone-team")

    page.goto(f"{stack.portal_url}/team/approvals")
    expect(page.locator("main")).to_contain_text("portal-browser · 2026-Q1")
    assert_accessible(page, "the approvals page")
    page.get_by_label(re.compile("Reason")).first.fill("Globex checked against the order form")
    page.get_by_role("button", name="Approve").first.click()
    expect(page.locator("main")).to_contain_text("You approved portal-browser 2026-Q1")
    no_horizontal_scroll(page)
    screenshot(page, artifacts, "portal-phone-approved")
    history = ledger.get("/v1/periods/portal-browser/2026-Q1/approvals", headers=admin).json()
    assert [(d["step"], d["actor_id"], d["approved"], d["comment"]) for d in history] == [
        ("manager", MANAGER, True, "Globex checked against the order form")]

    # the rest of the chain at the ledger (a second comp admin, then finance): the payout lines are written, the
    # notifier records the "approved" milestone and the portal pushes it onto the rep's open page
    for who, roles in (("comp-admin-2", ("comp_admin",)), ("finance", ("finance",))):
        decided = ledger.post("/v1/periods/portal-browser/2026-Q1/approvals", json={"approve": True, "comment": "ok"},
                              headers=bearer(stack, who, roles=roles, regions=("*",)))
        assert decided.status_code == 200, decided.text
    notice = rep_page.locator("#notifications li[data-kind='approved']")
    expect(notice).to_contain_text("Your payout of ₹20,000.00 for 2026-Q1 was approved.", timeout=60_000)
    assert rep_page.evaluate("window.__notReloaded === true")  # it came over the live stream, not a reload
    assert_accessible(rep_page, "the rep's page with a live notification")
    notice.scroll_into_view_if_needed()
    screenshot(rep_page, artifacts, "portal-phone-notified")
