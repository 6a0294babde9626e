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

SHORT = "x" * 26  # the outside tester's 26-byte secret
LONG = "y" * MIN_SECRET_BYTES


# The ledger's shared HS256 secret (ATTAIN_LEDGER_JWT_SECRET) is gone: the ledger trusts OpenID Connect tokens;
# the dev-only ATTAIN_AUTH_DEV_HS256_SECRET has its own 32-byte minimum (attain.platform.identity).


def test_every_webhook_secret_must_be_at_least_32_bytes_from_env_or_file(tmp_path):
    with pytest.raises(ValidationError, match=r"webhook secret #2 in ATTAIN_INGEST_WEBHOOK_SECRETS is 26 bytes"):
        IngestSettings(webhook_secrets=f"{LONG},{SHORT}")
    (tmp_path / "secrets").write_text(f"{SHORT}\n")
    with pytest.raises(ValidationError, match=r"webhook secret #1 in ATTAIN_INGEST_WEBHOOK_SECRETS_FILE .* 26 bytes"):
        IngestSettings(webhook_secrets_file=tmp_path / "secrets")
    assert IngestSettings(webhook_secrets=LONG).webhook_secret_list() == [LONG]


def test_the_secret_itself_never_appears_in_the_message():
    with pytest.raises(ValidationError) as refused:
        IngestSettings(webhook_secrets=SHORT)
    assert SHORT not in str(refused.value)


@pytest.mark.parametrize(("service", "variable"), [("ingest", "ATTAIN_INGEST_WEBHOOK_SECRETS")])
def test_a_service_given_a_short_secret_refuses_to_start_with_one_clear_json_line(service, variable):
    completed = subprocess.run([sys.executable, "-m", f"services.{service}"], capture_output=True, text=True,
                               env={**os.environ, variable: SHORT}, timeout=60)
    assert completed.returncode == 2
    (line,) = [line for line in completed.stderr.splitlines() if line.strip()]
    record = json.loads(line)
    assert record["level"] == "CRITICAL" and record["message"] == "refusing to start: invalid settings"
    assert any(f"{variable}" in problem and "at least 32 bytes" in problem for problem in record["problems"])
