"""Ingest settings (``ATTAIN_INGEST_*``)."""

from pydantic_settings import BaseSettings, SettingsConfigDict


class IngestSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATTAIN_INGEST_")

    host: str = "127.0.0.1"
    port: int = 8081
    max_batch_records: int = 10_000
    max_body_bytes: int = 16 * 1024 * 1024
