"""The pipeline fed through every door: the fake Salesforce org (CDC over the Pub/Sub API, the
ingest Salesforce process), the signed webhook, and a backfill file, all the way to the ledger."""

from __future__ import annotations

import json
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from attain.embedded._process import spawn
from attain.embedded.ports import free_port
from attain.embedded.stack import Stack
from services.ingest.commands import ingest_backfill
from services.ingest.signatures import sign
from tests.e2e.conftest import run_stack, totals_for, wait_until
from tests.fakes.cdc_events import OPPORTUNITY_SCHEMA, OPPORTUNITY_SCHEMA_ID, encode, opportunity_event
from tests.fakes.pubsub_server import FakeSalesforce
from tests.integration.salesforce_support import MAPPING_FILE, REPO, rsa_key_pair

SECRET = "e2e-webhook-secret-of-at-least-32-bytes"
CHANNEL = "/data/OpportunityChangeEvent"
_, PUBLIC_KEY = rsa_key_pair()


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, pipeline_kafka_bootstrap: str, database_url: str
) -> Iterator[Stack]:
    yield from run_stack(tmp_path_factory.mktemp("stack-doors"), pipeline_kafka_bootstrap, database_url,
                         ATTAIN_INGEST_WEBHOOK_SECRETS=SECRET)


def test_salesforce_cdc_webhook_and_backfill_all_reach_the_ledger(stack, tmp_path):
    run = uuid.uuid4().hex[:6].upper()
    with FakeSalesforce(PUBLIC_KEY) as sf:
        secret_file = tmp_path / "secret"
        secret_file.write_text(sf.oauth.secret)
        env = {**stack.env(), "PYTHONPATH": str(REPO),
               "ATTAIN_SALESFORCE_PUBSUB_TARGET": sf.target, "ATTAIN_SALESFORCE_PUBSUB_INSECURE": "true",
               "ATTAIN_SALESFORCE_CHANNELS": CHANNEL, "ATTAIN_SALESFORCE_MAPPING_FILE": str(MAPPING_FILE),
               "ATTAIN_SALESFORCE_REPLAY_POLICY": "EARLIEST", "ATTAIN_SALESFORCE_REPLAY_TOPIC": f"replay-{run}",
               "ATTAIN_SALESFORCE_AUTH_FLOW": "client_credentials", "ATTAIN_SALESFORCE_LOGIN_URL": sf.login_url,
               "ATTAIN_SALESFORCE_CLIENT_ID": sf.oauth.client_id,
               "ATTAIN_SALESFORCE_CLIENT_SECRET_FILE": str(secret_file),
               "ATTAIN_SALESFORCE_PORT": str(free_port())}
        won = {"OwnerId": "t36", "Amount": 100000.2, "IsWon": True, "CloseDate": 20498, "CurrencyIsoCode": "INR",
               "StageName": "Closed Won"}
        sf.pubsub.append(CHANNEL, OPPORTUNITY_SCHEMA_ID, [
            encode(OPPORTUNITY_SCHEMA, opportunity_event([f"006E2E{run}1"], "CREATE", values=won,
                                                         transaction_key=f"{run}-1")),
            # a later change of the amount: the ledger follows the record's newest state
            encode(OPPORTUNITY_SCHEMA, opportunity_event([f"006E2E{run}1"], "UPDATE", values={"Amount": 200000.0},
                                                         transaction_key=f"{run}-2", commit_number=11,
                                                         commit_timestamp=1_768_471_260_000)),
        ])
        process = spawn([sys.executable, "-m", "services.ingest.salesforce"], tmp_path / "sf.log", env=env, cwd=REPO)
        try:
            body = json.dumps([{"event_id": f"wh-{run}", "record_id": f"006WH{run}", "object_type": "Opportunity",
                                "change_type": "CREATE", "commit_timestamp": "2026-02-10T09:00:00Z",
                                "fields": {"owner_id": "t37", "amount": "2000.00", "is_won": True,
                                           "close_date": "2026-02-10", "currency": "INR"}}]).encode()
            answer = httpx.post(f"{stack.ingest_url}/v1/webhooks/crm", content=body,
                                headers={"X-Attain-Signature": sign(body, SECRET, int(time.time()))}, timeout=30)
            assert answer.status_code == 202, answer.text
            history = tmp_path / "history.csv"
            history.write_text("event_id,record_id,object_type,commit_timestamp,owner_id,amount,is_won,close_date,"
                               f"currency\nbf-{run},006BF{run},Opportunity,2026-01-20T10:00:00Z,t38,3000.00,true,"
                               "2026-01-20,INR\n")
            assert stack.issuer is not None
            writer = stack.issuer.client_token("attain-ingest-client")
            assert ingest_backfill(history, stack.ingest_url, writer, None, None) == 0

            wait_until(lambda: totals_for(stack, {"t36", "t37", "t38"}) == {
                ("t36", "2026-Q1"): Decimal("10000.00"),  # 5% of the newest amount, 200000.00
                ("t37", "2026-Q1"): Decimal("100.00"),
                ("t38", "2026-Q1"): Decimal("150.00"),
            }, timeout=120, what="all three doors in the ledger")
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(20) == 0, (tmp_path / "sf.log").read_text()[-2000:]
