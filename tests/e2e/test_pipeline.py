"""The whole pipeline, real broker and real PostgreSQL, services as processes."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import grpc
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from attain.core.recompute import recompute
from attain.platform import topics
from attain.sample import opportunity_events
from cli.main import changes_of
from services.ledger.db import make_engine
from services.ledger.disputes import entry_changes
from services.ledger.schema import entries, participants
from services.notifier.proto import notifier_pb2, notifier_pb2_grpc
from tests.e2e.conftest import bearer, ingest_headers, post, read_dead_letters, totals_for, wait_drained, wait_until
from tests.polling import budget


def changes_behind_the_entry_of(stack, rep_id):
    """What a dispute on the rep's one ledger entry names: the CRM changes behind it."""
    engine = make_engine(stack.database_url or "")
    try:
        with engine.connect() as connection:
            entry_id = connection.execute(select(entries.c.entry_id).where(entries.c.rep_id == rep_id)).scalar_one()
        return entry_changes(engine, entry_id)
    finally:
        engine.dispose()


def expected_totals(book, events):
    return {key: result.total_earned for key, result in recompute(book, changes_of(events)).items()}


def won_deal(record_id, rep_id, amount, event_id=None, close_date="2026-02-10"):
    return {
        "event_id": event_id or f"{record_id}-won", "record_id": record_id, "object_type": "Opportunity",
        "change_type": "CREATE", "commit_timestamp": "2026-02-10T09:00:00Z",
        "fields": {"owner_id": rep_id, "amount": amount, "is_won": True, "close_date": close_date,
                   "currency": "INR"},
    }


def test_a_won_deal_becomes_a_ledger_entry_and_a_live_notification(stack):
    updates, subscribed = [], threading.Event()

    def subscribe():
        with grpc.insecure_channel(stack.notifier_target) as channel:
            stub = notifier_pb2_grpc.NotifierStub(channel)
            grpc.channel_ready_future(channel).result(timeout=10)
            subscribed.set()
            try:
                token = stack.issuer.mint("t01", roles=["rep"])
                for update in stub.Subscribe(notifier_pb2.SubscribeRequest(rep_id="t01"), timeout=60,
                                             metadata=(("authorization", f"Bearer {token}"),)):
                    updates.append(update)
                    return
            except grpc.RpcError:
                pass

    listener = threading.Thread(target=subscribe, daemon=True)
    listener.start()
    assert subscribed.wait(15)
    time.sleep(1)  # let the Subscribe call register before the event is posted
    who = {"change_origin": "com/salesforce/api/rest/60.0;client=e2e", "commit_user": "005E2E0000001"}
    (response,) = post(stack, [{**won_deal("006E2E0001", "t01", "240000.10"), **who}])
    assert response.status_code == 202, response.text

    wait_until(lambda: totals_for(stack, {"t01"}) == {("t01", "2026-Q1"): Decimal("12000.01")},
               what="the ledger entry for t01")
    listener.join(timeout=budget(60))
    assert updates, "no notification reached the subscribed rep"
    assert (updates[0].rep_id, updates[0].period, updates[0].total_earned) == ("t01", "2026-Q1", "12000.01")
    assert updates[0].components[0].credited_value == "240000.10"
    # the deal behind the ledger line and who changed it, carried from the CRM change through the calculator
    assert changes_behind_the_entry_of(stack, "t01") == [
        {"event_id": "006E2E0001-won", "record_id": "006E2E0001", **who}]


def test_duplicated_and_shuffled_events_give_the_same_ledger_totals(stack, book):
    reps = ["t02", "t03", "t04", "t05"]
    events = opportunity_events(reps, deals=60, seed=11, prefix="006DUP")
    expected = expected_totals(book, events)
    assert expected, "the sample must credit something"

    assert all(r.status_code == 202 for r in post(stack, events))
    wait_until(lambda: totals_for(stack, set(reps)) == expected, what="ledger == recompute (in order)")

    again = events * 2
    random.Random(3).shuffle(again)
    assert all(r.status_code == 202 for r in post(stack, again))
    marker = won_deal("006DUPMARK", "t02", "100.00")  # posted last: once it is in, the rest is too
    post(stack, [marker])
    expected_after = expected_totals(book, [*events, marker])
    wait_until(lambda: totals_for(stack, set(reps)) == expected_after, what="ledger after duplicates")
    wait_drained(stack)  # every copy is through the calculator and the ledger: nothing else is on its way
    assert totals_for(stack, set(reps)) == expected_after


