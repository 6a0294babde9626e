"""The ingest client's JSON keeps decimals exact, and a rate setting that is not a rate stops ingest clearly."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from attain.contracts.crm_changes import parse_json
from services.ingest.client import CredentialError, exact_json, resolve_token
from services.ingest.config import IngestSettings


def test_decimals_travel_as_the_exact_numbers_they_are_and_text_stays_text():
    row = {"amount": Decimal("100.10"), "big": Decimal("123456789012345678901234.5"), "note": "100.10",
           "tricky": 'a "quoted" 1.5', "list": [Decimal("7.50"), None, True, 3]}
    body = exact_json(row)
    assert b'"amount":100.10' in body and b'"note":"100.10"' in body
    assert parse_json(body) == row


def test_a_rate_that_is_not_a_rate_is_refused_naming_the_setting():
    with pytest.raises(ValidationError, match="ATTAIN_INGEST_RATE_PER_CREDENTIAL: 'lots'"):
        IngestSettings(rate_per_credential="lots")
    assert IngestSettings(rate_per_address="").rate_per_address == ""  # empty: the limit is off


def test_no_credentials_says_what_to_pass(tmp_path):
    with pytest.raises(CredentialError, match="pass --token"):
        resolve_token(None, None, None, None)
    with pytest.raises(CredentialError, match="needs --client-secret-file and --issuer"):
        resolve_token(None, "attain-operator", tmp_path / "secret", None)
    assert resolve_token(" abc \n", None, None, None) == "abc"
