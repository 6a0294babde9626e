"""Every door of the running pipeline, tried as an outsider would: no token, a forged or wrong token,
someone else's token. Each must refuse, and refusing must reveal nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import httpx
import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.dialects.postgresql import insert

from attain.embedded.stack import Stack
from services.ledger.db import make_engine
from services.ledger.queries import access_rows
from services.ledger.schema import participants
from services.notifier.proto import notifier_pb2, notifier_pb2_grpc
from tests.e2e.conftest import PLANS, run_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, pipeline_kafka_bootstrap: str,
          database_url: str) -> Iterator[Stack]:
    for pipeline in run_stack(tmp_path_factory.mktemp("stack-doors-auth"), pipeline_kafka_bootstrap, database_url):
        try:
            _load_org(database_url)  # the org in the ledger too (`attain ledger org`): it records stream reads
        except Exception:
            pipeline.stop()
            raise
        yield pipeline


def _load_org(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(insert(participants).on_conflict_do_nothing(), [
            {"rep_id": p["id"], "region": p["region"], "manager_id": p.get("manager")}
            for p in yaml.safe_load(PLANS.read_text())["participants"]])
    engine.dispose()


def _subscribe(stack: Stack, rep_id: str, token: str | None) -> grpc.StatusCode:
    """The status a Subscribe call ends with (OK when the first update arrives or the stream stays open)."""
    metadata = (("authorization", f"Bearer {token}"),) if token is not None else ()
    with grpc.insecure_channel(stack.notifier_target) as channel:
        stub = notifier_pb2_grpc.NotifierStub(channel)
        try:
            for _ in stub.Subscribe(notifier_pb2.SubscribeRequest(rep_id=rep_id), metadata=metadata, timeout=3):
                return grpc.StatusCode.OK
        except grpc.RpcError as error:
            return error.code()
    return grpc.StatusCode.OK


def _stranger_token(stack: Stack, subject: str) -> str:
    now = int(time.time())
    assert stack.issuer is not None
    return jwt.encode({"iss": stack.issuer.url, "sub": subject, "aud": "attain", "iat": now, "exp": now + 600,
                       "roles": ["admin"], "regions": ["*"]},
                      ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": "stranger"})


def test_the_notifier_refuses_callers_without_valid_credentials(stack):
    assert stack.issuer is not None
    expired = stack.issuer.mint("t01", roles=["rep"], exp=int(time.time()) - 600, iat=int(time.time()) - 1200)
    wrong_audience = stack.issuer.mint("t01", roles=["rep"], aud="someone-else")
    unsigned = jwt.encode({"sub": "t01", "aud": "attain", "iat": int(time.time()), "exp": int(time.time()) + 600,
                           "iss": stack.issuer.url, "roles": ["rep"]}, None, algorithm="none")
    for token in (None, "garbage", expired, wrong_audience, unsigned, _stranger_token(stack, "t01")):
        assert _subscribe(stack, "t01", token) == grpc.StatusCode.UNAUTHENTICATED, token


def test_a_rep_watches_only_their_own_pay_and_cannot_tell_who_exists(stack):
    assert stack.issuer is not None
    rep = stack.issuer.mint("t02", roles=["rep"])
    assert _subscribe(stack, "t02", rep) in (grpc.StatusCode.OK, grpc.StatusCode.DEADLINE_EXCEEDED)
    assert _subscribe(stack, "t03", rep) == grpc.StatusCode.PERMISSION_DENIED
    assert _subscribe(stack, "no-such-rep", rep) == grpc.StatusCode.PERMISSION_DENIED


def test_a_manager_watches_their_network_and_an_admin_their_regions(stack):
    assert stack.issuer is not None
    outsider_manager = stack.issuer.mint("t05", roles=["manager"])  # manages nobody in the test org
    assert _subscribe(stack, "t01", outsider_manager) == grpc.StatusCode.PERMISSION_DENIED
    south_admin = stack.issuer.mint("admin-south", roles=["comp_admin"], regions=["IN-South"])
    assert _subscribe(stack, "t01", south_admin) in (grpc.StatusCode.OK, grpc.StatusCode.DEADLINE_EXCEEDED)
    assert _subscribe(stack, "t02", south_admin) == grpc.StatusCode.PERMISSION_DENIED  # t02 is IN-East


def _stream_reads(stack: Stack, actor: str, rep: str) -> list[dict[str, object]]:
    engine = make_engine(stack.database_url or "")
    try:
        return [row for row in access_rows(engine, None, rep, actor, 1000) if row["action"] == "stream.open"]
    finally:
        engine.dispose()


def test_every_admitted_stream_is_in_the_ledgers_access_log_and_refused_ones_are_not(stack):
    assert stack.issuer is not None
    rep = stack.issuer.mint("t07", roles=["rep"])
    before = len(_stream_reads(stack, "t07", "t07"))
    assert _subscribe(stack, "t07", rep) in (grpc.StatusCode.OK, grpc.StatusCode.DEADLINE_EXCEEDED)
    reads = _stream_reads(stack, "t07", "t07")
    assert len(reads) == before + 1
    assert {key: reads[0][key] for key in ("actor_id", "rep_id", "region", "action", "door")} == {
        "actor_id": "t07", "rep_id": "t07", "region": "IN-East", "action": "stream.open", "door": "notifier"}

    assert _subscribe(stack, "t08", rep) == grpc.StatusCode.PERMISSION_DENIED
    assert _subscribe(stack, "t07", None) == grpc.StatusCode.UNAUTHENTICATED
    assert _stream_reads(stack, "t07", "t08") == [] and len(_stream_reads(stack, "t07", "t07")) == before + 1

    ledger = f"http://127.0.0.1:{stack.services['ledger'].port}"
    east = {"Authorization": f"Bearer {stack.issuer.mint('admin-east', roles=['comp_admin'], regions=['IN-East'])}"}
    seen = httpx.get(f"{ledger}/v1/access-log", params={"rep_id": "t07", "actor_id": "t07"}, headers=east, timeout=10)
    assert seen.status_code == 200, seen.text
    assert [row["access_id"] for row in seen.json() if row["action"] == "stream.open"] == [
        row["access_id"] for row in reads]
    south = {"Authorization": f"Bearer {stack.issuer.mint('admin-s', roles=['comp_admin'], regions=['IN-South'])}"}
    assert httpx.get(f"{ledger}/v1/access-log", params={"rep_id": "t07"}, headers=south, timeout=10).json() == []


def test_the_ledger_records_a_read_only_for_a_caller_who_may_make_it(stack):
    assert stack.issuer is not None
    ledger = f"http://127.0.0.1:{stack.services['ledger'].port}"
    rep = {"Authorization": f"Bearer {stack.issuer.mint('t09', roles=['rep'])}"}
    body = {"what": "stream.open"}
    before = len(_stream_reads(stack, "t09", "t09"))
    assert httpx.post(f"{ledger}/v1/reps/t10/access", json=body, headers=rep, timeout=10).status_code == 404
    assert httpx.post(f"{ledger}/v1/reps/t09/access", json=body, timeout=10).status_code == 401
    assert httpx.post(f"{ledger}/v1/reps/t09/access", json={"what": "statement.read"}, headers=rep,
                      timeout=10).status_code == 422  # only what another door reads; the ledger logs its own
    assert _stream_reads(stack, "t09", "t10") == [] and len(_stream_reads(stack, "t09", "t09")) == before
    assert httpx.post(f"{ledger}/v1/reps/t09/access", json=body, headers=rep, timeout=10).status_code == 201
    assert len(_stream_reads(stack, "t09", "t09")) == before + 1


def test_no_pay_is_streamed_while_the_ledger_cannot_log_the_read(stack):
    assert stack.issuer is not None
    rep = stack.issuer.mint("t11", roles=["rep"])
    stack.kill_service("ledger")
    try:
        metadata = (("authorization", f"Bearer {rep}"),)
        with grpc.insecure_channel(stack.notifier_target) as channel:
            stub = notifier_pb2_grpc.NotifierStub(channel)
            with pytest.raises(grpc.RpcError) as refused:
                next(iter(stub.Subscribe(notifier_pb2.SubscribeRequest(rep_id="t11"), metadata=metadata,
                                         timeout=10)))
    finally:  # the module's other tests need the ledger, whatever order they run in
        stack.start_service("ledger")
        stack.wait_ready(names=("ledger",))
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "cannot be logged" in (refused.value.details() or "") and "unreachable" in (refused.value.details() or "")
