"""Strict input on the ledger's HTTP API, on a real PostgreSQL: declared models refuse what the
outside tester sent (a string boolean, junk scopes and periods, out-of-range ids and amounts) with a
reason and a fitting status, the committed OpenAPI document is the generated one, and schemathesis,
fuzzing every operation of that document with valid tokens, gets no 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from attain.embedded.ports import free_port
from attain.platform.identity import TokenVerifier
from services.ledger.api import add_api_routes, openapi_document
from services.ledger.auth import LedgerGuard
from services.ledger.config import LedgerSettings
from services.ledger.db import apply_snapshots
from services.ledger.openapi import generated_document
from services.ledger.schema import approval_decisions, entries, participants, periods
from tests.integration.ledger_api_support import serving_api

MINTER = None  # the session's embedded issuer (tests/conftest.py), set by _tokens
COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi" / "ledger.json"


@pytest.fixture(scope="module", autouse=True)
def _tokens(minter):
    global MINTER
    MINTER = minter


@contextmanager
def serving(engine, database_url: str) -> Iterator[str]:
    """The ledger's API routes on a free port in a thread of their own; yields the base URL."""
    settings = LedgerSettings(database_url=database_url, rate_limit="")  # the fuzzing sends hundreds
    with serving_api(engine, settings, LedgerGuard(settings, TokenVerifier(MINTER.settings))) as url:
        yield url


@pytest.fixture(scope="module")
def seeded(engine):
    with engine.begin() as connection:
        connection.execute(insert(participants), [
            {"rep_id": "alice", "region": "south", "manager_id": "mona"},
            {"rep_id": "bob", "region": "north", "manager_id": "mark"},
        ])
    apply_snapshots(engine, [
        {"rep_id": rep, "period": period, "plan_id": "ae", "plan_version": 1, "currency": "INR",
         "snapshot_version": 1, "total_earned": "1000.00", "trigger_event_ids": ["evt-1"],
         "components": [{"component_id": "commission", "earned_amount": "1000.00"}]}
        for rep in ("alice", "bob") for period in ("2026-Q1", "2026-Q2")
    ])
    return engine


@pytest.fixture(scope="module")
def base_url(seeded, database_url) -> Iterator[str]:
    with serving(seeded, database_url) as url:
        yield url


@pytest.fixture(scope="module")
def api(base_url) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        yield client


def as_user(user, roles=("rep",), regions=()):
    return MINTER.bearer(user, roles, regions)


ADMIN = ("ada", ["comp_admin", "admin", "finance", "manager"], ["*"])


def period_rows(engine) -> list[tuple[str, str, str]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(
            select(periods.c.scope, periods.c.period, periods.c.state).order_by(periods.c.scope, periods.c.period))]


def count(engine, table) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_string_false_does_not_approve_and_the_period_stays_locked(api, seeded):
    admin = as_user("prep", ["comp_admin"], ["*"])
    assert api.post("/v1/periods/ae/2026-Q2/lock", headers=admin).json() == {"state": "locked"}
    before, decisions = period_rows(seeded), count(seeded, approval_decisions)
    for approve in ("false", "true", 0, 1, None, [], {}):
        response = api.post("/v1/periods/ae/2026-Q2/approvals", headers=as_user("mona", ["manager"], ["*"]),
                            json={"approve": approve, "comment": "looks fine"})
        assert response.status_code == 422, (approve, response.text)
        assert "approve" in response.json()["error"]
    missing = api.post("/v1/periods/ae/2026-Q2/approvals", headers=as_user("mona", ["manager"], ["*"]),
                       json={"comment": "no decision"})
    assert missing.status_code == 422
    assert period_rows(seeded) == before and ("ae", "2026-Q2", "locked") in before
    assert count(seeded, approval_decisions) == decisions
    real = api.post("/v1/periods/ae/2026-Q2/approvals", headers=as_user("mona", ["manager"], ["*"]),
                    json={"approve": True, "comment": "checked"})
    assert real.status_code == 200 and real.json()["next_step"] == "comp_admin"


