"""A period from open to paid through the running pipeline: late change, approvals with SoD, payouts on
the topic from the service's outbox relay, statements with authorisation, audit chain intact."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from decimal import Decimal

import httpx
from confluent_kafka import Consumer
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from attain.core.recompute import recompute
from attain.platform import topics
from attain.platform.avro import contract
from attain.sample import opportunity_events
from cli.main import changes_of
from services.ledger.db import make_engine
from services.ledger.schema import entries, participants
from tests.e2e.conftest import bearer, post, totals_for, wait_until

REPS = ["t35", "t36", "t37"]
SCOPE, PERIOD = "ae-test", "2026-Q1"


STACK = None  # set by the test: tokens come from the stack's own embedded issuer


def token(user, roles=("rep",), regions=("*",)):
    return bearer(STACK, user, roles, regions)


def late_deal(record_id, rep_id, amount):
    return {"event_id": f"{record_id}-won", "record_id": record_id, "object_type": "Opportunity",
            "change_type": "CREATE", "commit_timestamp": "2026-03-30T09:00:00Z",
            "fields": {"owner_id": rep_id, "amount": amount, "is_won": True, "close_date": "2026-03-30",
                       "currency": "INR"}}


def payout_messages(bootstrap, wanted, timeout=90):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"payroll-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False, "session.timeout.ms": 6000})
    consumer.subscribe([topics.PAYOUTS])
    found = {}
    try:
        wait_until(lambda: _poll_into(consumer, found) >= wanted, timeout=timeout, what="payout lines")
    finally:
        consumer.close()
    return found


def _poll_into(consumer, found):
    for message in consumer.consume(100, 0.5):
        if not message.error():
            found[message.key().decode()] = contract(topics.PAYOUTS).decode(message.value())
    return len(found)


def test_a_period_goes_from_open_to_paid_through_the_pipeline(stack, book):
    global STACK
    STACK = stack
    events = opportunity_events(REPS, deals=30, seed=21, prefix="006LED")
    expected = {k: r.total_earned for k, r in recompute(book, changes_of(events)).items()}
    assert all(r.status_code == 202 for r in post(stack, events))
    wait_until(lambda: totals_for(stack, set(REPS)) == expected, what="ledger == recompute")

    api = httpx.Client(base_url=f"http://127.0.0.1:{stack.services['ledger'].port}", timeout=30)
    assert api.post(f"/v1/periods/{SCOPE}/{PERIOD}/lock", headers=token("prep", ["comp_admin"])).json() == {
        "state": "locked"}

    late = late_deal("006LEDLATE", "t35", "100000.00")  # closes in Q1, arrives after the lock
    post(stack, [late])
    expected_after = {k: r.total_earned for k, r in recompute(book, changes_of([*events, late])).items()}
    wait_until(lambda: totals_for(stack, set(REPS)) == expected_after, what="the late change in the ledger")
    engine = make_engine(stack.database_url or "")
    with engine.begin() as connection:  # the org (`attain ledger org`): mgr manages t35 and t37, t35 manages t36
        connection.execute(insert(participants).on_conflict_do_nothing(), [
            {"rep_id": rep, "region": "IN-North", "manager_id": "t35" if rep == "t36" else "mgr"} for rep in REPS])
    with engine.connect() as connection:
        adjustment = connection.execute(select(entries.c.period, entries.c.amount).where(
            entries.c.rep_id == "t35", entries.c.corrects_period == PERIOD)).one()
    assert adjustment == ("2026-Q2", Decimal("5000.00"))  # 5% of 100,000, posted in the open period

    sod = api.post(f"/v1/periods/{SCOPE}/{PERIOD}/approvals", headers=token("t35", ["manager"]),
                   json={"approve": True, "comment": "mine"})
    assert sod.status_code == 409 and "paid by this payout" in sod.json()["error"]
    for user, role in (("mgr", "manager"), ("admin", "comp_admin"), ("fin", "finance")):
        decision = api.post(f"/v1/periods/{SCOPE}/{PERIOD}/approvals", headers=token(user, [role]),
                            json={"approve": True, "comment": f"{role} ok"})
        assert decision.status_code == 200, decision.text
    assert decision.json()["state"] == "approved"

    lines = {line["payout_id"]: line for line in api.get(f"/v1/payouts/{SCOPE}/{PERIOD}.json",
                                                         headers=token("fin", ["finance"])).json()}
    published = payout_messages(stack.kafka_bootstrap, len(lines))
    assert set(published) >= set(lines)
    own_key = f"{SCOPE}/{PERIOD}/t35/INR"
    q1_without_late = expected[("t35", PERIOD)]
    assert Decimal(published[own_key]["amount"]) == q1_without_late  # the adjustment is paid with Q2
    assert published[own_key]["approved_by"] == "fin"

    statement = api.get(f"/v1/reps/t35/statements/{PERIOD}", headers=token("t35", regions=()))
    assert statement.status_code == 200
    assert Decimal(statement.json()["currencies"][0]["total_payable"]) == q1_without_late
    assert api.get(f"/v1/reps/t35/statements/{PERIOD}", headers=token("t36", regions=())).status_code == 404

    paid = api.post(f"/v1/periods/{SCOPE}/{PERIOD}/paid", headers=token("fin", ["finance"]))
    assert paid.json() == {"state": "paid"}
    archive = zipfile.ZipFile(io.BytesIO(api.get(f"/v1/audit/{PERIOD}.zip", headers=token("fin", ["finance"])).content))
    assert json.loads(archive.read("chain-verification.json"))["intact"] is True
    assert "period.pay" in archive.read(f"audit-{PERIOD}.csv").decode()
    engine.dispose()
