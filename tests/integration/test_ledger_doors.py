"""Every door of the ledger (HTTP and gRPC) against tokens of a real embedded OpenID Connect issuer.

Bad credentials (none, expired, wrong issuer or audience, an unknown key, ``alg: none``, a shared
secret) are refused with 401 / UNAUTHENTICATED; someone else's rep, dispute, entry or period with
the same 404 (PERMISSION_DENIED on gRPC) as what does not exist; an action the role may not take
with 403. After each refusal the ledger's rows are unchanged. The holes the outside tester found
stay closed; reads of pay are in the access log; a caller over the rate limit gets 429.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
import httpx
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from attain.embedded.ports import free_port
from attain.platform.identity import TokenVerifier
from services.issuer.directory import mint_token
from services.ledger.api import add_api_routes
from services.ledger.auth import LedgerGuard
from services.ledger.config import LedgerSettings
from services.ledger.db import apply_snapshots
from services.ledger.grpc_api import start_grpc
from services.ledger.period_service import lock_period
from services.ledger.proto import ledger_pb2, ledger_pb2_grpc
from services.ledger.schema import (
    access_log,
    approval_decisions,
    audit_log,
    dispute_events,
    disputes,
    entries,
    participants,
    payout_lines,
    periods,
)

PERIOD = "2026-Q1"
CHANGING_TABLES = (entries, periods, approval_decisions, disputes, dispute_events, audit_log, payout_lines)


@pytest.fixture(scope="module")
def org(engine):
    """sam manages mona manages alice and ada (south); mark manages bob (north). ada is also an admin."""
    with engine.begin() as connection:
        connection.execute(insert(participants), [
            {"rep_id": "alice", "region": "south", "manager_id": "mona"},
            {"rep_id": "ada", "region": "south", "manager_id": "mona"},
            {"rep_id": "mona", "region": "south", "manager_id": "sam"},
            {"rep_id": "bob", "region": "north", "manager_id": "mark"},
        ])
    apply_snapshots(engine, [
        {"rep_id": rep, "period": PERIOD, "plan_id": plan, "plan_version": 1, "currency": "INR",
         "snapshot_version": 1, "total_earned": amount, "trigger_event_ids": ["evt-1"],
         "components": [{"component_id": "commission", "earned_amount": amount}]}
        for rep, plan, amount in (("alice", "ae-south", "1000.00"), ("ada", "ae-south", "500.00"),
                                  ("bob", "ae-north", "2000.00"))
    ])
    with engine.connect() as connection:
        ids = dict(connection.execute(select(entries.c.rep_id, entries.c.entry_id)).all())
    return ids


def rows(engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {table.name: int(connection.execute(select(func.count()).select_from(table)).scalar_one())
                for table in CHANGING_TABLES}


def state_of(engine, scope: str) -> str | None:
    with engine.connect() as connection:
        return connection.execute(select(periods.c.state).where(periods.c.scope == scope,
                                                                periods.c.period == PERIOD)).scalar()


@contextmanager
def serving(engine, settings: LedgerSettings, guard: LedgerGuard) -> Iterator[tuple[httpx.Client, object]]:
    """The HTTP API and the gRPC API on free ports, sharing ``guard``; yields an HTTP client and a gRPC stub."""
    http_port, grpc_port = free_port(), free_port()
    settings = settings.model_copy(update={"grpc_port": grpc_port})
    loop = asyncio.new_event_loop()

    async def start():
        app = web.Application()
        add_api_routes(app, engine, settings, guard)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", http_port).start()
        return runner, await start_grpc(engine, settings, guard)

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner, server = asyncio.run_coroutine_threadsafe(start(), loop).result(15)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=30) as client, \
                grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            yield client, ledger_pb2_grpc.LedgerStub(channel)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(1), loop).result(15)
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(15)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(15)


@pytest.fixture(scope="module")
def doors(engine, org, minter, database_url):
    settings = LedgerSettings(database_url=database_url, rate_limit="")
    with serving(engine, settings, LedgerGuard(settings, TokenVerifier(minter.settings))) as both:
        yield both


@pytest.fixture(scope="module")
def api(doors):
    return doors[0]


@pytest.fixture(scope="module")
def stub(doors):
    return doors[1]


def bad_tokens(minter) -> dict[str, str | None]:
    issuer = minter.issuer
    claims = {"roles": ["comp_admin"], "regions": ["*"]}
    stranger = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    body = {"iss": issuer.url, "sub": "root", "aud": issuer.audience, "iat": now, "exp": now + 600, **claims}
    return {
        "none": None,
        "expired": minter.token("root", ["comp_admin"], ["*"], lifetime_seconds=-3600),
        "wrong issuer": mint_token(issuer.data_dir, "http://127.0.0.1:1/evil", issuer.audience, "root", **claims),
        "wrong audience": mint_token(issuer.data_dir, issuer.url, "another-service", "root", **claims),
        "unknown key": jwt.encode(body, stranger, algorithm="ES256", headers={"kid": "not-a-published-key"}),
        "alg none": jwt.encode(body, None, algorithm="none"),
        "shared secret": jwt.encode(body, "the-old-ledger-secret-of-32-bytes-and-more", algorithm="HS256"),
        "garbage": "not.a.token",
    }


HTTP_DOORS = [
    ("GET", "/v1/reps/alice/entries", None),
    ("GET", f"/v1/reps/alice/statements/{PERIOD}", None),
    ("GET", f"/v1/reps/alice/statements/{PERIOD}.pdf", None),
    ("GET", "/v1/periods", None),
    ("POST", f"/v1/periods/ae-south/{PERIOD}/lock", None),
    ("POST", f"/v1/periods/ae-south/{PERIOD}/paid", None),
    ("GET", f"/v1/periods/ae-south/{PERIOD}/approvals", None),
    ("POST", f"/v1/periods/ae-south/{PERIOD}/approvals", {"approve": True, "comment": "ok"}),
    ("GET", f"/v1/payouts/ae-south/{PERIOD}.csv", None),
    ("GET", f"/v1/audit/{PERIOD}.zip", None),
    ("POST", "/v1/entries", {"rep_id": "alice", "scope": "ae-south", "period": PERIOD, "amount": "10.00",
                             "currency": "INR", "idempotency_key": "k1", "reason": "bonus"}),
    ("POST", "/v1/disputes", {"entry_id": 1, "comment": "wrong"}),
    ("GET", "/v1/disputes/1", None),
    ("POST", "/v1/disputes/1/resolution", {"comment": "fine", "adjustment": "5.00"}),
    ("GET", "/v1/access-log", None),
    ("POST", "/v1/reps/alice/access", {"what": "stream.open"}),
    ("GET", "/v1/team", None),
    ("GET", "/v1/approvals/waiting", None),
    ("GET", "/v1/disputes", None),
]


def test_every_http_door_refuses_every_bad_credential_with_401_and_changes_nothing(api, engine, minter):
    before, log_before = rows(engine), _access_rows(engine)
    for name, token in bad_tokens(minter).items():
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        for method, path, body in HTTP_DOORS:
            response = api.request(method, path, headers=headers, json=body)
            assert response.status_code == 401, (name, method, path, response.text)
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert token is None or token not in response.text  # a refusal never echoes the token
    assert rows(engine) == before and _access_rows(engine) == log_before


def test_every_grpc_door_refuses_every_bad_credential_as_unauthenticated(stub, engine, minter):
    before = rows(engine)
    calls = [
        (stub.ListEntries, ledger_pb2.ListEntriesRequest(rep_id="alice")),
        (stub.GetStatement, ledger_pb2.StatementRequest(rep_id="alice", period=PERIOD)),
        (stub.ListPeriods, ledger_pb2.ListPeriodsRequest()),
        (stub.Decide, ledger_pb2.DecideRequest(scope="ae-south", period=PERIOD, approve=True, comment="ok")),
        (stub.RaiseDispute, ledger_pb2.RaiseDisputeRequest(entry_id=1, comment="wrong")),
    ]
    for name, token in bad_tokens(minter).items():
        metadata = (("authorization", f"Bearer {token}"),) if token else ()
        for call, request in calls:
            with pytest.raises(grpc.RpcError) as refused:
                call(request, metadata=metadata)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, (name, call, refused.value.details())
    assert rows(engine) == before


def test_a_machine_token_without_a_role_is_403_not_a_person(api, minter):
    client = minter.token("attain-ingest-client", roles=[], scope="ingest:write")
    response = api.get("/v1/reps/alice/entries", headers={"Authorization": f"Bearer {client}"})
    assert response.status_code == 403 and "holds no role" in response.json()["error"]


def test_someone_elses_rep_is_the_same_404_as_a_rep_nobody_knows(api, stub, minter):
    bob = minter.bearer("bob")
    for path in ("/v1/reps/{rep}/entries", f"/v1/reps/{{rep}}/statements/{PERIOD}",
                 f"/v1/reps/{{rep}}/statements/{PERIOD}.pdf"):
        theirs = api.get(path.format(rep="alice"), headers=bob)
        nobodys = api.get(path.format(rep="no-such-rep"), headers=bob)
        assert theirs.status_code == nobodys.status_code == 404
        assert theirs.json()["error"].replace("alice", "X") == nobodys.json()["error"].replace("no-such-rep", "X")
    assert api.get("/v1/reps/bob/entries", headers=bob).status_code == 200
    for who in (minter.bearer("mark", ["manager"]), minter.bearer("nora", ["comp_admin"], ["north"])):
        assert api.get("/v1/reps/alice/entries", headers=who).status_code == 404  # another team, another region
    # a skip-level manager sees their whole network
    assert api.get("/v1/reps/alice/entries", headers=minter.bearer("sam", ["manager"])).status_code == 200
    grpc_bob = (("authorization", bob["Authorization"]),)
    details = []
    for rep in ("alice", "no-such-rep"):
        with pytest.raises(grpc.RpcError) as refused:
            stub.GetStatement(ledger_pb2.StatementRequest(rep_id=rep, period=PERIOD), metadata=grpc_bob)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        details.append(refused.value.details().replace(rep, "X"))
    assert details[0] == details[1]


def test_someone_elses_dispute_or_entry_is_the_same_404_as_none(api, stub, engine, org, minter):
    raised = api.post("/v1/disputes", headers=minter.bearer("alice"),
                      json={"entry_id": org["alice"], "comment": "deal 7 is missing"})
    assert raised.status_code == 201
    dispute_id = raised.json()["dispute_id"]
    bob = minter.bearer("bob")
    theirs, nobodys = api.get(f"/v1/disputes/{dispute_id}", headers=bob), api.get("/v1/disputes/999999", headers=bob)
    assert theirs.status_code == nobodys.status_code == 404
    assert theirs.json()["error"].replace(str(dispute_id), "X") == nobodys.json()["error"].replace("999999", "X")
    before = rows(engine)
    theirs = api.post("/v1/disputes", headers=bob, json={"entry_id": org["alice"], "comment": "mine now"})
    nobodys = api.post("/v1/disputes", headers=bob, json={"entry_id": 999999, "comment": "mine now"})
    assert theirs.status_code == nobodys.status_code == 404
    assert theirs.json()["error"].replace(str(org["alice"]), "X") == nobodys.json()["error"].replace("999999", "X")
    north_admin = minter.bearer("nora", ["comp_admin"], ["north"])
    resolved = api.post(f"/v1/disputes/{dispute_id}/resolution", headers=north_admin,
                        json={"comment": "paid", "adjustment": "100.00"})
    assert resolved.status_code == 404  # an admin of another region cannot see it, let alone resolve it
    with pytest.raises(grpc.RpcError) as refused:
        stub.RaiseDispute(ledger_pb2.RaiseDisputeRequest(entry_id=org["alice"], comment="mine now"),
                          metadata=(("authorization", bob["Authorization"]),))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert rows(engine) == before


def test_a_region_admin_acts_only_on_their_regions_periods_payouts_and_audit(api, stub, engine, minter):
    """The outside tester's hole: an admin of one region locked another region's period."""
    south = minter.bearer("sally", ["comp_admin"], ["south"])
    before = rows(engine)
    assert state_of(engine, "ae-north") == "open"
    for method, path in (("POST", f"/v1/periods/ae-north/{PERIOD}/lock"),
                         ("POST", f"/v1/periods/ae-north/{PERIOD}/paid"),
                         ("GET", f"/v1/periods/ae-north/{PERIOD}/approvals"),
                         ("GET", f"/v1/payouts/ae-north/{PERIOD}.json"),
                         ("GET", f"/v1/audit/{PERIOD}.zip")):  # the period holds north's pay too
        response = api.request(method, path, headers=south)
        assert response.status_code == 404, (method, path, response.text)
    entry = {"rep_id": "bob", "scope": "ae-north", "period": PERIOD, "amount": "10.00", "currency": "INR",
             "idempotency_key": "south-on-north", "reason": "bonus"}
    assert api.post("/v1/entries", headers=south, json=entry).status_code == 404
    assert rows(engine) == before and state_of(engine, "ae-north") == "open"
    listed = {(p["scope"], p["period"]) for p in api.get("/v1/periods", headers=south).json()}
    assert ("ae-north", PERIOD) not in listed
    via_grpc = stub.ListPeriods(ledger_pb2.ListPeriodsRequest(), metadata=(("authorization", south["Authorization"]),))
    assert ("ae-north", PERIOD) not in {(p.scope, p.period) for p in via_grpc.periods}
    # the admin of every region may; a rep may not (403: not their role)
    assert api.post(f"/v1/periods/ae-north/{PERIOD}/lock", headers=minter.bearer("bob")).status_code == 403
    assert rows(engine) == before
    north = minter.bearer("nora", ["comp_admin"], ["north"])
    assert api.post(f"/v1/periods/ae-north/{PERIOD}/lock", headers=north).json() == {"state": "locked"}
    assert state_of(engine, "ae-north") == "locked"


def _earned_in(engine, period: str) -> str:
    """South's pay in ``period``, a period of the calling test's own: no other test moves its state."""
    apply_snapshots(engine, [
        {"rep_id": rep, "period": period, "plan_id": "ae-south", "plan_version": 1, "currency": "INR",
         "snapshot_version": 1, "total_earned": amount, "trigger_event_ids": [f"evt-{period}"],
         "components": [{"component_id": "commission", "earned_amount": amount}]}
        for rep, amount in (("alice", "1000.00"), ("ada", "500.00"))
    ])
    return period


def test_a_manager_of_another_team_cannot_take_the_manager_step(api, stub, engine, minter):
    """The outside tester's hole: any manager could take a team's manager-approval step."""
    period = _earned_in(engine, "2026-Q2")
    lock_period(engine, "ae-south", period, "prep")
    before = rows(engine)
    mark = minter.bearer("mark", ["manager"])
    refused = api.post(f"/v1/periods/ae-south/{period}/approvals", headers=mark,
                       json={"approve": True, "comment": "ok"})
    assert refused.status_code == 403 and "outside their network" in refused.json()["error"]
    with pytest.raises(grpc.RpcError) as denied:
        stub.Decide(ledger_pb2.DecideRequest(scope="ae-south", period=period, approve=True, comment="ok"),
                    metadata=(("authorization", mark["Authorization"]),))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert rows(engine) == before
    # the skip-level manager of the team may
    sam = api.post(f"/v1/periods/ae-south/{period}/approvals", headers=minter.bearer("sam", ["manager"]),
                   json={"approve": True, "comment": "checked"})
    assert sam.status_code == 200 and sam.json()["next_step"] == "comp_admin"
    # an admin step by an admin of another region is refused too
    north_admin = minter.bearer("nora", ["comp_admin"], ["north"])
    other = api.post(f"/v1/periods/ae-south/{period}/approvals", headers=north_admin,
                     json={"approve": True, "comment": "ok"})
    assert other.status_code == 403


def test_nobody_posts_an_entry_or_resolution_that_pays_themselves(api, engine, org, minter):
    """The outside tester's hole: an admin who is also a participant posted 5,000,000 INR to themselves."""
    ada = minter.bearer("ada", ["comp_admin"], ["*"])
    entry = {"rep_id": "ada", "scope": "ae-open", "period": "2026-Q2", "amount": "5000000.00", "currency": "INR",
             "idempotency_key": "ada-to-ada", "reason": "bonus"}
    before = rows(engine)
    response = api.post("/v1/entries", headers=ada, json=entry)
    assert response.status_code == 403 and "pays themselves" in response.json()["error"]
    assert rows(engine) == before
    raised = api.post("/v1/disputes", headers=minter.bearer("ada"), json={"entry_id": org["ada"], "comment": "more"})
    dispute_id = raised.json()["dispute_id"]
    before = rows(engine)
    resolved = api.post(f"/v1/disputes/{dispute_id}/resolution", headers=ada,
                        json={"comment": "granted", "adjustment": "5000000.00", "scope": "ae-open",
                              "period": "2026-Q2"})
    assert resolved.status_code == 403 and "pays themselves" in resolved.json()["error"]
    assert rows(engine) == before
    # another admin may post for ada
    other = api.post("/v1/entries", headers=minter.bearer("root", ["comp_admin"], ["*"]), json=entry)
    assert other.status_code == 201