@pytest.mark.parametrize(("scope", "period"), [
    ("ae", "2026-Q5"), ("ae", "2026-13"), ("ae", "26-Q1"), ("ae", "2026-q1"), ("ae", "not-a-period"),
    ("%20junk", "2026-Q1"), ("-ae", "2026-Q1"), ("a" * 129, "2026-Q1"), ("ae%00", "2026-Q1"),
])
def test_junk_scope_or_period_is_refused_by_lock_and_creates_no_row(api, seeded, scope, period):
    before = period_rows(seeded)
    response = api.post(f"/v1/periods/{scope}/{period}/lock", headers=as_user(*ADMIN))
    assert response.status_code == 422, response.text
    assert response.json()["error"].startswith("invalid path.")
    assert period_rows(seeded) == before


def test_a_huge_or_negative_dispute_id_is_refused_not_a_server_error(api):
    admin = as_user(*ADMIN)
    for dispute_id in (2**63, 10**30, -1, 0):
        assert api.get(f"/v1/disputes/{dispute_id}", headers=admin).status_code == 422
        resolved = api.post(f"/v1/disputes/{dispute_id}/resolution", headers=admin, json={"comment": "no"})
        assert resolved.status_code == 422
    assert api.post("/v1/disputes", headers=as_user("alice"), json={"entry_id": 10**30, "comment": "x"}
                    ).status_code == 422
    unknown = api.get(f"/v1/disputes/{2**63 - 1}", headers=admin)
    assert unknown.status_code == 404 and unknown.json() == {"error": f"no dispute {2**63 - 1} in the reach of ada"}


def test_a_1e30_manual_entry_is_refused_and_nothing_is_posted(api, seeded):
    entry = {"rep_id": "alice", "scope": "ae", "period": "2026-Q1", "currency": "INR",
             "idempotency_key": "big-1", "reason": "bonus"}
    before = count(seeded, entries)
    for amount in (1e30, "1e30", "1" + "0" * 30, 100, "NaN", "Infinity", "12.5.0", True):
        response = api.post("/v1/entries", headers=as_user(*ADMIN), json={**entry, "amount": amount})
        assert response.status_code == 422, (amount, response.text)
        assert "amount" in response.json()["error"]
    raw = api.post("/v1/entries", headers={**as_user(*ADMIN), "Content-Type": "application/json"},
                   content=b'{"rep_id": "alice", "scope": "ae", "period": "2026-Q1", "currency": "INR", '
                           b'"idempotency_key": "big-2", "reason": "bonus", "amount": 1e30}')
    assert raw.status_code == 422
    assert count(seeded, entries) == before
    posted = api.post("/v1/entries", headers=as_user(*ADMIN), json={**entry, "amount": "150.25"})
    assert posted.status_code == 201 and count(seeded, entries) == before + 1
    too_fine = api.post("/v1/entries", headers=as_user(*ADMIN),
                        json={**entry, "idempotency_key": "fine", "amount": "1.005"})
    assert too_fine.status_code == 422 and "decimals" in too_fine.json()["error"]


def test_a_reused_key_with_another_amount_is_a_409_naming_the_key_and_books_one_row(api, seeded):
    entry = {"rep_id": "alice", "scope": "ae", "period": "2026-Q1", "currency": "INR", "amount": "75.00",
             "idempotency_key": "reuse-409", "reason": "spiff"}

    def booked():
        with seeded.connect() as connection:
            return connection.execute(select(entries.c.entry_id, entries.c.amount, entries.c.input_hash)
                                      .where(entries.c.idempotency_key == "manual:reuse-409")).all()

    first = api.post("/v1/entries", headers=as_user(*ADMIN), json=entry)
    assert first.status_code == 201, first.text
    retry = api.post("/v1/entries", headers=as_user(*ADMIN), json={**entry, "amount": "75.0"})
    assert retry.status_code == 201 and retry.json() == first.json()  # the same amount written another way
    changed = api.post("/v1/entries", headers=as_user(*ADMIN), json={**entry, "amount": "76.00"})
    assert changed.status_code == 409, changed.text
    assert "manual:reuse-409" in changed.json()["error"]
    [(entry_id, amount, input_hash)] = booked()
    assert (entry_id, amount) == (first.json()["entry_id"], Decimal("75.00")) and len(input_hash) == 64
    served = api.get("/v1/reps/alice/entries", headers=as_user(*ADMIN)).json()
    assert entry_id in [e["entry_id"] for e in served] and not any("input_hash" in e for e in served)