def test_calculator_killed_mid_stream_loses_and_doubles_nothing(stack, book):
    kill_the_calculator_mid_stream(stack, book, "006KIL")


def kill_the_calculator_mid_stream(stack, book, prefix: str) -> None:
    """SIGKILL the calculator while 500 deals stream in, start it again: the ledger ends equal to a batch
    recompute of every deal (its tables recovered from their changelogs, nothing lost or counted twice)."""
    reps = [f"t{n}" for n in range(10, 20)]
    events = opportunity_events(reps, deals=500, seed=5, prefix=prefix)
    expected = expected_totals(book, events)
    responses = []
    poster = threading.Thread(target=lambda: responses.extend(post(stack, events, batch=10)))
    poster.start()
    wait_until(lambda: calculator_events(stack) > 100, timeout=60, what="the calculator to be busy")
    posted_before_kill = len(responses)
    stack.kill_service("calculator", signal.SIGKILL)  # mid-stream: ingest keeps accepting meanwhile
    assert posted_before_kill < (len(events) + 9) // 10, "the stream had already ended at the kill"
    stack.start_service("calculator")
    poster.join(timeout=budget(120))
    assert len(responses) == (len(events) + 9) // 10
    assert all(r.status_code == 202 for r in responses)
    stack.wait_ready(names=("calculator",), timeout=budget(120))

    try:
        wait_until(lambda: totals_for(stack, set(reps)) == expected, timeout=120,
                   what="ledger == batch recompute after SIGKILL")
    except AssertionError:
        actual = totals_for(stack, set(reps))
        diff = {k: (actual.get(k), expected.get(k)) for k in set(actual) | set(expected)
                if actual.get(k) != expected.get(k)}
        raise AssertionError(f"ledger != recompute after SIGKILL: (ledger, expected) {diff}\n"
                             f"calculator's warnings:\n{warnings_of(stack, 'calculator')}") from None


def warnings_of(stack, name: str, lines: int = 40) -> str:
    """The last warnings and errors in a service's log, for a failure message."""
    log = stack.services[name].log_path
    found = [line for line in log.read_text(errors="replace").splitlines()
             if '"level": "WARNING"' in line or '"level": "ERROR"' in line or "Traceback" in line]
    return "\n".join(found[-lines:]) or "<none>"


def test_malformed_events_are_dead_lettered_with_reasons_and_nothing_else_is_lost(stack, book):
    good = won_deal("006BAD0001", "t30", "1000.00")
    wrong_currency = {**won_deal("006BAD0002", "t30", "500.00"),
                      "fields": {**won_deal("006BAD0002", "t30", "500.00")["fields"], "currency": "USD"}}
    bad_items = [
        {"record_id": "006BAD0003", "object_type": "Opportunity"},                       # no event_id
        {**won_deal("006BAD0004", "t30", "1.00"), "object_type": "Invoice"},            # unknown object
        {**won_deal("006BAD0005", "t30", "1.00"), "commit_timestamp": "last tuesday"},  # bad time
    ]
    (batch,) = post(stack, [good, wrong_currency, *bad_items])
    assert batch.status_code == 207
    body = batch.json()
    assert (body["accepted"], body["rejected"]) == (2, 3)
    assert [r["status"] for r in body["results"]] == [202, 202, 422, 422, 422]
    assert "object_type" in body["results"][3]["error"]

    (not_json,) = post_raw(stack, b'{"event_id": "x", oops')
    assert not_json.status_code == 400 and not_json.json()["dead_lettered"] is True

    wait_until(lambda: totals_for(stack, {"t30"}) == {("t30", "2026-Q1"): Decimal("50.00")},
               what="the good event of the batch in the ledger")
    envelopes = read_dead_letters(stack, topics.CRM_CHANGES_DLQ)
    reasons = {(e["service"], e["error_code"]): e for e in envelopes}
    originals = [e["original"] for e in envelopes]
    assert any(b"006BAD0003" in o for o in originals)
    assert any(b"Invoice" in o for o in originals)
    assert any(b"last tuesday" in o for o in originals)
    assert any(o == b'{"event_id": "x", oops' for o in originals)
    assert ("ingest", "invalid_json") in reasons
    uncreditable = [e for e in envelopes if e["error_code"] == "uncreditable"]
    assert any(b"006BAD0002" in e["original"] and "USD" in e["reason"] for e in uncreditable)