def _booked(engine, rep: str, plan: str, period: str, scope_by: str = "plan") -> int:
    """``rep``'s earned entry of ``period`` (100 INR), booked under ``plan``; its id."""
    apply_snapshots(engine, [
        {"rep_id": rep, "period": period, "plan_id": plan, "plan_version": 1, "currency": "INR",
         "snapshot_version": 1, "total_earned": "100.00", "trigger_event_ids": [f"evt-{rep}-{period}"],
         "components": [{"component_id": "commission", "earned_amount": "100.00"}]}], scope_by=scope_by)
    with engine.connect() as connection:
        return int(connection.execute(select(entries.c.entry_id).where(
            entries.c.rep_id == rep, entries.c.period == period, entries.c.kind == "earned")).scalar_one())


def test_admins_of_every_region_or_of_unassigned_act_for_a_rep_the_org_does_not_place(api, engine, minter):
    """Review 9 M2: a rep not in ``participants`` (a new hire before ``attain ledger org``) raised a dispute the
    admins' board listed, but ``GET`` and resolving it answered 404 to every admin, and no admin could post an
    entry for them, though admins of ``*`` lock and pay their periods (region ``unassigned``)."""
    period = "2026-Q4"
    entry_id = _booked(engine, "new-01", "ae-new", period)
    raised = api.post("/v1/disputes", headers=minter.bearer("new-01"), json={"entry_id": entry_id, "comment": "x"})
    assert raised.status_code == 201
    dispute_id = raised.json()["dispute_id"]
    everyone = minter.bearer("root", ["comp_admin"], ["*"])
    unassigned = minter.bearer("una", ["comp_admin"], ["unassigned"])
    south = minter.bearer("sally", ["comp_admin"], ["south"])
    for admin in (everyone, unassigned):
        assert api.get(f"/v1/disputes/{dispute_id}", headers=admin).status_code == 200
        assert [e["entry_id"] for e in api.get("/v1/reps/new-01/entries", headers=admin).json()] == [entry_id]
        assert dispute_id in [d["dispute_id"] for d in api.get("/v1/disputes", headers=admin).json()]  # in SQL
    assert api.get(f"/v1/disputes/{dispute_id}", headers=south).status_code == 404
    assert api.get("/v1/reps/new-01/entries", headers=south).status_code == 404
    assert dispute_id not in [d["dispute_id"] for d in api.get("/v1/disputes", headers=south).json()]
    posted = api.post("/v1/entries", headers=unassigned, json={
        "rep_id": "new-01", "scope": "ae-new", "period": period, "amount": "10.00", "currency": "INR",
        "idempotency_key": "for-new-01", "reason": "joining bonus"})
    assert posted.status_code == 201, posted.text
    typo = api.post("/v1/entries", headers=everyone, json={  # a rep id the ledger has never seen: a typo, refused
        "rep_id": "new-O1", "scope": "ae-new", "period": period, "amount": "10.00", "currency": "INR",
        "idempotency_key": "for-a-typo", "reason": "joining bonus"})
    assert typo.status_code == 404 and "known to the ledger" in typo.text, typo.text
    resolved = api.post(f"/v1/disputes/{dispute_id}/resolution", headers=everyone,
                        json={"comment": "credited", "adjustment": "5.00"})
    assert resolved.status_code == 200 and resolved.json() == {"status": "adjusted"}
    with engine.connect() as connection:  # the access log keeps the real region: none
        logged = connection.execute(select(access_log.c.actor_id, access_log.c.region)
                                    .where(access_log.c.rep_id == "new-01")).all()
    assert sorted(logged) == [("root", None), ("una", None)]


