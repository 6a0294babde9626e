"""Every door of the running pipeline, tried as an outsider would: no token, a forged or wrong token,
someone else's token. Each must refuse, and refusing must reveal nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from attain.embedded.stack import Stack
from services.notifier.proto import notifier_pb2, notifier_pb2_grpc
from tests.e2e.conftest import run_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, pipeline_kafka_bootstrap: str,
          database_url: str) -> Iterator[Stack]:
    yield from run_stack(tmp_path_factory.mktemp("stack-doors-auth"), pipeline_kafka_bootstrap, database_url)


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
