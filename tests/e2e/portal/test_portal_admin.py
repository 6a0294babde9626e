"""The comp admin's and finance's pages over a running pipeline: the period-close board, its actions (each an
audited ledger call with the person's own token), the one-click exports, dead letters counted and replayed through
ingest, and the forbidden paths for a rep and a manager. Reps ``p-admin-*`` and the plan ``portal-admin`` are this
module's own (tests/e2e/portal_plans.yaml)."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
import zipfile
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from attain.embedded.stack import Stack
from tests.e2e.conftest import bearer, budget, post, wait_until
from tests.e2e.portal.test_portal import sign_in

SCOPE, PERIOD = "portal-admin", "2026-Q1"
PERIOD_PATH = f"/admin/periods/{SCOPE}/{PERIOD}"


def won(record_id: str, amount: str) -> dict[str, Any]:
    return {"event_id": f"{record_id}-won", "record_id": record_id, "object_type": "Opportunity",
            "change_type": "CREATE", "commit_timestamp": "2026-02-12T09:00:00Z",
            "fields": {"owner_id": "p-admin-01", "name": "Initech", "amount": amount, "currency": "INR",
                       "is_won": True, "stage": "Closed Won", "close_date": "2026-02-12"}}


def ledger_url(pipeline: Stack) -> str:
    return f"http://127.0.0.1:{pipeline.services['ledger'].port}"


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1)


def audit(pipeline: Stack, actor: str, action: str) -> list[dict[str, Any]]:
    """The ledger's audit records of ``actor`` taking ``action``, straight from its table."""
    engine = create_engine(pipeline.database_url or "")
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT subject, details FROM audit_log WHERE actor_id = :a AND action = :b"
                                           " ORDER BY sequence"), {"a": actor, "b": action}).mappings().all()
    finally:
        engine.dispose()
    return [dict(row) for row in rows]


def subjects(records: list[dict[str, Any]]) -> list[str]:
    """What the records are about (the stack is shared: other modules' admins act on periods of their own)."""
    return [record["subject"] for record in records]


def validation_errors(board: str) -> int:
    """The board's count of ``validation_error`` dead letters on crm.changes.dlq."""
    topic = board.split('data-topic="crm.changes.dlq"', 1)[1].split("</article>", 1)[0]
    found = re.search(r'data-code="validation_error">(\d+)<', topic)
    return int(found.group(1)) if found else 0