def test_an_entry_or_adjustment_goes_only_into_a_period_the_admin_administers_with_the_rep(api, engine, minter):
    """Review 9 M3: an admin of south posted a south rep's entry into north's open period, which then held a
    south rep: north's admins got 404 on their own period and south's managers could take its manager step."""
    period = "2026-Q4"
    _booked(engine, "bob", "ae-north", period)
    alices = _booked(engine, "alice", "ae-south", period)
    dispute_id = api.post("/v1/disputes", headers=minter.bearer("alice"),
                          json={"entry_id": alices, "comment": "short"}).json()["dispute_id"]
    south, north = minter.bearer("sally", ["comp_admin"], ["south"]), minter.bearer("nora", ["comp_admin"], ["north"])
    before = rows(engine)
    entry = {"rep_id": "alice", "scope": "ae-north", "period": period, "amount": "0.01", "currency": "INR",
             "idempotency_key": "south-into-north", "reason": "x"}
    refused = api.post("/v1/entries", headers=south, json=entry)
    assert refused.status_code == 404, refused.text
    assert refused.json() == {"error": f"no period ae-north/{period} for alice in the regions of sally"}
    adjusted = api.post(f"/v1/disputes/{dispute_id}/resolution", headers=south,
                        json={"comment": "moved", "adjustment": "0.01", "scope": "ae-north", "period": period})
    assert adjusted.status_code == 404, adjusted.text
    assert rows(engine) == before
    # into the rep's own period, or one nobody has booked into yet, as before
    assert api.post("/v1/entries", headers=south, json={**entry, "scope": "ae-south"}).status_code == 201
    assert api.post("/v1/entries", headers=south, json={**entry, "scope": "ae-spiffs", "idempotency_key": "new-scope"}
                    ).status_code == 201
    assert api.post(f"/v1/disputes/{dispute_id}/resolution", headers=south,
                    json={"comment": "credited", "adjustment": "5.00"}).json() == {"status": "adjusted"}
    # north's period is still north's alone
    assert api.post(f"/v1/periods/ae-north/{period}/lock", headers=north).json() == {"state": "locked"}


