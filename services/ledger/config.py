"""Ledger settings (``ATTAIN_LEDGER_*``)."""

from typing import Literal

from limits import parse
from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from attain.ledger.payroll import DEFAULT_EARNING_CODES, EarningCodes


class MissingDatabaseUrl(ValueError):
    """The ledger was started without ATTAIN_LEDGER_DATABASE_URL."""


class LedgerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATTAIN_LEDGER_", hide_input_in_errors=True)  # secrets

    # Required by the service and its migrations (required_database_url): no fallback to a local database,
    # so a missing Secret stops the ledger instead of pointing it somewhere else.
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8083
    grpc_port: int = 0  # 0: no gRPC API (the HTTP API is always on); set e.g. 50052 to serve it
    group_id: str = "attain-ledger"
    batch_size: int = 1000
    poll_timeout_seconds: float = 0.2
    # A database outage is retried with backoff from retry_backoff_seconds doubling up to
    # retry_backoff_max_seconds, while the consumer keeps polling (partitions paused) so it stays in the group.
    retry_backoff_seconds: float = 1.0
    retry_backoff_max_seconds: float = 30.0
    # librdkafka's max.poll.interval.ms (Kafka's default, 5 min). The worker polls through database
    # outages, so this only bounds one database attempt; the fault tests set it short.
    max_poll_interval_ms: int = 300_000
    outbox_interval_seconds: float = 1.0
    # Periods are opened, locked and approved per plan family ("plan": the snapshot's plan_id) or per
    # region ("region": the rep's region in the participants table, loaded by `attain ledger org`).
    period_scope: Literal["plan", "region"] = "plan"
    approval_chain: str = "manager,comp_admin,finance"  # comma-separated roles, in order
    # Requests per token subject on the HTTP and gRPC APIs, in the `limits` notation ("300/minute",
    # "20/second"); empty: no limit. Over it: 429 with Retry-After (gRPC RESOURCE_EXHAUSTED).
    rate_limit: str = "600/minute"
    # Payroll earning code of each entry on payout lines: comma-separated KEY=CODE, KEY a component id,
    # kind:<entry kind> (earned, adjustment, manual, reversal, clawback, draw, draw_recovery),
    # kind:carried (balance left over by earlier paid periods) or * (everything else, required).
    earning_codes: str = DEFAULT_EARNING_CODES
    # The plan files (a file or folder, as the calculator reads them): locking a period pays the draw of
    # reps on a plan with a draw who have no credits in it (services/ledger/period_close.py). Empty: none.
    plans_file: str = ""

    @field_validator("earning_codes")
    @classmethod
    def _codes_parse(cls, text: str) -> str:
        EarningCodes.parse(text)  # EarningCodeError is a ValueError: a clear settings error at start-up
        return text

    @property
    def codes(self) -> EarningCodes:
        return EarningCodes.parse(self.earning_codes)

    @field_validator("rate_limit")
    @classmethod
    def _a_rate(cls, value: str) -> str:
        if value.strip():
            try:
                parse(value)
            except ValueError:
                raise ValueError(f"ATTAIN_LEDGER_RATE_LIMIT {value!r} is not a rate such as 300/minute") from None
        return value.strip()

    def required_database_url(self) -> str:
        if not self.database_url.strip():
            raise MissingDatabaseUrl(
                "ATTAIN_LEDGER_DATABASE_URL is not set: the ledger needs its PostgreSQL database "
                "(e.g. postgresql+psycopg://attain@db:5432/attain; in Kubernetes from the Secret attain-ledger-db)")
        return self.database_url

    @property
    def chain(self) -> tuple[str, ...]:
        return tuple(step.strip() for step in self.approval_chain.split(",") if step.strip())