def test_refusals_carry_a_reason_and_a_fitting_status(api):
    admin = as_user(*ADMIN)
    assert api.get("/v1/periods").json()["error"].startswith("send Authorization")
    assert api.get("/v1/periods").headers["WWW-Authenticate"] == "Bearer"
    assert api.get("/v1/periods", headers=as_user("alice")).status_code == 403
    not_json = api.post("/v1/entries", headers={**admin, "Content-Type": "application/json"}, content=b"{nope")
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["error"]
    unknown_field = api.post("/v1/disputes", headers=as_user("alice"),
                             json={"entry_id": 1, "comment": "x", "admin": True})
    assert unknown_field.status_code == 422
    huge = api.post("/v1/entries", headers={**admin, "Content-Type": "application/json"},
                    content=b'{"reason": "' + b"x" * (2 * 1024 * 1024) + b'"}')
    assert huge.status_code == 413 and "error" in huge.json()
    assert api.get("/v1/payouts/ae/2026-Q1.pdf", headers=admin).status_code == 422
    assert api.get("/v1/nothing-here", headers=admin).json() == {"error": "no such route"}
    wrong_method = api.get("/v1/periods/ae/2026-Q1/lock", headers=admin)
    assert wrong_method.status_code == 405 and wrong_method.headers["Allow"] == "POST"
    assert "POST" in wrong_method.json()["error"]


def test_the_database_being_down_is_a_503_with_a_reason(seeded, database_url):
    from services.ledger.db import make_engine

    unreachable = make_engine(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/attain")
    try:
        with serving(unreachable, database_url) as url:
            response = httpx.get(f"{url}/v1/periods", headers=as_user(*ADMIN), timeout=30)
    finally:
        unreachable.dispose()
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert response.json() == {"error": "the ledger database is unreachable; retry later"}


def test_a_value_the_database_refuses_is_a_422_whose_reason_has_no_sql(seeded):
    from sqlalchemy import exc, text

    from services.ledger.api import reason_of, status_of

    with pytest.raises(exc.DataError) as refused, seeded.connect() as connection:
        connection.execute(text("SELECT 1 / :zero"), {"zero": 0})
    assert status_of(refused.value) == 422
    assert reason_of(refused.value, 422) == "the database refused this: division by zero"


def test_the_committed_openapi_document_is_the_generated_one(api):
    from openapi_spec_validator import validate

    committed = json.loads(COMMITTED.read_text())
    assert committed == generated_document(), "run `make openapi` and commit docs/openapi/ledger.json"
    validate(committed)  # raises on a document that is not valid OpenAPI 3.1
    assert committed["openapi"] == "3.1.0"
    served = api.get("/openapi.json").json()
    assert served == committed
    decision = committed["components"]["schemas"]["Decision"]
    assert decision["properties"]["approve"]["type"] == "boolean" and decision["additionalProperties"] is False
    adjustment = committed["components"]["schemas"]["Resolution"]["properties"]["adjustment"]["anyOf"]
    assert {"type": "null"} in adjustment and any(part.get("pattern") for part in adjustment)  # optional, still bounded
    assert set(committed["paths"]) >= {"/v1/entries", "/v1/disputes/{dispute_id}", "/v1/periods/{scope}/{period}/lock"}


def test_openapi_document_of_an_app_lists_only_its_api_routes(seeded, database_url):
    app = web.Application()
    add_api_routes(app, seeded, LedgerSettings(database_url=database_url),
                   LedgerGuard(LedgerSettings(), TokenVerifier(MINTER.settings)))
    assert "/openapi.json" not in openapi_document(app)["paths"]


# Fuzzing: every operation of the document, bodies and paths, with tokens that pass authentication.
# The document is built from the route table alone (no database), so it loads at collection.
fuzzed = schemathesis.openapi.from_dict(generated_document())


def token_for(case) -> dict[str, str]:
    """A rep raises disputes on their own entries, an approver who locked nothing decides; the rest is an admin's."""
    method, path = case.operation.method.upper(), case.operation.path
    if method == "POST" and path == "/v1/disputes":
        return as_user("alice")
    if method == "POST" and path.endswith("/approvals"):
        return as_user("mona", ["manager", "comp_admin", "finance"], ["*"])
    return as_user(*ADMIN)


@fuzzed.parametrize()
@settings(max_examples=20, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_generated_input_gets_a_server_error(case, base_url):
    from schemathesis.checks import not_a_server_error

    response = case.call(base_url=base_url, headers=token_for(case), timeout=30)
    case.validate_response(response, checks=[not_a_server_error])
    assert response.status_code < 500, response.text
