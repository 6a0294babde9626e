"""`attain run`'s stack under its supervisor: a service killed with SIGKILL comes back by itself and the
pipeline books what is posted after; every service (and the supervisor) writes JSON log lines only."""

from __future__ import annotations

import json
import signal
import stat
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest

from attain.embedded.stack import SERVICES, Stack, _is_ready
from attain.platform.settings import MIN_SECRET_BYTES
from tests.e2e.conftest import PLANS, post, totals_for, wait_until
from tests.polling import budget


@pytest.fixture(scope="module")
def supervised(tmp_path_factory, pipeline_kafka_bootstrap, database_url) -> Iterator[tuple[Stack, list[str]]]:
    shown: list[str] = []
    run = uuid.uuid4().hex[:8]
    stack = Stack(workdir=tmp_path_factory.mktemp("supervised"), plans_file=PLANS,
                  kafka_bootstrap=pipeline_kafka_bootstrap, database_url=database_url,
                  supervise=True, notify=shown.append,
                  extra_env={"ATTAIN_CALCULATOR_APP_ID": f"attain-calculator-{run}",
                             "ATTAIN_LEDGER_GROUP_ID": f"attain-ledger-{run}",
                             "ATTAIN_NOTIFIER_GROUP_ID": f"attain-notifier-{run}"})
    stack.start(timeout=budget(120))
    yield stack, shown
    stack.stop()


def won_deal(record_id: str, rep_id: str, amount: str) -> dict:
    return {"event_id": f"{record_id}-won", "record_id": record_id, "object_type": "Opportunity",
            "change_type": "CREATE", "commit_timestamp": "2026-02-10T09:00:00Z",
            "fields": {"owner_id": rep_id, "amount": amount, "is_won": True, "close_date": "2026-02-10",
                       "currency": "INR"}}


@pytest.mark.parametrize(("name", "rep"), [("ingest", "t01"), ("ledger", "t02")])
def test_a_service_killed_with_sigkill_is_restarted_with_backoff_and_the_restart_is_shown(supervised, name, rep):
    stack, shown = supervised
    service = stack.services[name]
    assert stack.supervisor is not None
    before, restarts = service.process.pid, stack.supervisor.restarts[name]
    service.process.send_signal(signal.SIGKILL)
    wait_until(lambda: stack.supervisor.restarts[name] == restarts + 1, 30, f"{name} to be restarted", 0.1)
    assert service.process.pid != before
    wait_until(lambda: _is_ready(service.health_url), 90, f"{name} ready again", 0.2)
    assert any(f"{name} exited" in line and "exit code -9" in line for line in shown), shown
    assert any(f"{name} restarted" in line for line in shown), shown
    logged = [json.loads(line) for line in (stack.workdir / "supervisor.log").read_text().splitlines()]
    exits = [e for e in logged if e["service_name"] == name and e["message"].startswith(f"{name} exited")]
    assert exits and exits[-1]["exit_code"] == -9 and exits[-1]["restart_in_seconds"] > 0
    # and the pipeline works through the restarted service
    (response,) = post(stack, [won_deal(f"006SV{name.upper()}", rep, "240000.10")])
    assert response.status_code == 202, response.text
    wait_until(lambda: totals_for(stack, {rep}) == {(rep, "2026-Q1"): Decimal("12000.01")}, 90,
               f"the ledger entry for {rep}")


def test_every_service_logs_json_lines_only(supervised):
    stack, _ = supervised
    post(stack, [won_deal("006SVJSON", "t03", "1000.00"), {"not": "an event"}])  # some warnings too
    wait_until(lambda: totals_for(stack, {"t03"}), 90, "the ledger entry for t03")
    logs = [stack.workdir / f"{name}.log" for name in SERVICES]
    logs += [stack.workdir / "supervisor.log", stack.workdir / "issuer" / "issuer.log"]
    for log in logs:
        lines = [line for line in log.read_text().splitlines() if line.strip()]
        assert lines, f"{log} is empty"
        for number, line in enumerate(lines, start=1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                pytest.fail(f"{log.name}:{number} is not JSON: {line[:300]}")
            assert {"time", "level", "message"} <= set(record), f"{log.name}:{number}: {line[:300]}"


def test_the_stack_makes_secrets_over_the_minimum_and_keeps_them_owner_only(supervised):
    stack, _ = supervised
    path = stack.workdir / "secrets.env"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    made = dict(line.split("=", 1) for line in path.read_text().splitlines())
    assert set(made) == {"ATTAIN_INGEST_WEBHOOK_SECRETS"}  # the ledger API trusts the issuer's tokens, no secret
    assert all(len(value.encode()) >= MIN_SECRET_BYTES for value in made.values())


def test_no_token_password_or_secret_reaches_any_log(supervised):
    """Tokens (good and forged), client secrets, passwords and the webhook secret pass through every door
    of this run; none may appear in a log line."""
    import grpc
    import httpx

    from services.notifier.proto import notifier_pb2, notifier_pb2_grpc
    from tests.e2e.conftest import bearer

    stack, _ = supervised
    assert stack.issuer is not None
    forged = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ0MDEifQ.forged-signature-for-the-log-test"
    with httpx.Client(base_url=stack.ingest_url, timeout=30) as client:
        assert client.post("/v1/events", json=[], headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    post(stack, [won_deal("006SVLOGS", "t04", "500.00")])
    with grpc.insecure_channel(stack.notifier_target) as channel:
        stub = notifier_pb2_grpc.NotifierStub(channel)
        for token in (forged, bearer(stack, "t04")["Authorization"][7:]):
            try:
                for _ in stub.Subscribe(notifier_pb2.SubscribeRequest(rep_id="t04"), timeout=2,
                                        metadata=(("authorization", f"Bearer {token}"),)):
                    break
            except grpc.RpcError:
                pass
    wait_until(lambda: totals_for(stack, {"t04"}), 90, "the ledger entry for t04")

    secrets = [stack.webhook_secret, *json.loads((stack.issuer.data_dir / "credentials.json").read_text()).values()]
    password_file = stack.workdir / "pgdata" / "attain-password"
    if password_file.exists():
        secrets.append(password_file.read_text().strip())
    logs = sorted(stack.workdir.rglob("*.log"))
    assert {f"{name}.log" for name in SERVICES} | {"supervisor.log", "issuer.log"} <= {log.name for log in logs}
    for log in logs:
        text = log.read_text(errors="replace")
        assert "eyJ" not in text, f"{log.name} holds something shaped like a JWT"
        assert "Bearer " not in text, f"{log.name} holds an Authorization header"
        for secret in secrets:
            assert secret not in text, f"{log.name} holds a secret"
