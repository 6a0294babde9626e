"""Ledger settings (``ATTAIN_LEDGER_*``)."""

from pydantic_settings import BaseSettings, SettingsConfigDict


class LedgerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATTAIN_LEDGER_")

    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/attain"
    host: str = "127.0.0.1"
    port: int = 8083
    group_id: str = "attain-ledger"
    batch_size: int = 1000
    poll_timeout_seconds: float = 0.2
    retry_backoff_seconds: float = 1.0
