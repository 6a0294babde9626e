"""The OIDC path against a real identity provider this project did not write: Keycloak.

Tokens come from Keycloak's own token endpoint (password grant for people,
client credentials for machines) and are checked by the same verifier every
Attain service uses, configured as a customer would (docs/security.md).
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

import jwt
import pytest

from attain.platform.identity import AuthError, AuthSettings, TokenVerifier
from tests.integration.keycloak.server import keycloak


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory):
    with keycloak(tmp_path_factory.mktemp("keycloak") / "keycloak.log") as url:
        yield url


def _token(url: str, **form: str) -> str:
    request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode())
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(json.load(response)["access_token"])


def _settings(issuer: str, **overrides) -> AuthSettings:
    return AuthSettings(issuer=issuer, audience="attain", subject_claim="preferred_username", **overrides)


def _sign_in(issuer: str, user: str, password: str) -> str:
    return _token(f"{issuer}/protocol/openid-connect/token", grant_type="password", client_id="attain-portal",
                  username=user, password=password)


def test_people_signed_in_at_keycloak_get_their_roles_and_regions(issuer):
    verifier = TokenVerifier(_settings(issuer))
    rep = verifier.verify(_sign_in(issuer, "ae-in-01", "rep-password-for-tests"))
    assert (rep.subject, rep.roles, rep.scopes) == ("ae-in-01", frozenset({"rep"}), frozenset())
    admin = verifier.verify(_sign_in(issuer, "comp-admin", "admin-password-for-tests"))
    assert admin.roles == frozenset({"comp_admin"}) and admin.regions == frozenset({"IN-North", "IN-South"})


def test_a_machine_client_gets_its_ingest_scope_by_client_credentials(issuer):
    token = _token(f"{issuer}/protocol/openid-connect/token", grant_type="client_credentials",
                   client_id="attain-ingest-client", client_secret="ingest-client-secret-for-tests-only")
    identity = TokenVerifier(_settings(issuer)).verify(token)
    assert identity.has_scope("ingest:write") and identity.roles == frozenset()


def test_tokens_for_another_audience_or_from_another_realm_are_refused(issuer):
    token = _sign_in(issuer, "ae-in-01", "rep-password-for-tests")
    with pytest.raises(AuthError, match="(?i)audience"):
        TokenVerifier(AuthSettings(issuer=issuer, audience="payroll", subject_claim="preferred_username")).verify(token)
    master = issuer.replace("/realms/attain", "/realms/master")
    admin_cli = _token(f"{master}/protocol/openid-connect/token", grant_type="password", client_id="admin-cli",
                       username="admin", password="admin-password-for-tests")
    with pytest.raises(AuthError):
        TokenVerifier(_settings(issuer)).verify(admin_cli)


def test_a_key_rotated_at_keycloak_is_accepted_without_a_restart(issuer):
    verifier = TokenVerifier(_settings(issuer, jwks_refresh_cooldown_seconds=0))
    before = _sign_in(issuer, "ae-in-01", "rep-password-for-tests")
    assert verifier.verify(before).subject == "ae-in-01"

    master = issuer.replace("/realms/attain", "/realms/master")
    admin = _token(f"{master}/protocol/openid-connect/token", grant_type="password", client_id="admin-cli",
                   username="admin", password="admin-password-for-tests")
    base = issuer.replace("/realms/attain", "/admin/realms/attain")
    component = {"name": "rotated", "providerId": "rsa-generated", "providerType": "org.keycloak.keys.KeyProvider",
                 "parentId": "attain", "config": {"priority": ["500"], "algorithm": ["RS256"]}}
    request = urllib.request.Request(f"{base}/components", data=json.dumps(component).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201

    after = _sign_in(issuer, "ae-in-01", "rep-password-for-tests")
    assert jwt.get_unverified_header(after)["kid"] != jwt.get_unverified_header(before)["kid"]
    assert verifier.verify(after).subject == "ae-in-01"
