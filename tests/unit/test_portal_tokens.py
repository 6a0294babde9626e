"""People's tokens at rest in the portal's sessions table: sealed for one session id, opened by it alone."""

from __future__ import annotations

import base64
import secrets

import pytest

from services.portal.sessions import TOKEN_FORMAT, seal, unseal

TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhZS1pbi0wMSJ9.c2lnbmF0dXJl"  # a JWT's shape; its content does not matter


def sid() -> str:
    return secrets.token_urlsafe(32)  # as Sessions.open makes them


def test_a_sealed_token_opens_with_its_session_id_and_shows_nothing_of_the_token() -> None:
    session = sid()
    stored = seal(session, TOKEN)
    assert stored.startswith(TOKEN_FORMAT)
    assert unseal(session, stored) == TOKEN
    for part in TOKEN.split("."):
        assert part not in stored
    assert seal(session, TOKEN) != stored  # a fresh nonce every time


def test_another_session_id_opens_nothing() -> None:
    session = sid()
    assert unseal(sid(), seal(session, TOKEN)) is None
    assert unseal(session[:-1], seal(session, TOKEN)) is None


def flipped(stored: str, at: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(stored[len(TOKEN_FORMAT):]))
    raw[at] ^= 1
    return TOKEN_FORMAT + base64.urlsafe_b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("stored", [
    pytest.param(TOKEN, id="a plain token stored before sealing"),
    pytest.param("v2:" + TOKEN, id="an unknown format"),
    pytest.param(TOKEN_FORMAT, id="empty"),
    pytest.param(TOKEN_FORMAT + "AAAA", id="shorter than a nonce"),
    pytest.param(TOKEN_FORMAT + "not base64!", id="not base64"),
])
def test_a_value_that_is_not_a_sealed_token_opens_nothing(stored: str) -> None:
    assert unseal(sid(), stored) is None


@pytest.mark.parametrize("at", [0, 11, 12, -1])  # the nonce, the ciphertext's first byte, the tag
def test_a_tampered_value_opens_nothing(at: int) -> None:
    session = sid()
    assert unseal(session, flipped(seal(session, TOKEN), at)) is None