def test_the_comp_admin_closes_a_period_from_the_board(stack: Stack) -> None:  # noqa: F811
    ledger = httpx.Client(base_url=ledger_url(stack), timeout=10)
    rep = bearer(stack, "p-admin-01")
    assert post(stack, [won(f"006ADMIN{uuid.uuid4().hex[:8]}", "600000")])[0].status_code == 202
    wait_until(lambda: ledger.get("/v1/reps/p-admin-01/entries", headers=rep).json(), budget(30),
               "the rep's first entry booked")
    entry_id = ledger.get("/v1/reps/p-admin-01/entries", headers=rep).json()[0]["entry_id"]
    dispute_id = ledger.post("/v1/disputes", headers=rep,
                             json={"entry_id": entry_id, "comment": "Initech paid more"}).json()["dispute_id"]
    poison = f"p-admin-poison-{uuid.uuid4().hex[:8]}"
    poisoned = post(stack, [{**won(poison, "1e26"), "event_id": poison}])[0]
    assert poisoned.status_code == 422  # dead-lettered at ingest: validation_error

    admin = sign_in(stack, "comp-admin")
    board = admin.get(f"{stack.portal_url}/admin")
    assert board.status_code == 200, board.text[:300]
    page = board.text
    assert f'data-period="{SCOPE}/{PERIOD}"' in page
    period_card = page.split(f'data-period="{SCOPE}/{PERIOD}"', 1)[1].split("</article>", 1)[0]
    assert '<span class="state">open</span>' in period_card
    assert f'data-dispute="{dispute_id}"' in page and "Initech paid more" in page
    letter = re.search(rf'value="(\d+:\d+)">\s*<label[^>]*>[^<]*validation_error[^<]*<code>[^<]*{poison}', page)
    assert letter, "the poison event is not among the newest dead letters"
    before = validation_errors(page)
    assert before >= 1
    csrf = csrf_of(page)

    # the actions: each a ledger call with the admin's own token, each in the ledger's audit chain
    assert admin.post(f"{stack.portal_url}/admin/entries", data={  # no CSRF token: refused
        "rep_id": "p-admin-01", "scope": SCOPE, "period": PERIOD, "component_id": "commission", "kind": "manual",
        "amount": "100.00", "currency": "INR", "reason": "Q1 kicker"}).status_code == 403
    manual = admin.post(f"{stack.portal_url}/admin/entries", data={
        "csrf": csrf, "key": uuid.uuid4().hex, "rep_id": "p-admin-01", "scope": SCOPE, "period": PERIOD,
        "component_id": "commission", "kind": "manual", "amount": "100.00", "currency": "INR",
        "reason": "Q1 kicker"})
    assert manual.status_code == 200 and "Entry posted" in manual.text, manual.text[:500]
    assert [r["details"]["reason"] for r in audit(stack, "comp-admin", "entry.manual")] == ["Q1 kicker"]
    resolved = admin.post(f"{stack.portal_url}/admin/disputes/{dispute_id}/resolution",
                          data={"csrf": csrf, "comment": "Amount corrected", "adjustment": "500.00"})
    assert resolved.status_code == 200 and '<strong class="state">adjusted</strong>' in resolved.text
    assert f"dispute/{dispute_id}" in subjects(audit(stack, "comp-admin", "dispute.adjusted"))
    again = admin.post(f"{stack.portal_url}/admin/disputes/{dispute_id}/resolution",
                       data={"csrf": csrf, "comment": "twice"})
    assert again.status_code == 409 and "already adjusted" in again.text  # the ledger's rule, shown as it said it
    locked = admin.post(f"{stack.portal_url}{PERIOD_PATH}/lock", data={"csrf": csrf})
    assert locked.status_code == 200 and '<strong class="state">locked</strong>' in locked.text
    assert f"period/{SCOPE}/{PERIOD}" in subjects(audit(stack, "comp-admin", "period.lock"))
    board = admin.get(f"{stack.portal_url}/admin").text
    assert "Waiting for the manager step: a manager of the period&#39;s reps" in board
    assert admin.post(f"{stack.portal_url}{PERIOD_PATH}/approvals", data={"csrf": csrf, "approve": "yes"}
                      ).status_code == 409  # the preparer may not approve: the ledger's separation of duties

    # the manager and a second comp admin approve at the ledger; finance approves and pays on the board
    for who, roles in (("p-admin-mgr", ["manager"]), ("p-admin-ca2", ["comp_admin"])):
        decided = ledger.post(f"/v1/periods/{SCOPE}/{PERIOD}/approvals", headers=bearer(stack, who, roles, ["*"]),
                              json={"approve": True, "comment": "ok"})
        assert decided.status_code == 200, decided.text
    finance = sign_in(stack, "finance")
    money = finance.get(f"{stack.portal_url}/admin")
    assert money.status_code == 200 and "Waiting for the finance step" in money.text
    approved = finance.post(f"{stack.portal_url}{PERIOD_PATH}/approvals",
                            data={"csrf": csrf_of(money.text), "approve": "yes", "comment": "funded"})
    assert approved.status_code == 200 and '<strong class="state">approved</strong>' in approved.text
    payroll = finance.get(f"{stack.portal_url}{PERIOD_PATH}/payroll.csv")
    assert payroll.status_code == 200
    assert payroll.headers["content-disposition"] == f'attachment; filename="payroll-{SCOPE}-{PERIOD}.csv"'
    rows = list(csv.DictReader(io.StringIO(payroll.text)))
    # 600,000 x 5% + the manual 100 + the dispute's 500
    assert [(r["payout_id"], r["amount"]) for r in rows] == [(f"{SCOPE}/{PERIOD}/p-admin-01/INR", "30600.00")], rows
    xlsx = finance.get(f"{stack.portal_url}{PERIOD_PATH}/payroll.xlsx")
    assert xlsx.status_code == 200 and zipfile.ZipFile(io.BytesIO(xlsx.content)).namelist()
    assert json.loads(finance.get(f"{stack.portal_url}{PERIOD_PATH}/payroll.json").text)[0]["rep_id"] == "p-admin-01"
    paid = finance.post(f"{stack.portal_url}{PERIOD_PATH}/paid", data={"csrf": csrf_of(money.text)})
    assert paid.status_code == 200 and '<strong class="state">paid</strong>' in paid.text
    assert f"period/{SCOPE}/{PERIOD}" in subjects(audit(stack, "finance", "period.pay"))

    pack = admin.get(f"{stack.portal_url}/admin/audit/{PERIOD}.zip")
    assert pack.headers["content-disposition"] == f'attachment; filename="audit-{PERIOD}.zip"'
    archive = zipfile.ZipFile(io.BytesIO(pack.content))
    records = list(csv.DictReader(io.StringIO(archive.read(f"audit-{PERIOD}.csv").decode())))
    assert {(r["actor_id"], r["action"]) for r in records if r["subject"] == f"period/{SCOPE}/{PERIOD}"} >= {
        ("comp-admin", "period.lock"), ("finance", "period.pay")}
    assert json.loads(archive.read("chain-verification.json"))["intact"] is True

    # the poison event replayed unfixed: ingest validates it again and dead-letters it again, one letter more
    replayed = admin.post(f"{stack.portal_url}/admin/dlq/replay",
                          data={"csrf": csrf, "topic": "crm.changes.dlq", "position": letter.group(1)})
    assert replayed.status_code == 200, replayed.text[:500]
    assert "0 replayed into crm.changes, 1 rejected again, 0 skipped" in replayed.text
    wait_until(lambda: validation_errors(admin.get(f"{stack.portal_url}/admin").text) == before + 1, budget(15),
               "the replayed letter dead-lettered again")


