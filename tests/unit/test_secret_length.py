"""Shared secrets shorter than 32 bytes are refused when settings are read, with a message that says what to do."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from attain.platform.settings import MIN_SECRET_BYTES
from services.ingest.config import IngestSettings
from services.ledger.config import LedgerSettings

SHORT = "x" * 26  # the outside tester's 26-byte secret
LONG = "y" * MIN_SECRET_BYTES


def test_the_ledger_token_secret_must_be_at_least_32_bytes():
    with pytest.raises(ValidationError, match=r"ATTAIN_LEDGER_JWT_SECRET is 26 bytes; a secret must be at least 32"):
        LedgerSettings(jwt_secret=SHORT)
    assert LedgerSettings(jwt_secret=LONG).jwt_secret.get_secret_value() == LONG
    assert LedgerSettings().jwt_secret is None  # unset stays allowed: every API call is refused then


def test_every_webhook_secret_must_be_at_least_32_bytes_from_env_or_file(tmp_path):
    with pytest.raises(ValidationError, match=r"webhook secret #2 in ATTAIN_INGEST_WEBHOOK_SECRETS is 26 bytes"):
        IngestSettings(webhook_secrets=f"{LONG},{SHORT}")
    (tmp_path / "secrets").write_text(f"{SHORT}\n")
    with pytest.raises(ValidationError, match=r"webhook secret #1 in ATTAIN_INGEST_WEBHOOK_SECRETS_FILE .* 26 bytes"):
        IngestSettings(webhook_secrets_file=tmp_path / "secrets")
    assert IngestSettings(webhook_secrets=LONG).webhook_secret_list() == [LONG]


def test_the_secret_itself_never_appears_in_the_message():
    with pytest.raises(ValidationError) as refused:
        LedgerSettings(jwt_secret=SHORT)
    assert SHORT not in str(refused.value)


@pytest.mark.parametrize(("service", "variable"), [("ledger", "ATTAIN_LEDGER_JWT_SECRET"),
                                                   ("ingest", "ATTAIN_INGEST_WEBHOOK_SECRETS")])
def test_a_service_given_a_short_secret_refuses_to_start_with_one_clear_json_line(service, variable):
    completed = subprocess.run([sys.executable, "-m", f"services.{service}"], capture_output=True, text=True,
                               env={**os.environ, variable: SHORT}, timeout=60)
    assert completed.returncode == 2
    (line,) = [line for line in completed.stderr.splitlines() if line.strip()]
    record = json.loads(line)
    assert record["level"] == "CRITICAL" and record["message"] == "refusing to start: invalid settings"
    assert any(f"{variable}" in problem and "at least 32 bytes" in problem for problem in record["problems"])
