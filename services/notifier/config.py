"""Notifier settings (``ATTAIN_NOTIFIER_*``)."""

from decimal import Decimal, InvalidOperation
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
    # Milestones (docs/notifications.md): attainment thresholds (ratios, comma separated), the consumer group
    # that records them (commits only after recording), and the channels' servers and retries.
    milestone_thresholds: str = "0.50,0.75,1.00,1.25"
    milestones_group_id: str = "attain-notifier-milestones"
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = "attain@localhost"
    vapid_private_key: str = ""  # PEM file path or the base64url raw key (``vapid --gen`` writes one)
    vapid_subject: str = "mailto:attain@localhost"
    delivery_attempts: int = 4
    retry_initial_seconds: float = 0.5
    retry_max_seconds: float = 8.0

    def thresholds(self) -> tuple[Decimal, ...]:
        try:
            return tuple(Decimal(t) for t in self.milestone_thresholds.split(",") if t.strip())
        except InvalidOperation:
            raise ValueError(f"ATTAIN_NOTIFIER_MILESTONE_THRESHOLDS: not ratios: {self.milestone_thresholds!r}")\
                from None
