"""Notifier settings (``ATTAIN_NOTIFIER_*``)."""

from pydantic_settings import BaseSettings, SettingsConfigDict


class NotifierSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATTAIN_NOTIFIER_")

    host: str = "127.0.0.1"
    port: int = 8084
    grpc_port: int = 50051
    group_id: str = "attain-notifier"
    subscriber_queue_size: int = 1000
    # The ledger's operational URL: push only snapshots of the lineage it books (services/notifier/lineage.py).
    ledger_url: str | None = None
