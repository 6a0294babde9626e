"""A real scrape: Debian's Prometheus scrapes the running stack every second with the shipped rules
(deploy/monitoring/rules.yaml, unchanged: AttainDeadLetters has no ``for:``, so it fires at the first
evaluation that sees a dead letter). Events through ingest make the expected series appear; poison events
make the DLQ alert fire."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc
import httpx
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from attain.embedded.ports import free_port
from attain.embedded.stack import Stack
from tests.e2e.conftest import post, wait_until

RULES = Path(__file__).resolve().parents[2] / "deploy" / "monitoring" / "rules.yaml"


def targets(stack: Stack) -> dict[str, str]:
    """job -> host:port of its /metrics, named as the Kubernetes Services are (attain-<service>)."""
    assert stack.issuer is not None
    jobs = {f"attain-{name}": f"127.0.0.1:{service.port}" for name, service in stack.services.items()}
    return {**jobs, "attain-issuer": urlsplit(stack.issuer.url).netloc}


@pytest.fixture(scope="module")
def prometheus(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("the prometheus binary is not installed (Debian package prometheus; .ci/run installs it)")
    home = tmp_path_factory.mktemp("prometheus")
    shutil.copy(RULES, home / "rules.yaml")
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": ["rules.yaml"],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [target]}]}
                           for job, target in targets(stack).items()],
    }
    (home / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (home / "prometheus.log").open("w")
    process = subprocess.Popen(
        [binary, f"--config.file={home / 'prometheus.yml'}", f"--storage.tsdb.path={home / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT, cwd=home)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: process.poll() is not None or _ready(url), timeout=30, what="Prometheus ready")
        assert process.poll() is None, (home / "prometheus.log").read_text()[-2000:]
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def query(url: str, promql: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=5).json()
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


def firing(url: str, alertname: str) -> list[dict[str, Any]]:
    alerts = httpx.get(f"{url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return [a for a in alerts if a["labels"]["alertname"] == alertname and a["state"] == "firing"]


def deal(record_id: str, rep_id: str, amount: str) -> dict[str, Any]:
    return {"event_id": f"{record_id}-won", "record_id": record_id, "object_type": "Opportunity",
            "change_type": "CREATE", "commit_timestamp": "2026-02-10T09:00:00Z",
            "fields": {"owner_id": rep_id, "amount": amount, "is_won": True, "close_date": "2026-02-10",
                       "currency": "INR"}}


def test_prometheus_scrapes_the_stack_and_fires_the_dlq_alert_on_poison(stack: Stack, prometheus: str):
    jobs = set(targets(stack))
    wait_until(lambda: {s["metric"]["job"] for s in query(prometheus, "up == 1")} == jobs, timeout=30,
               what=f"every target up: {sorted(jobs)}")

    (accepted,) = post(stack, [deal("006PROM001", "t59", "1000.00"), deal("006PROM002", "t60", "2500.00")])
    assert accepted.status_code == 202, accepted.text
    with grpc.insecure_channel(stack.notifier_target) as channel:  # one gRPC call for the interceptor to count
        check = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert check.status == health_pb2.HealthCheckResponse.SERVING
    assert httpx.get(f"http://127.0.0.1:{stack.services['ledger'].port}/openapi.json", timeout=10).is_success

    expected = {
        'attain_build_info': jobs,
        'attain_http_requests_total{route="/v1/events", method="POST", status="202"}': {"attain-ingest"},
        'attain_http_requests_total{route="/openapi.json", status="200"}': {"attain-ledger"},
        'attain_grpc_server_handled_total{method="/grpc.health.v1.Health/Check", code="OK"}': {"attain-notifier"},
        'attain_ingest_events_published_total > 0': {"attain-ingest"},
        'attain_calculator_events_total > 0': {"attain-calculator"},
        'attain_stream_consumer_lag': {"attain-calculator"},
        'attain_stream_last_batch_timestamp_seconds': {"attain-calculator"},
        'attain_ledger_entries_total > 0': {"attain-ledger"},
        'attain_ledger_consumer_lag': {"attain-ledger"},
        'attain_ledger_outbox_backlog': {"attain-ledger"},
        'attain_ledger_outbox_oldest_age_seconds': {"attain-ledger"},
        'attain_notifier_subscribers': {"attain-notifier"},
        'attain_notifier_snapshots_total > 0': {"attain-notifier"},
        'attain_portal_projected_total > 0': {"attain-portal"},
        'attain_portal_consumer_lag': {"attain-portal"},
        'attain_portal_live_streams': {"attain-portal"},
    }

    def missing() -> dict[str, set[str]]:
        return {q: want - {s["metric"]["job"] for s in query(prometheus, q)} for q, want in expected.items()
                if not want <= {s["metric"]["job"] for s in query(prometheus, q)}}

    wait_until(lambda: not missing(), timeout=30, what="the expected series in Prometheus")
    assert not firing(prometheus, "AttainDeadLetters")  # nothing dead-lettered yet
    assert not firing(prometheus, "AttainServiceDown")
    assert not firing(prometheus, "AttainPortalDown")

    poison = [{"record_id": "006PROMBAD", "object_type": "Opportunity"},  # no event_id
              {**deal("006PROMBA2", "t59", "1.00"), "commit_timestamp": "last tuesday"}]
    (refused,) = post(stack, poison)
    assert refused.status_code == 422, refused.text
    wait_until(lambda: firing(prometheus, "AttainDeadLetters"), timeout=20, what="AttainDeadLetters firing")
    (alert,) = firing(prometheus, "AttainDeadLetters")
    assert alert["labels"]["job"] == "attain-ingest" and alert["labels"]["severity"] == "warning"
    assert float(alert["value"]) == 2