def test_with_region_scoped_periods_an_entry_goes_only_into_the_reps_region(engine, org, minter, database_url):
    """Review 9 M3: with ``ATTAIN_LEDGER_PERIOD_SCOPE=region`` the scope is the rep's region; even an admin of
    every region may not book a south rep into north's period. (``org`` places alice in south.)"""
    period = "2027-Q1"
    alices = _booked(engine, "alice", "ae-south", period, scope_by="region")
    settings = LedgerSettings(database_url=database_url, rate_limit="", period_scope="region")
    with serving(engine, settings, LedgerGuard(settings, TokenVerifier(minter.settings))) as (api, _):
        dispute_id = api.post("/v1/disputes", headers=minter.bearer("alice"),
                              json={"entry_id": alices, "comment": "short"}).json()["dispute_id"]
        root = minter.bearer("root", ["comp_admin"], ["*"])
        before = rows(engine)
        entry = {"rep_id": "alice", "scope": "north", "period": period, "amount": "1.00", "currency": "INR",
                 "idempotency_key": "south-as-north", "reason": "x"}
        assert api.post("/v1/entries", headers=root, json=entry).status_code == 404
        assert api.post(f"/v1/disputes/{dispute_id}/resolution", headers=root,
                        json={"comment": "x", "adjustment": "1.00", "scope": "north"}).status_code == 404
        assert rows(engine) == before
        assert api.post("/v1/entries", headers=root, json={**entry, "scope": "south"}).status_code == 201
        assert api.post(f"/v1/disputes/{dispute_id}/resolution", headers=root,
                        json={"comment": "credited", "adjustment": "1.00"}).json() == {"status": "adjusted"}


