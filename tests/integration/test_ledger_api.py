"""The ledger's HTTP API on a real PostgreSQL: OIDC bearer tokens from a real embedded issuer, who may read
what, statements, disputes."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import zipfile
from dataclasses import replace
from decimal import Decimal

import httpx
import jwt
import pytest
from sqlalchemy.dialects.postgresql import insert

from attain.embedded.ports import free_port
from attain.platform.identity import TokenVerifier
from services.ledger.auth import LedgerGuard
from services.ledger.config import LedgerSettings
from services.ledger.db import apply_snapshots, make_engine, migrate
from services.ledger.schema import participants
from tests.integration.ledger_api_support import serving_api
from tests.unit.test_format import pdf_text


@pytest.fixture(scope="module")
def engine(database_url):
    migrate(database_url)
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(insert(participants), [
            {"rep_id": "alice", "region": "south", "manager_id": "mona"},
            {"rep_id": "bob", "region": "north", "manager_id": "mark"},
        ])
    apply_snapshots(engine, [
        {"rep_id": rep, "period": "2026-Q1", "plan_id": "ae", "plan_version": 3, "currency": "INR",
         "snapshot_version": 1, "total_earned": amount, "trigger_event_ids": ["evt-1"],
         "components": [{"component_id": "commission", "earned_amount": amount}]}
        for rep, amount in (("alice", "1000.00"), ("bob", "2000.00"))
    ])
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def guard(minter, database_url):
    return LedgerGuard(LedgerSettings(database_url=database_url), TokenVerifier(minter.settings))


@pytest.fixture(scope="module", autouse=True)
def _tokens(minter):
    global MINTER
    MINTER = minter


MINTER = None


@pytest.fixture(scope="module")
def api(engine, database_url, guard):
    with serving_api(engine, LedgerSettings(database_url=database_url), guard) as url, \
            httpx.Client(base_url=url, timeout=30) as client:
        yield client


def as_user(user, roles=("rep",), regions=()):
    return MINTER.bearer(user, roles, regions)


def test_without_a_valid_token_nothing_is_served(api):
    assert api.get("/v1/reps/alice/statements/2026-Q1").status_code == 401
    forged = jwt.encode({"sub": "alice", "aud": "attain", "roles": ["rep"], "exp": 2**40},
                        "another-secret-of-at-least-32-bytes", algorithm="HS256")
    response = api.get("/v1/reps/alice/statements/2026-Q1", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


def test_a_rep_reads_their_own_statement_but_not_another_reps(api):
    own = api.get("/v1/reps/alice/statements/2026-Q1", headers=as_user("alice"))
    assert own.status_code == 200
    section = own.json()["currencies"][0]
    assert (section["currency"], section["opening_balance"], section["total_payable"]) == ("INR", "0", "1000.00")
    assert section["components"][0]["entries"][0]["plan_version"] == 3
    assert api.get("/v1/reps/bob/statements/2026-Q1", headers=as_user("alice")).status_code == 404
    assert api.get("/v1/reps/bob/statements/2026-Q1.pdf", headers=as_user("alice")).status_code == 404
    assert api.get("/v1/reps/bob/entries", headers=as_user("alice")).status_code == 404


def test_a_manager_reads_their_team_and_an_admin_their_regions(api):
    assert api.get("/v1/reps/alice/entries", headers=as_user("mona", ["manager"])).status_code == 200
    assert api.get("/v1/reps/bob/entries", headers=as_user("mona", ["manager"])).status_code == 404
    south_admin = as_user("ada", ["comp_admin"], ["south"])
    assert api.get("/v1/reps/alice/entries", headers=south_admin).status_code == 200
    assert api.get("/v1/reps/bob/entries", headers=south_admin).status_code == 404
    assert api.get("/v1/reps/bob/entries", headers=as_user("root", ["admin"], ["*"])).status_code == 200


def test_a_statement_downloads_as_pdf(api):
    response = api.get("/v1/reps/alice/statements/2026-Q1.pdf", headers=as_user("alice"))
    assert response.status_code == 200 and response.content.startswith(b"%PDF")


def test_a_dispute_is_raised_by_the_rep_resolved_by_an_admin_and_both_see_the_history(api, engine):
    # its own period (Q4): the adjustment it books must not move the other tests' Q1 figures
    apply_snapshots(engine, [{"rep_id": "alice", "period": "2026-Q4", "plan_id": "ae", "plan_version": 3,
                              "currency": "INR", "snapshot_version": 1, "total_earned": "1000.00",
                              "trigger_event_ids": ["evt-q4"],
                              "components": [{"component_id": "commission", "earned_amount": "1000.00"}]}])
    entry_id = next(entry["entry_id"] for entry in api.get("/v1/reps/alice/entries", headers=as_user("alice")).json()
                    if entry["period"] == "2026-Q4")
    assert api.post("/v1/disputes", json={"entry_id": entry_id, "comment": "deal 42 is missing"},
                    headers=as_user("bob")).status_code == 404  # not bob's entry: the same as no entry
    raised = api.post("/v1/disputes", json={"entry_id": entry_id, "comment": "deal 42 is missing"},
                      headers=as_user("alice"))
    dispute_id = raised.json()["dispute_id"]
    admin = as_user("ada", ["comp_admin"], ["south"])
    resolved = api.post(f"/v1/disputes/{dispute_id}/resolution", headers=admin,
                        json={"comment": "credited deal 42", "adjustment": "250.00"})
    assert resolved.json() == {"status": "adjusted"}
    history = api.get(f"/v1/disputes/{dispute_id}", headers=as_user("alice")).json()
    assert [(e["action"], e["comment"]) for e in history["history"]] == [
        ("raised", "deal 42 is missing"), ("adjusted", "credited deal 42")]
    assert api.get(f"/v1/disputes/{dispute_id}", headers=as_user("bob")).status_code == 404
    statement = api.get("/v1/reps/alice/statements/2026-Q4", headers=as_user("alice")).json()
    section = statement["currencies"][0]
    # what Q4 adds to the balance: its 1,000 earned and the 250 adjustment (earlier periods open the balance)
    assert Decimal(section["total_payable"]) - Decimal(section["opening_balance"]) == Decimal("1250.00")
    assert section["adjustments"][0]["explanation"] == f"dispute {dispute_id}: credited deal 42"


def test_periods_run_through_the_api_and_the_audit_export_is_a_zip(api, engine):
    # its own period (Q3), so no other test's entries count here
    apply_snapshots(engine, [{"rep_id": "alice", "period": "2026-Q3", "plan_id": "ae", "plan_version": 3,
                              "currency": "INR", "snapshot_version": 1, "total_earned": "300.00",
                              "trigger_event_ids": ["evt-q3"],
                              "components": [{"component_id": "commission", "earned_amount": "300.00"}]}])
    admin = as_user("prep", ["comp_admin"], ["*"])
    refused = api.get("/v1/payouts/ae/2026-Q3.csv", headers=admin)  # not approved: no file, the reason
    assert refused.status_code == 409 and "ae/2026-Q3 is open, not approved" in refused.json()["error"]
    assert api.post("/v1/periods/ae/2026-Q3/lock", headers=admin).json() == {"state": "locked"}
    steps = [("mona", "manager"), ("ada", "comp_admin"), ("fin", "finance")]
    for user, role in steps:
        response = api.post("/v1/periods/ae/2026-Q3/approvals", headers=as_user(user, [role], ["*"]),
                            json={"approve": True, "comment": "checked"})
        assert response.status_code == 200, response.text
    assert response.json()["state"] == "approved"
    csv_text = api.get("/v1/payouts/ae/2026-Q3.csv", headers=admin).text
    assert "ae/2026-Q3/alice/INR,alice,2026-Q3,INR,300.00," in csv_text
    archive = zipfile.ZipFile(io.BytesIO(api.get("/v1/audit/2026-Q3.zip", headers=admin).content))
    audit_csv = archive.read("audit-2026-Q3.csv").decode()
    assert audit_csv.count("approval.approve") == 3 and "period.lock" in audit_csv
    assert b'"intact": true' in archive.read("chain-verification.json")
    assert api.post("/v1/periods/ae/2026-Q3/lock", headers=as_user("alice")).status_code == 403



def test_a_dispute_names_the_crm_changes_behind_its_line_and_who_made_them(api, engine, database_url, capsys):
    """A Salesforce change by user 005U1 through Data Loader and an HTTP change with no user, through both
    calculator stages and the earnings v4 bytes, booked on PostgreSQL; the dispute answers with both deals."""
    from attain.contracts.earnings import EarningsSnapshot
    from attain.core.plan_parser import parse_plan_book
    from attain.platform.avro import contract
    from cli.main import main
    from services.calculator.convert import snapshot_to_avro
    from tests.unit.calculator_harness import Calculator, opp

    book = parse_plan_book({"plans": [{"id": "ae", "currency": "INR", "period": "quarter", "components": [
        {"id": "commission", "measure": "closed_won_amount", "rate": "0.1"}]}],
        "participants": [{"id": "alice", "plan": "ae", "quota": "1000"}]})
    origin = "com/salesforce/api/soap/60.0;client=DataLoader"
    deal = {"owner_id": "alice", "is_won": True, "close_date": "2026-05-10"}
    calculator = Calculator(book)
    calculator.feed([replace(opp("sf-e1", "006PRV1", 1, amount=Decimal(4000), **deal), change_origin=origin,
                             commit_user="005U1"), opp("http-e2", "006PRV2", 2, amount=Decimal(1000), **deal)])
    (snapshot,) = calculator.snapshots
    codec = contract("earnings")
    wire = codec.encode(snapshot_to_avro(snapshot.earnings, snapshot.snapshot_version, 0, snapshot.event_ids(),
                                         None, "", snapshot.changes()))
    apply_snapshots(engine, [EarningsSnapshot.from_avro(codec.decode(wire))])
    apply_snapshots(engine, [EarningsSnapshot.from_avro(codec.decode(wire))])  # a replay adds nothing
    (entry,) = [e for e in api.get("/v1/reps/alice/entries", headers=as_user("alice")).json()
                if e["period"] == "2026-Q2"]
    assert (entry["amount"], entry["source_event_ids"]) == ("500.000000", ["sf-e1", "http-e2"])

    raised = api.post("/v1/disputes", json={"entry_id": entry["entry_id"], "comment": "006PRV1 was 5,000"},
                      headers=as_user("alice"))
    assert raised.status_code == 201
    behind = [{"event_id": "sf-e1", "record_id": "006PRV1", "change_origin": origin, "commit_user": "005U1"},
              {"event_id": "http-e2", "record_id": "006PRV2", "change_origin": None, "commit_user": None}]
    assert raised.json()["changes"] == behind
    dispute_id = raised.json()["dispute_id"]
    assert api.get(f"/v1/disputes/{dispute_id}", headers=as_user("ada", ["comp_admin"], ["south"])
                   ).json()["changes"] == behind
    statement = api.get("/v1/reps/alice/statements/2026-Q2", headers=as_user("alice")).json()
    assert statement["currencies"][0]["components"][0]["entries"][0]["changes"] == behind
    pdf = api.get("/v1/reps/alice/statements/2026-Q2.pdf", headers=as_user("alice")).content
    assert "deals: 006PRV1 by 005U1, 006PRV2" in pdf_text(pdf)

    with pytest.raises(SystemExit) as shown:
        main(["ledger", "dispute", "show", str(dispute_id), "--format", "json", "--database-url", database_url])
    assert shown.value.code in (0, None)
    assert json.loads(capsys.readouterr().out)["changes"] == behind
    old_entry = next(e["entry_id"] for e in api.get("/v1/reps/alice/entries", headers=as_user("alice")).json()
                     if e["period"] == "2026-Q1")  # booked from a snapshot that named no changes
    with pytest.raises(SystemExit):
        main(["ledger", "dispute", "raise", str(old_entry), "--rep", "alice", "--comment", "which deal?",
              "--database-url", database_url])
    text = capsys.readouterr().out
    assert f"on entry {old_entry} of alice: open" in text and "evt-1" in text and "(not recorded)" in text


@pytest.fixture(scope="module")
def ledger_grpc(engine, database_url, guard):
    import grpc

    from services.ledger.grpc_api import start_grpc
    from services.ledger.proto import ledger_pb2_grpc

    port = free_port()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    settings = LedgerSettings(database_url=database_url, grpc_port=port)
    server = asyncio.run_coroutine_threadsafe(start_grpc(engine, settings, guard), loop).result(10)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield ledger_pb2_grpc.LedgerStub(channel)
    asyncio.run_coroutine_threadsafe(server.stop(1), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)


def grpc_auth(user, roles=("rep",), regions=()):
    return (("authorization", MINTER.bearer(user, roles, regions)["Authorization"]),)


def test_grpc_serves_a_reps_own_statement_and_refuses_another_reps(ledger_grpc):
    import grpc

    from services.ledger.proto import ledger_pb2

    request = ledger_pb2.StatementRequest(rep_id="alice", period="2026-Q1")
    statement = ledger_grpc.GetStatement(request, metadata=grpc_auth("alice"))
    section = statement.currencies[0]
    assert (section.currency, section.components[0].component_id, section.components[0].total) == (
        "INR", "commission", "1000.00")
    with pytest.raises(grpc.RpcError) as refused:
        ledger_grpc.GetStatement(request, metadata=grpc_auth("bob"))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as anonymous:
        ledger_grpc.GetStatement(request)
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    entries = ledger_grpc.ListEntries(ledger_pb2.ListEntriesRequest(rep_id="alice"),
                                      metadata=grpc_auth("mona", ["manager"])).entries
    assert entries[0].kind == "earned" and entries[0].plan_version == 3


def test_grpc_statement_carries_the_draw_totals_of_the_http_statement(ledger_grpc, engine):
    from services.ledger.proto import ledger_pb2
    from services.ledger.statements import statement as http_statement

    # Q2 earns 300 on a recoverable draw of 1,000: +700 drawn; a later snapshot of Q2 earns 1,100 instead:
    # the top-up goes (draw -700) and 100 is recovered: paid 0, recovered 100, balance -100 (as over HTTP)
    for version, commission, draw in ((1, "300.00", "700.00"), (2, "1100.00", "-100.00")):
        apply_snapshots(engine, [{
            "rep_id": "dana", "period": "2026-Q2", "plan_id": "ae", "plan_version": 3, "currency": "INR",
            "snapshot_version": version, "total_earned": str(Decimal(commission) + Decimal(draw)),
            "trigger_event_ids": [f"evt-d{version}"], "components": [
                {"component_id": "commission", "earned_amount": commission},
                {"component_id": "draw", "earned_amount": draw, "kind": "recoverable_draw"}]}])
    request = ledger_pb2.StatementRequest(rep_id="dana", period="2026-Q2")
    section = ledger_grpc.GetStatement(request, metadata=grpc_auth("dana")).currencies[0]
    http = http_statement(engine, "dana", "2026-Q2")["currencies"][0]
    assert (section.draw_paid, section.draw_recovered, section.draw_balance) == (
        http["draw_paid"], http["draw_recovered"], http["draw_balance"]) == ("0.00", "100.00", "-100.00")
    assert len(section.draws) == 3  # +700, -700, -100


def test_grpc_decisions_follow_the_same_period_rules(ledger_grpc):
    import grpc

    from services.ledger.proto import ledger_pb2

    periods = ledger_grpc.ListPeriods(ledger_pb2.ListPeriodsRequest(), metadata=grpc_auth("root", ["admin"], ["*"]))
    assert ("ae", "2026-Q1") in {(p.scope, p.period) for p in periods.periods}
    with pytest.raises(grpc.RpcError) as refused:
        ledger_grpc.Decide(ledger_pb2.DecideRequest(scope="ae", period="2099-Q1", approve=True),
                           metadata=grpc_auth("mona", ["manager"]))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "needs it locked" in refused.value.details()
