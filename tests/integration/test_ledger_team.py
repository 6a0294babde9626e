"""The ledger's reads of a caller's own reach (the portal's manager pages): ``GET /v1/team``,
``GET /v1/approvals/waiting``, ``GET /v1/disputes`` and the ``portal`` door of ``POST /v1/reps/{rep}/access``,
over real PostgreSQL with tokens of the session's issuer. Each answer is the one policy's, never wider."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from attain.ledger.access import Principal, RepFacts, can_read_rep
from attain.platform.identity import TokenVerifier
from services.ledger.auth import LedgerGuard
from services.ledger.config import LedgerSettings
from services.ledger.db import apply_snapshots
from services.ledger.disputes import raise_dispute, resolve_dispute
from services.ledger.period_service import lock_period
from services.ledger.queries import every_rep_facts
from services.ledger.schema import access_log, disputes, entries, participants
from services.ledger.team import disputes_in_reach, waiting_for
from tests.integration.ledger_api_support import serving_api, statements


@pytest.fixture(scope="module")
def org(engine) -> None:
    """sam manages mona manages alice and ada (south); mark manages bob (north)."""
    with engine.begin() as connection:
        connection.execute(insert(participants), [
            {"rep_id": "alice", "region": "south", "manager_id": "mona"},
            {"rep_id": "ada", "region": "south", "manager_id": "mona"},
            {"rep_id": "mona", "region": "south", "manager_id": "sam"},
            {"rep_id": "sam", "region": "south", "manager_id": None},
            {"rep_id": "bob", "region": "north", "manager_id": "mark"},
        ])


@pytest.fixture(scope="module")
def api(engine, org, minter, database_url) -> Iterator[httpx.Client]:
    settings = LedgerSettings(database_url=database_url, rate_limit="")
    with serving_api(engine, settings, LedgerGuard(settings, TokenVerifier(minter.settings))) as url, \
            httpx.Client(base_url=url, timeout=30) as client:
        yield client


def earned(engine, period: str, reps: dict[str, str], plan: str = "ae-south") -> dict[str, int]:
    """Book ``reps`` (rep -> amount) into ``period``; their entry ids."""
    apply_snapshots(engine, [
        {"rep_id": rep, "period": period, "plan_id": plan, "plan_version": 1, "currency": "INR",
         "snapshot_version": 1, "total_earned": amount, "trigger_event_ids": [f"evt-{rep}-{period}"],
         "components": [{"component_id": "commission", "earned_amount": amount}]}
        for rep, amount in reps.items()])
    with engine.connect() as connection:
        return dict(connection.execute(select(entries.c.rep_id, entries.c.entry_id)
                                       .where(entries.c.period == period)).all())


def ids(rows: list[dict]) -> list[str]:
    return [row["rep_id"] for row in rows]


def test_the_team_is_the_callers_reach_and_each_listed_rep_is_in_the_access_log(api, engine, minter):
    mona = api.get("/v1/team", headers=minter.bearer("mona", ["manager"]))
    assert mona.status_code == 200 and ids(mona.json()) == ["ada", "alice"]  # not bob, not herself
    assert mona.json()[1] == {"rep_id": "alice", "region": "south", "manager_id": "mona", "managers": ["mona", "sam"]}
    assert ids(api.get("/v1/team", headers=minter.bearer("sam", ["manager"])).json()) == ["ada", "alice", "mona"]
    assert ids(api.get("/v1/team", headers=minter.bearer("mark", ["manager"])).json()) == ["bob"]
    assert api.get("/v1/team", headers=minter.bearer("alice")).json() == []  # a rep sees only themselves
    assert ids(api.get("/v1/team", headers=minter.bearer("nora", ["comp_admin"], ["north"])).json()) == ["bob"]
    assert api.get("/v1/team").status_code == 401
    with engine.connect() as connection:
        logged = connection.execute(select(access_log.c.rep_id, access_log.c.action, access_log.c.door)
                                    .where(access_log.c.actor_id == "mona", access_log.c.action == "team.read")).all()
    assert sorted(logged) == [("ada", "team.read", "http"), ("alice", "team.read", "http")]


def test_approvals_waiting_are_the_steps_the_caller_may_take_and_say_what_still_blocks(api, engine, minter):
    period = "2026-Q2"
    earned(engine, period, {"alice": "1000.00", "mona": "300.00"})  # mona is paid by this payout
    lock_period(engine, "ae-south", period, "prep")
    mona = api.get("/v1/approvals/waiting", headers=minter.bearer("mona", ["manager"])).json()
    assert [(w["scope"], w["period"], w["step"], w["reps"]) for w in mona] == [("ae-south", period, "manager", 2)]
    assert "mona is paid by this payout" in mona[0]["blocked"]
    sam = minter.bearer("sam", ["manager"])
    waiting = api.get("/v1/approvals/waiting", headers=sam).json()
    assert [(w["step"], w["blocked"], w["prepared_by"]) for w in waiting] == [("manager", None, "prep")]
    assert api.get("/v1/approvals/waiting", headers=minter.bearer("mark", ["manager"])).json() == []
    assert api.get("/v1/approvals/waiting", headers=minter.bearer("alice")).json() == []
    admin = minter.bearer("carla", ["comp_admin"], ["south"])
    assert api.get("/v1/approvals/waiting", headers=admin).json() == []  # the manager step comes first

    decided = api.post(f"/v1/periods/ae-south/{period}/approvals", headers=sam,
                       json={"approve": True, "comment": "numbers checked"})
    assert decided.status_code == 200 and decided.json()["next_step"] == "comp_admin"
    assert api.get("/v1/approvals/waiting", headers=sam).json() == []
    after = api.get("/v1/approvals/waiting", headers=admin).json()
    assert [(w["step"], w["decisions"]) for w in after] == [
        ("comp_admin", [{"step": "manager", "actor_id": "sam", "approved": True}])]
    assert api.get("/v1/approvals/waiting", headers=minter.bearer("nora", ["comp_admin"], ["north"])).json() == []


def test_disputes_are_those_of_the_reps_in_reach_filtered_by_status(api, engine, minter):
    booked = earned(engine, "2026-Q3", {"alice": "100.00", "bob": "200.00"}, plan="ae-mixed")
    alices = raise_dispute(engine, booked["alice"], "alice", "the Acme deal is missing")
    bobs = raise_dispute(engine, booked["bob"], "bob", "wrong rate")
    mona = minter.bearer("mona", ["manager"])
    found = api.get("/v1/disputes", headers=mona).json()
    assert [(d["dispute_id"], d["rep_id"], d["status"], d["period"], d["comment"]) for d in found] == [
        (alices, "alice", "open", "2026-Q3", "the Acme deal is missing")]
    assert [d["dispute_id"] for d in api.get("/v1/disputes", headers=minter.bearer("mark", ["manager"])).json()] \
        == [bobs]
    assert [d["dispute_id"] for d in api.get("/v1/disputes", headers=minter.bearer("bob")).json()] == [bobs]
    everyone = api.get("/v1/disputes", headers=minter.bearer("carla", ["comp_admin"], ["*"])).json()
    assert [d["dispute_id"] for d in everyone if d["period"] == "2026-Q3"] == [bobs, alices]  # newest first

    resolve_dispute(engine, alices, "carla", "the deal closed next quarter", adjustment=None)
    assert api.get("/v1/disputes", params={"status": "open"}, headers=mona).json() == []
    assert [d["dispute_id"] for d in api.get("/v1/disputes", params={"status": "rejected"}, headers=mona).json()] \
        == [alices]
    refused = api.get("/v1/disputes", params={"status": "lost"}, headers=mona)
    assert refused.status_code == 422 and "status" in refused.json()["error"]


def test_reach_reads_filter_and_limit_in_the_database_as_the_policy_does(api, engine, minter):
    """``GET /v1/disputes`` filters by the policy in SQL and limits there; a rep's call reads their own disputes in
    one statement (not every dispute and the whole org), and their ``/v1/approvals/waiting`` reads nothing (no
    step is theirs). Before, both loaded everything first and filtered in Python."""
    with engine.begin() as connection:  # a team of its own (east), so the other tests' answers stay theirs
        connection.execute(insert(participants), [
            {"rep_id": "tess", "region": "east", "manager_id": None},
            {"rep_id": "tara", "region": "east", "manager_id": "tess"},
            {"rep_id": "tim", "region": "east", "manager_id": "tara"}])
    booked = earned(engine, "2026-Q4", {"tara": "10.00", "tim": "20.00", "zed": "5.00"}, plan="ae-reach")
    for rep in ("zed", "tara", "tim"):  # zed is in no org: zed and admins of * or of unassigned read zed's
        raise_dispute(engine, booked[rep], rep, "please check")
    with engine.connect() as connection:
        every = [tuple(row) for row in connection.execute(select(disputes.c.dispute_id, disputes.c.rep_id)
                                                          .order_by(disputes.c.dispute_id.desc()))]
    org = every_rep_facts(engine)
    callers = [Principal("tess", frozenset({"manager"}), frozenset()), Principal("tara", frozenset({"manager"}),
               frozenset()), Principal("mona", frozenset({"manager"}), frozenset()),
               Principal("tim", frozenset({"rep"}), frozenset()), Principal("zed", frozenset({"rep"}), frozenset()),
               Principal("eve", frozenset({"comp_admin"}), frozenset({"east"})),
               Principal("una", frozenset({"comp_admin"}), frozenset({"unassigned"})),  # zed's admin (review 9 M2)
               Principal("fin", frozenset({"finance"}), frozenset({"*"}))]
    for who in callers:
        policy = [dispute for dispute, rep in every if can_read_rep(who, org.get(rep) or RepFacts(rep, None, None))]
        assert [d["dispute_id"] for d in disputes_in_reach(engine, who, limit=1000)] == policy, who.user_id
    zeds = next(dispute for dispute, rep in every if rep == "zed")
    assert zeds in [d["dispute_id"] for d in disputes_in_reach(engine, callers[-2])]  # una's

    newest = api.get("/v1/disputes", params={"limit": 1}, headers=minter.bearer("eve", ["comp_admin"], ["east"]))
    assert [d["rep_id"] for d in newest.json()] == ["tim"]  # the limit applies to what the caller may see
    rep = Principal("tim", frozenset({"rep"}), frozenset())
    with statements(engine) as ran:
        assert {d["rep_id"] for d in disputes_in_reach(engine, rep)} == {"tim"}
    assert len(ran) == 1
    with statements(engine) as ran:
        assert waiting_for(engine, rep, ("manager", "comp_admin", "finance")) == []
    assert ran == []


def test_a_stream_read_at_the_portal_is_logged_with_its_own_door(api, engine, minter):
    mona = minter.bearer("mona", ["manager"])
    opened = api.post("/v1/reps/alice/access", headers=mona, json={"what": "stream.open", "door": "portal"})
    assert opened.status_code == 201
    assert api.post("/v1/reps/bob/access", headers=mona,
                    json={"what": "stream.open", "door": "portal"}).status_code == 404
    assert api.post("/v1/reps/alice/access", headers=mona,
                    json={"what": "stream.open", "door": "mail"}).status_code == 422
    with engine.connect() as connection:
        doors = connection.execute(select(access_log.c.door).where(access_log.c.actor_id == "mona",
                                                                   access_log.c.action == "stream.open")).all()
    assert [row.door for row in doors] == ["portal"]