def _access_rows(engine) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(
            select(access_log.c.actor_id, access_log.c.rep_id, access_log.c.action, access_log.c.door)
            .order_by(access_log.c.access_id))]


def test_reads_of_pay_are_in_the_access_log_which_only_admins_read(api, stub, engine, minter):
    before = len(_access_rows(engine))
    assert api.get(f"/v1/reps/alice/statements/{PERIOD}", headers=minter.bearer("mona", ["manager"])).status_code == 200
    stub.ListEntries(ledger_pb2.ListEntriesRequest(rep_id="bob"),
                     metadata=(("authorization", minter.bearer("bob")["Authorization"]),))
    assert api.get("/v1/reps/bob/entries", headers=minter.bearer("alice")).status_code == 404  # refused: no read
    new = _access_rows(engine)[before:]
    assert new == [("mona", "alice", "statement.read", "http"), ("bob", "bob", "entries.read", "grpc")]
    everywhere = api.get("/v1/access-log", headers=minter.bearer("root", ["admin"], ["*"]), params={"limit": 2})
    assert everywhere.status_code == 200
    assert [(r["actor_id"], r["rep_id"], r["resource"]) for r in everywhere.json()] == [
        ("bob", "bob", "ListEntries/bob"), ("mona", "alice", f"/v1/reps/alice/statements/{PERIOD}")]
    assert all("amount" not in row and "1000" not in str(row) for row in everywhere.json())
    north = api.get("/v1/access-log", headers=minter.bearer("nora", ["comp_admin"], ["north"])).json()
    assert north and {row["region"] for row in north} == {"north"}  # a region admin sees their regions' rows
    for who in (minter.bearer("alice"), minter.bearer("mona", ["manager"])):
        assert api.get("/v1/access-log", headers=who).status_code == 403


