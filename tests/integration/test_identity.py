"""The identity model against Attain's own issuer run as a real process: sign-in, client credentials,
lock-out, key rotation, and every forged or wrong token refused."""

from __future__ import annotations

import time
import urllib.error
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from attain.embedded.issuer import EmbeddedIssuer
from attain.platform.identity import AuthError, AuthSettings, TokenVerifier


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory):
    with EmbeddedIssuer(tmp_path_factory.mktemp("issuer"), env={"ATTAIN_ISSUER_LOCKOUT_FAILURES": "3"}) as running:
        yield running


@pytest.fixture()
def verifier(issuer: EmbeddedIssuer) -> TokenVerifier:
    return TokenVerifier(AuthSettings(issuer=issuer.url, audience="attain", leeway_seconds=5))


def _issuer_key(issuer: EmbeddedIssuer) -> tuple[str, ec.EllipticCurvePrivateKey]:
    from services.issuer.directory import load_keys

    newest = load_keys(issuer.data_dir)[-1]
    return newest.kid, newest.private_key


def _forge(issuer: EmbeddedIssuer, **overrides) -> str:
    """A token signed with the issuer's own key (as a stolen key or a misconfigured IdP would sign)."""
    kid, key = _issuer_key(issuer)
    now = int(time.time())
    claims = {"iss": issuer.url, "sub": "ae-in-01", "aud": "attain", "iat": now, "exp": now + 600, "roles": ["rep"]}
    claims.update(overrides)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm="ES256",
                      headers={"kid": kid})


def test_a_sample_rep_signs_in_and_every_service_sees_the_same_identity(issuer, verifier):
    identity = verifier.verify_header(f"Bearer {issuer.sign_in('ae-in-01')}")
    assert (identity.subject, identity.roles, identity.scopes) == ("ae-in-01", frozenset({"rep"}), frozenset())
    admin = verifier.verify(issuer.sign_in("comp-admin"))
    assert admin.is_admin and admin.regions == frozenset({"*"})


def test_a_machine_client_gets_only_its_scopes(issuer, verifier):
    identity = verifier.verify(issuer.client_token("attain-ingest-client"))
    assert identity.subject == "attain-ingest-client"
    assert identity.scopes == frozenset({"ingest:write"}) and identity.roles == frozenset()


def test_a_wrong_client_secret_is_refused(issuer):
    with pytest.raises(urllib.error.HTTPError) as refused:
        issuer.token(grant_type="client_credentials", client_id="attain-ingest-client", client_secret="guess")
    assert refused.value.code == 401


def test_repeated_failed_sign_ins_lock_the_account_even_for_the_right_password(issuer):
    for _ in range(3):
        with pytest.raises(urllib.error.HTTPError) as refused:
            issuer.token(grant_type="password", username="ae-sg-01", password="not-it")
        assert refused.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as locked:
        issuer.sign_in("ae-sg-01")
    assert b"too many failed sign-ins" in locked.value.read()
    issuer.sign_in("mgr-in")  # other users are not affected


@pytest.mark.parametrize("header", [None, "", "Bearer ", "Basic abc", "Bearer not.a.jwt"])
def test_no_usable_bearer_token_is_refused(verifier, header):
    with pytest.raises(AuthError):
        verifier.verify_header(header)


@pytest.mark.parametrize(("overrides", "reason"), [
    ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "(?i)expired"),
    ({"iss": "https://someone-else.example"}, "(?i)issuer"),
    ({"aud": "another-app"}, "(?i)audience"),
    ({"roles": ["wizard"]}, "unknown role 'wizard'"),
    ({"scope": "ledger:everything"}, "unknown scope"),
    ({"sub": None}, "sub"),
])
def test_tokens_with_wrong_claims_are_refused(issuer, verifier, overrides, reason):
    with pytest.raises(AuthError, match=reason):
        verifier.verify(_forge(issuer, **overrides))


def test_a_token_signed_by_an_unknown_key_is_refused(issuer, verifier):
    stranger = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    token = jwt.encode({"iss": issuer.url, "sub": "ae-in-01", "aud": "attain", "iat": now, "exp": now + 600},
                       stranger, algorithm="ES256", headers={"kid": "not-published"})
    with pytest.raises(AuthError, match="unknown key"):
        verifier.verify(token)
    kid, _ = _issuer_key(issuer)  # the right kid with the wrong key: the signature check fails
    forged = jwt.encode({"iss": issuer.url, "sub": "ae-in-01", "aud": "attain", "iat": now, "exp": now + 600},
                        stranger, algorithm="ES256", headers={"kid": kid})
    with pytest.raises(AuthError, match="Signature"):
        verifier.verify(forged)


def test_alg_none_and_hs256_are_refused_unless_hs256_is_switched_on(issuer, verifier):
    now = int(time.time())
    claims = {"iss": issuer.url, "sub": "ae-in-01", "aud": "attain", "iat": now, "exp": now + 600}
    with pytest.raises(AuthError, match="not accepted"):
        verifier.verify(jwt.encode(claims, None, algorithm="none"))
    secret = "s" * 40
    with pytest.raises(AuthError, match="not accepted"):
        verifier.verify(jwt.encode(claims, secret, algorithm="HS256"))
    dev = TokenVerifier(AuthSettings(issuer=issuer.url, dev_hs256_secret=secret))
    assert dev.verify(jwt.encode(claims, secret, algorithm="HS256")).subject == "ae-in-01"


def test_a_short_dev_secret_is_refused_at_start_up():
    with pytest.raises(AuthError, match="at least 32 bytes"):
        TokenVerifier(AuthSettings(dev_hs256_secret="x" * 26))


def test_a_rotated_key_is_accepted_without_a_restart(issuer, tmp_path: Path):
    verifier = TokenVerifier(AuthSettings(issuer=issuer.url, jwks_refresh_cooldown_seconds=0))
    before = issuer.sign_in("mgr-in")
    assert verifier.verify(before).subject == "mgr-in"  # the verifier has cached the old key set
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "services.issuer", "rotate", str(issuer.data_dir)], check=True,
                   capture_output=True)
    after = issuer.sign_in("mgr-in")
    assert jwt.get_unverified_header(after)["kid"] != jwt.get_unverified_header(before)["kid"]
    assert verifier.verify(after).subject == "mgr-in"  # new key fetched on first sight of its kid
    assert verifier.verify(before).subject == "mgr-in"  # old key still published until its tokens expire