def test_a_rep_and_a_manager_get_no_admin_page_and_no_admin_action(stack: Stack) -> None:  # noqa: F811
    for user in ("ae-in-01", "mgr-in"):
        person = sign_in(stack, user)
        csrf = csrf_of(person.get(f"{stack.portal_url}/", follow_redirects=True).text)  # a rep lands on their page
        assert person.get(f"{stack.portal_url}/admin").status_code == 403
        assert person.get(f"{stack.portal_url}/admin/audit/{PERIOD}.zip").status_code == 403
        assert person.get(f"{stack.portal_url}{PERIOD_PATH}/payroll.csv").status_code == 403
        for path, form in ((f"{PERIOD_PATH}/lock", {}), (f"{PERIOD_PATH}/paid", {}),
                           (f"{PERIOD_PATH}/approvals", {"approve": "yes"}),
                           ("/admin/disputes/1/resolution", {"comment": "no"}),
                           ("/admin/entries", {"rep_id": user, "amount": "1"}),
                           ("/admin/dlq/replay", {"topic": "crm.changes.dlq", "position": "0:0"})):
            assert person.post(f"{stack.portal_url}{path}", data={"csrf": csrf, **form}).status_code == 403, path
    # the portal is not the only check: the ledger and ingest refuse the same people with their own tokens
    for user, roles in (("ae-in-01", ["rep"]), ("mgr-in", ["manager"])):
        token = bearer(stack, user, roles)
        assert httpx.get(f"{ledger_url(stack)}/v1/admin/disputes", headers=token).status_code == 403
        assert httpx.get(f"{ledger_url(stack)}/v1/periods", headers=token).status_code == 403
        assert httpx.post(f"{ledger_url(stack)}/v1/periods/{SCOPE}/{PERIOD}/lock", headers=token).status_code == 403
        assert httpx.post(f"{stack.ingest_url}/v1/dlq/replay", headers=token,
                          json={"topic": "crm.changes.dlq", "positions": ["0:0"]}).status_code == 403
    # nor may an admin of one region replay dead letters, which belong to no region yet
    regional = bearer(stack, "p-admin-ca3", ["comp_admin"], ["IN-North"])
    assert httpx.post(f"{stack.ingest_url}/v1/dlq/replay", headers=regional,
                      json={"topic": "crm.changes.dlq", "positions": ["0:0"]}).status_code == 403
