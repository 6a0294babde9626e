"""Portal settings (``ATTAIN_PORTAL_*``)."""

from decimal import Decimal
from pathlib import Path

from limits import parse
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.portal.throttle import LOGIN_RATE


class PortalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATTAIN_PORTAL_")

    host: str = "127.0.0.1"
    port: int = 8085
    # The address people open (sign-in redirects come back to <public_url>/auth/callback); default http://host:port.
    # An https address makes the session cookie Secure.
    public_url: str | None = None
    # The read model's PostgreSQL (tables in the schema ``portal``; the ledger's server in the embedded profile).
    database_url: str = "postgresql+psycopg://attain@127.0.0.1:5432/attain"
    group_id: str = "attain-portal"
    # The ledger API, called with the signed-in person's own token (access rules, statements, disputes).
    ledger_url: str = "http://127.0.0.1:8083"
    # The plan files (org and plans): deal credits and their traces, next tiers, by the pure core.
    plans_file: Path | None = None
    # The OpenID Connect client the portal is at the issuer (public client, authorization code + PKCE).
    client_id: str = "attain-portal"
    # The issuer's address as the browser reaches it (default: ATTAIN_AUTH_ISSUER).
    issuer_browser_url: str | None = None
    session_seconds: int = 8 * 3600
    locale: str = "en-IN"  # amounts and texts when the browser asks for no locale the portal has
    # Managers' pages: a rep whose projected attainment is below this share of quota is off pace.
    off_pace: Decimal = Field(Decimal("0.9"), gt=0)
    subscriber_queue_size: int = 100  # a slower SSE client is disconnected (it reconnects and reloads)
    # An open SSE stream writes a keep-alive comment this often, and checks then that its session still holds.
    keepalive_seconds: float = Field(15.0, gt=0)
    # Sign-ins started per client address (GET /login writes a row for anyone): "N/minute"; empty: no limit.
    login_rate: str = LOGIN_RATE
    # Trusted reverse proxies in front that append the client's address to X-Forwarded-For (0: none, the
    # socket's peer is the client; the Kubernetes base sets 1 for its ingress controller).
    proxy_hops: int = Field(0, ge=0)
    # Optional fixed secret for the login-state cookie signature; made per process when unset.
    cookie_secret: SecretStr | None = None

    # The comp admin's board (services/portal/admin.py): ingest re-drives dead letters with the admin's own token.
    ingest_url: str = "http://127.0.0.1:8081"
    dead_letter_topics: str = "crm.changes.dlq,earnings.dlq,notifications.dlq"  # counted on the board
    replay_topics: str = "crm.changes.dlq"  # offered for replay (those ingest re-drives: ATTAIN_INGEST_REPLAY_TOPICS)

    @field_validator("login_rate")
    @classmethod
    def _login_rate(cls, value: str) -> str:
        """An unreadable rate stops the portal at start-up (``limits.parse`` says why), not at the first sign-in."""
        if value.strip():
            parse(value)
        return value.strip()

    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
