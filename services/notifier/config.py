"""Notifier settings (``ATTAIN_NOTIFIER_*``)."""

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class NotifierSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATTAIN_NOTIFIER_")

    host: str = "127.0.0.1"
    port: int = 8084
    grpc_port: int = 50051
    group_id: str = "attain-notifier"
    subscriber_queue_size: int = 1000
    # The org (participants and their effective-dated managers) that says whose pay a manager or an
    # admin may watch: the same plan files the calculator reads. Without it, reps see only their own
    # pay and only admins of every region ("*") see others'.
    plans_file: Path | None = None
    # Open Subscribe streams one credential (token subject) may hold at once.
    max_streams_per_subject: int = 8
    # The ledger's URL: push only snapshots of the lineage it books (services/notifier/lineage.py), and record
    # each opened stream in its access log with the caller's token (services/notifier/access.py); without it
    # every Subscribe is refused, since the read could not be logged.
    ledger_url: str | None = None