def _approved(engine, scope: str, period: str) -> None:
    """Lock (if still open) and take every remaining approval step: only an approved period has payouts."""
    from attain.ledger.approvals import Actor
    from services.ledger.period_service import decide, period_view

    view = period_view(engine, scope, period)
    if view is None or str(view.state) == "open":
        lock_period(engine, scope, period, "prep")
    approvers = {"manager": "sam", "comp_admin": "cara", "finance": "fin"}
    while (view := period_view(engine, scope, period)) is not None and view.next_step is not None:
        role = view.next_step
        decide(engine, scope, period, Actor(approvers[role], frozenset({role})), True, "ok")
    assert view is not None and str(view.state) == "approved", view


def test_a_payout_export_logs_every_rep_it_shows(api, engine, minter):
    period = _earned_in(engine, "2026-Q3")
    _approved(engine, "ae-south", period)
    before = len(_access_rows(engine))
    response = api.get(f"/v1/payouts/ae-south/{period}.json", headers=minter.bearer("root", ["admin"], ["*"]))
    assert response.status_code == 200
    logged = _access_rows(engine)[before:]
    assert sorted(rep for _, rep, _, _ in logged) == sorted({line["rep_id"] for line in response.json()})
    assert {action for _, _, action, _ in logged} <= {"payouts.export"}