def test_poison_records_mid_stream_are_dead_lettered_and_every_rep_keeps_earning(stack, book):
    """Amounts beyond any rounding (written to crm.changes directly, as an older ingest let them through)
    and a negative amount no measure allows: each change is refused and its record held; a forged credit
    past stage 1 is dead-lettered by stage 2; the calculator stays up, later events (and a correction of
    a held record) flow, ledger == batch recompute."""
    from confluent_kafka import Producer

    from attain.contracts.crm_changes import change_from_avro
    from attain.platform.avro import contract
    from attain.platform.kafka import producer_config
    from attain.platform.settings import KafkaSettings

    reps = {"t21", "t22", "t23", "t24"}
    before = [won_deal("006PSN0001", "t21", "1000.00"), won_deal("006PSN0002", "t22", "2000.00")]
    assert [r.status_code for r in post(stack, before)] == [202]
    wait_until(lambda: len(totals_for(stack, reps)) == 2, what="the first deals in the ledger")

    def poison(record_id, event_id, amount_json, owner="t21"):
        return {"event_id": event_id, "record_id": record_id, "object_type": "Opportunity", "change_type": "UPDATE",
                "commit_timestamp": 1770800000000 + int(event_id[-1]), "commit_number": 0, "sequence": 0,
                "transaction_key": None, "source": "http", "ingested_at": 1770800000000,
                "fields": {"owner_id": f'"{owner}"', "amount": amount_json, "is_won": "true",
                           "close_date": '"2026-02-10"', "currency": '"INR"'}}

    direct = [poison("006PSN0001", "006PSN-p1", "1E+26"), poison("006PSN0003", "006PSN-p2", "1e999999999", "t22")]
    producer = Producer(producer_config(KafkaSettings(bootstrap=stack.kafka_bootstrap)))  # ingest's partitioner
    for record in direct:
        producer.produce(topics.CRM_CHANGES, contract(topics.CRM_CHANGES).encode(record), record["record_id"].encode())
    forged = {"rep_id": "t24", "triggers": [["006PSN-forged", 0]], "upserts": [{  # past stage 1: stage 2 must cope
        "record_id": "006PSN0009", "days": ["2026-02-10"], "credits": [{
            "record_id": "006PSN0009", "rep_id": "t24", "measure": "closed_won_amount", "credit_date": "2026-02-10",
            "amount": "1E+30", "currency": "INR", "version": [1, 0, 0, "006PSN-forged"], "role": "owner",
            "share": "1", "kind": "credit", "attributes": [], "via": ""}]}]}
    producer.produce(topics.CALCULATOR_CREDITS, json.dumps(forged).encode(), b"t24")
    assert producer.flush(30) == 0
    negative = won_deal("006PSN0004", "t23", "-500.00", event_id="006PSN-p3")
    after = [negative, won_deal("006PSN0005", "t21", "300.00"), won_deal("006PSN0006", "t22", "400.00"),
             won_deal("006PSN0007", "t23", "600.00"), won_deal("006PSN0008", "t24", "800.00"),
             {**won_deal("006PSN0001", "t21", "1500.00", event_id="006PSN-fix"), "change_type": "UPDATE",
              "commit_timestamp": "2026-02-12T09:00:00Z"}]  # corrects the held record
    assert [r.status_code for r in post(stack, after)] == [202]  # negative amounts are the plan's to refuse

    changes = [*changes_of(before), *(change_from_avro(r) for r in direct), *changes_of(after)]
    expected = {key: e.total_earned for key, e in recompute(book, changes).items() if key[0] in reps}
    assert expected == {("t21", "2026-Q1"): Decimal("90.00"), ("t22", "2026-Q1"): Decimal("120.00"),
                        ("t23", "2026-Q1"): Decimal("30.00"), ("t24", "2026-Q1"): Decimal("40.00")}
    wait_until(lambda: totals_for(stack, reps) == expected, timeout=60, what="ledger == recompute past the poison")
    assert stack.services["calculator"].process.poll() is None, "the calculator exited"
    letters = [e for e in read_dead_letters(stack, topics.CRM_CHANGES_DLQ) if b"006PSN-p" in e["original"]]
    codes = {json.loads(e["original"])["event_id"]: (e["service"], e["error_code"]) for e in letters}
    assert codes == {"006PSN-p1": ("calculator", "out_of_bounds"), "006PSN-p2": ("calculator", "out_of_bounds"),
                     "006PSN-p3": ("calculator", "negative_amount")}
    assert all("held at its last valid value" in e["reason"] for e in letters)
    (failed,) = [e for e in read_dead_letters(stack, topics.CRM_CHANGES_DLQ) if e["source"] == "rep:t24"]
    assert failed["error_code"] == "rep_update_failed" and b"006PSN-forged" in failed["original"]


