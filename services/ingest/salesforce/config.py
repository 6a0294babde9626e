"""Salesforce subscriber settings (``ATTAIN_SALESFORCE_*``). Secrets come from env or mounted files only."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from attain.platform.topics import SALESFORCE_REPLAY as REPLAY_TOPIC


class SalesforceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATTAIN_SALESFORCE_")

    # Pub/Sub API endpoint; `insecure` (plaintext gRPC) is for the test server only.
    pubsub_target: str = "api.pubsub.salesforce.com:7443"
    pubsub_insecure: bool = False
    channels: str = "/data/OpportunityChangeEvent"  # comma-separated
    mapping_file: Path = Path("examples/salesforce/mapping.yaml")
    # Flow control: events asked for per FetchRequest (Salesforce allows up to 100) and the
    # most events received but not yet acknowledged by Kafka before asking for more.
    batch_size: int = 100
    max_in_flight: int = 2000
    # Where to start without a stored replay id, and after Salesforce refuses the stored one.
    replay_policy: Literal["EARLIEST", "LATEST"] = "LATEST"
    replay_store: Literal["kafka", "file"] = "kafka"
    replay_topic: str = REPLAY_TOPIC
    replay_file: Path = Path(".attain/salesforce-replay.json")
    # OAuth 2.0: jwt (JWT bearer: client_id + username + private key) or client_credentials.
    auth_flow: Literal["jwt", "client_credentials"] = "jwt"
    login_url: str = "https://login.salesforce.com"
    client_id: str = ""
    username: str = ""
    private_key_file: Path | None = None
    client_secret: SecretStr | None = None
    client_secret_file: Path | None = None
    token_max_age_seconds: float = 3600.0  # refresh before Salesforce's session timeout
    reconnect_max_seconds: float = 30.0
    # Re-read records from the REST API after gap events and a refused replay id (docs/ingest.md).
    reconcile: bool = True
    api_version: str = "60.0"
    reconcile_lookback_hours: float = 168.0
    host: str = "127.0.0.1"
    port: int = 8082

    def channel_list(self) -> list[str]:
        return [channel.strip() for channel in self.channels.split(",") if channel.strip()]

    def secret(self) -> str:
        """The client secret from ATTAIN_SALESFORCE_CLIENT_SECRET or the mounted file."""
        if self.client_secret is not None:
            return self.client_secret.get_secret_value()
        if self.client_secret_file is not None:
            return self.client_secret_file.read_text().strip()
        raise ValueError("client_credentials needs ATTAIN_SALESFORCE_CLIENT_SECRET or ..._CLIENT_SECRET_FILE")