def test_a_caller_over_the_rate_limit_gets_429_with_retry_after(engine, org, minter, database_url):
    settings = LedgerSettings(database_url=database_url, rate_limit="3/minute")
    with serving(engine, settings, LedgerGuard(settings, TokenVerifier(minter.settings))) as (api, stub):
        alice, bob = minter.bearer("alice"), minter.bearer("bob")
        assert [api.get("/v1/reps/alice/entries", headers=alice).status_code for _ in range(3)] == [200] * 3
        limited = api.get("/v1/reps/alice/entries", headers=alice)
        assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
        assert "rate limit" in limited.json()["error"]
        with pytest.raises(grpc.RpcError) as exhausted:  # one count per credential across both doors
            stub.ListEntries(ledger_pb2.ListEntriesRequest(rep_id="alice"),
                             metadata=(("authorization", alice["Authorization"]),))
        assert exhausted.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert api.get("/v1/reps/bob/entries", headers=bob).status_code == 200  # another credential is unaffected


def test_attain_ledger_token_refuses_an_unknown_role_and_mints_a_verifiable_token(minter, capsys):
    from cli.main import main

    issuer = minter.issuer
    base = ["ledger", "token", "someone", "--issuer-dir", str(issuer.data_dir), "--issuer", issuer.url]
    with pytest.raises(SystemExit) as stopped:
        main([*base, "--role", "wizard"])
    assert stopped.value.code == 2
    assert "unknown role 'wizard'" in capsys.readouterr().out
    with pytest.raises(SystemExit) as stopped:
        main([*base, "--role", "comp_admin", "--region", "south"])
    assert stopped.value.code == 0
    identity = TokenVerifier(minter.settings).verify(capsys.readouterr().out.strip())
    assert (identity.subject, identity.roles, identity.regions) == ("someone", {"comp_admin"}, {"south"})
