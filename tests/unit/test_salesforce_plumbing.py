"""Small rules of the Salesforce adapters that need no I/O: secrets stay out of reprs and logs,
replay-id refusals are recognised, metric labels stay bounded."""

import grpc
import pytest

from services.ingest.config import IngestSettings
from services.ingest.publisher import metric_source
from services.ingest.salesforce.auth import AccessToken, AuthError, TokenSource, _org_id
from services.ingest.salesforce.config import SalesforceSettings
from services.ingest.salesforce.subscriber import _replay_id_refused


def test_an_access_token_never_shows_in_its_repr():
    token = AccessToken("00D!SECRET-TOKEN", "https://x.my.salesforce.com", "00D000000000001", 0.0)
    assert "SECRET-TOKEN" not in repr(token)
    assert ("accesstoken", "00D!SECRET-TOKEN") in token.metadata()


def test_the_org_id_comes_from_the_identity_url():
    assert _org_id({"id": "https://login.salesforce.com/id/00D5g000004aBcD/0055g00000AbCdE"}) == "00D5g000004aBcD"


@pytest.mark.parametrize("flow, arguments, message", [
    ("jwt", {"username": "u"}, "JWT bearer flow needs client_id, username and a private key"),
    ("client_credentials", {}, "client-credentials flow needs client_id and a client secret"),
])
def test_a_flow_missing_its_credentials_is_refused_before_any_request(flow, arguments, message):
    with pytest.raises(AuthError, match=message):
        TokenSource(flow, "https://login.salesforce.com", "client", **arguments)


def test_the_client_secret_can_come_from_a_mounted_file(tmp_path):
    (tmp_path / "secret").write_text("from-file\n")
    assert SalesforceSettings(client_secret_file=tmp_path / "secret").secret() == "from-file"
    assert "from-file" not in repr(SalesforceSettings(client_secret="from-file"))


def test_webhook_secrets_for_rotation_come_from_env_or_file(tmp_path):
    old, new = "old-secret-" + "o" * 32, "new-secret-" + "n" * 32
    (tmp_path / "secrets").write_text(f"{old}\n{new}\n")
    assert IngestSettings(webhook_secrets_file=tmp_path / "secrets").webhook_secret_list() == [old, new]
    assert IngestSettings(webhook_secrets=f"{old}, {new}").webhook_secret_list() == [old, new]
    assert IngestSettings().webhook_secret_list() == []


def test_channels_are_a_comma_separated_list():
    assert SalesforceSettings(channels="/data/OpportunityChangeEvent, /data/LeadChangeEvent,").channel_list() == [
        "/data/OpportunityChangeEvent", "/data/LeadChangeEvent"]


def rpc_error(code, details, error_code=""):
    trailers = grpc.aio.Metadata(("error-code", error_code)) if error_code else grpc.aio.Metadata()
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailers, details)


def test_a_refused_replay_id_is_recognised_by_salesforce_error_code():
    refused = rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "The Replay ID validation failed.",
                        "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted")
    assert _replay_id_refused(refused)
    assert not _replay_id_refused(rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "topic name is invalid"))
    assert not _replay_id_refused(rpc_error(grpc.StatusCode.UNAVAILABLE, "RST_STREAM"))


def test_metric_labels_name_the_door_or_the_configured_channel_never_a_file_or_record():
    assert metric_source("backfill:history-2025.csv") == "backfill"
    assert metric_source("file:events.jsonl") == "file"
    assert metric_source("salesforce:/data/OpportunityChangeEvent") == "salesforce:/data/OpportunityChangeEvent"
