"""Ingest settings (``ATTAIN_INGEST_*``). Webhook secrets come from env or a mounted file only."""

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class IngestSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATTAIN_INGEST_")

    host: str = "127.0.0.1"
    port: int = 8081
    max_batch_records: int = 10_000
    max_body_bytes: int = 16 * 1024 * 1024
    # POST /v1/webhooks/crm: one or more secrets (comma-separated, for rotation); unset = endpoint off.
    webhook_secrets: SecretStr | None = None
    webhook_secrets_file: Path | None = None
    webhook_tolerance_seconds: int = 300

    def webhook_secret_list(self) -> list[str]:
        if self.webhook_secrets is not None:
            raw = self.webhook_secrets.get_secret_value()
        elif self.webhook_secrets_file is not None:
            raw = self.webhook_secrets_file.read_text()
        else:
            return []
        return [secret.strip() for secret in raw.replace("\n", ",").split(",") if secret.strip()]