def calculator_events(stack) -> float:
    import httpx

    try:
        text = httpx.get(f"http://127.0.0.1:{stack.services['calculator'].port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return 0.0
    values = [float(line.split()[-1]) for line in text.splitlines()
              if line.startswith("attain_calculator_events_total ")]
    return values[0] if values else 0.0


def post_raw(stack, body: bytes):
    import httpx

    with httpx.Client(timeout=30, headers=ingest_headers(stack)) as client:
        return [client.post(f"{stack.ingest_url}/v1/events", content=body)]


def test_the_stack_publishes_its_plan_files_as_the_current_version_before_the_services_start(stack):
    from attain.planfiles import read_files
    from attain.platform.reference import read_state
    from attain.platform.settings import KafkaSettings

    state = read_state(KafkaSettings(bootstrap=stack.kafka_bootstrap))
    assert state.current == stack.plans_version
    assert state.current.file_map == read_files([stack.plans_file])
    last = state.publications[-1]
    assert (last.version_id, last.published_by, last.reason) == (stack.plans_version.version_id, "attain-demo",
                                                                 "demo start")


def test_a_won_deal_becomes_a_milestone_on_the_grpc_stream_once_per_key(stack):
    (response,) = post(stack, [won_deal("006E2EM001", "t20", "240000.00")])
    assert response.status_code == 202, response.text
    wait_until(lambda: totals_for(stack, {"t20"}) == {("t20", "2026-Q1"): Decimal("12000.00")},
               what="the ledger entry for t20")

    def milestones(subject: str, count: int) -> list:
        token = stack.issuer.mint(subject, roles=["rep"])
        with grpc.insecure_channel(stack.notifier_target) as channel:
            stream = notifier_pb2_grpc.NotifierStub(channel).SubscribeMilestones(
                notifier_pb2.SubscribeRequest(rep_id="t20"), timeout=budget(30),
                metadata=(("authorization", f"Bearer {token}"),))
            got = []
            for item in stream:  # the recorded ones first: nothing is lost by subscribing late
                got.append(item)
                if len(got) == count:
                    break
            stream.cancel()
            return got

    (earned,) = milestones("t20", 1)
    assert (earned.kind, earned.rep_id, earned.period) == ("earned", "t20", "2026-Q1")
    assert earned.key.startswith("t20|2026-Q1|earned|v") and earned.fields["deals"] == "006E2EM001"
    assert earned.sentence == "Your earnings for 2026-Q1 changed by ₹12,000.00 to ₹12,000.00 (deals 006E2EM001)."
    assert [again.key for again in milestones("t20", 1)] == [earned.key]  # a resubscribe: the same key
    watching = subprocess.Popen(  # the CLI: attain watch t20 --milestones --format json
        [str(Path(sys.executable).with_name("attain")), "watch", "t20", "--milestones", "--format", "json",
         "--target", stack.notifier_target], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "ATTAIN_TOKEN": stack.issuer.mint("t20", roles=["rep"])})
    try:
        line = json.loads(watching.stdout.readline())
    finally:
        watching.terminate()
        watching.wait(10)
    assert (line["key"], line["fields"]["deals"], line["sentence"]) == (earned.key, "006E2EM001", earned.sentence)
    try:
        milestones("t13", 1)
        raise AssertionError("t13 watched t20's milestones")
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_lock_a_late_change_and_a_dispute_answer_reach_the_reps_milestone_stream(stack):
    """The ledger's facts (ledger.events, from its outbox) through the notifier: t61's statement issued when
    2026-Q3 locks, changed by a late deal, and t61's dispute answered, each on SubscribeMilestones under its key."""
    import httpx

    scope, period = "ae-test", "2026-Q3"  # a quarter no other test here books: its lock changes nobody else's
    (response,) = post(stack, [won_deal("006E2ELE01", "t61", "100000.00", close_date="2026-08-10")])
    assert response.status_code == 202, response.text
    wait_until(lambda: totals_for(stack, {"t61"}) == {("t61", period): Decimal("5000.00")}, what="t61's Q3 entry")
    api = httpx.Client(base_url=f"http://127.0.0.1:{stack.services['ledger'].port}", timeout=30)
    locked = api.post(f"/v1/periods/{scope}/{period}/lock", headers=bearer(stack, "prep", ["comp_admin"], ["*"]))
    assert locked.json() == {"state": "locked"}, locked.text
    (late,) = post(stack, [won_deal("006E2ELE02", "t61", "40000.00", close_date="2026-09-20")])
    assert late.status_code == 202, late.text
    wait_until(lambda: totals_for(stack, {"t61"}).get(("t61", period)) == Decimal("7000.00"),
               what="the late deal as a prior-period adjustment")
    engine = make_engine(stack.database_url or "")
    with engine.begin() as connection:  # the org places t61 (`attain ledger org`): an admin's reach is by region
        connection.execute(insert(participants).values(rep_id="t61", region="IN-South").on_conflict_do_nothing())
        entry_id = connection.execute(select(entries.c.entry_id).where(
            entries.c.rep_id == "t61", entries.c.period == period)).scalars().first()
    engine.dispose()
    raised = api.post("/v1/disputes", json={"entry_id": entry_id, "comment": "the deal was bigger"},
                      headers=bearer(stack, "t61"))
    assert raised.status_code == 201, raised.text
    dispute = raised.json()["dispute_id"]
    answered = api.post(f"/v1/disputes/{dispute}/resolution", json={"comment": "the CRM has 100,000"},
                        headers=bearer(stack, "admin", ["comp_admin"], ["*"]))
    assert answered.json() == {"status": "rejected"}, answered.text

    wanted = {f"t61|{period}|statement_ready|{scope}", f"t61|{period}|dispute_answered|{dispute}|1"}
    token = stack.issuer.mint("t61", roles=["rep"])
    got: dict[str, notifier_pb2.MilestoneNotification] = {}
    with grpc.insecure_channel(stack.notifier_target) as channel:
        stream = notifier_pb2_grpc.NotifierStub(channel).SubscribeMilestones(
            notifier_pb2.SubscribeRequest(rep_id="t61"), timeout=budget(60),
            metadata=(("authorization", f"Bearer {token}"),))
        for item in stream:  # delivered at least once: a client shows each key once (the notifier's contract)
            got[item.key] = item
            if wanted <= set(got) and any(k.startswith(f"t61|{period}|statement_changed|") for k in got):
                break
        stream.cancel()
    assert got[f"t61|{period}|statement_ready|{scope}"].sentence == f"Your statement for {period} is ready."
    (changed,) = [m for k, m in got.items() if k.startswith(f"t61|{period}|statement_changed|{scope}|INR|v")]
    assert changed.sentence == (f"Your issued statement for {period} changed by +₹2,000.00: a CRM change "
                                "(deals 006E2ELE02).")
    assert got[f"t61|{period}|dispute_answered|{dispute}|1"].sentence == (
        f"Your dispute #{dispute} on {period} was answered.")
