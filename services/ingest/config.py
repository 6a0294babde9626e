"""Ingest settings (``ATTAIN_INGEST_*``). Webhook secrets come from env or a mounted file only."""

from decimal import Decimal
from pathlib import Path
from typing import Self

from limits import parse_many
from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from attain.contracts.crm_changes import Limits
from attain.platform.settings import check_secret


class IngestSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATTAIN_INGEST_", hide_input_in_errors=True)  # secrets

    host: str = "127.0.0.1"
    port: int = 8081
    max_batch_records: int = 10_000
    max_body_bytes: int = 16 * 1024 * 1024
    # Per record (refused alone, dead-lettered with the reason; see docs/ingest.md "Limits").
    max_field_chars: int = 131_072  # Salesforce's longest text field
    max_fields: int = 1000
    max_number: Decimal = Decimal(10) ** 15
    amount_fields: str = "amount"  # comma-separated
    max_record_bytes: int = 900 * 1024  # under Kafka's default 1 MB message limit
    max_dead_letter_bytes: int = 900 * 1024
    # POST /v1/webhooks/crm: one or more secrets (comma-separated, for rotation); unset = endpoint off.
    webhook_secrets: SecretStr | None = None
    webhook_secrets_file: Path | None = None
    webhook_tolerance_seconds: int = 300
    # POST /v1/events answers 503 if the broker has not acknowledged a request's records by then.
    publish_timeout_seconds: float = 3.0
    # Abuse limits (moving window; "N/second", "N/minute", ...; empty = off). Token callers are
    # counted per token subject, webhook senders (no token) per remote address.
    rate_per_credential: str = "100/second"
    rate_per_address: str = "20/second"
    # Dead-letter topics `POST /v1/dlq/replay` may re-drive into crm.changes (comma-separated).
    replay_topics: str = "crm.changes.dlq"
    # The portal's client id at the identity provider (as ATTAIN_PORTAL_CLIENT_ID): a comp admin's own token
    # opens `POST /v1/dlq/replay` only when it was issued to this client (its `azp` claim).
    portal_client_id: str = "attain-portal"

    @model_validator(mode="after")
    def _secrets_long_enough(self) -> Self:
        source = "ATTAIN_INGEST_WEBHOOK_SECRETS" if self.webhook_secrets is not None else \
            f"ATTAIN_INGEST_WEBHOOK_SECRETS_FILE ({self.webhook_secrets_file})"
        for number, secret in enumerate(self.webhook_secret_list(), start=1):
            check_secret(f"webhook secret #{number} in {source}", secret)
        return self

    @model_validator(mode="after")
    def _rates_readable(self) -> Self:
        for name in ("rate_per_credential", "rate_per_address"):
            rate = getattr(self, name)
            try:
                readable = not rate.strip() or parse_many(rate) != []
            except ValueError:
                readable = False
            if not readable:
                raise ValueError(f"ATTAIN_INGEST_{name.upper()}: {rate!r} is not a rate like '100/second'")
        return self

    def limits(self) -> Limits:
        return Limits(self.max_field_chars, self.max_fields, self.max_number,
                      tuple(name.strip() for name in self.amount_fields.split(",") if name.strip()))

    def webhook_secret_list(self) -> list[str]:
        if self.webhook_secrets is not None:
            raw = self.webhook_secrets.get_secret_value()
        elif self.webhook_secrets_file is not None:
            raw = self.webhook_secrets_file.read_text()
        else:
            return []
        return [secret.strip() for secret in raw.replace("\n", ",").split(",") if secret.strip()]
