"""Issuer settings (``ATTAIN_ISSUER_*``)."""

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class IssuerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATTAIN_ISSUER_")

    host: str = "127.0.0.1"
    port: int = 8090
    # The issuer's public URL, as it appears in tokens' "iss" and in discovery. Default: http://host:port.
    url: str | None = None
    data_dir: Path = Path(".attain/issuer")  # keys/ and identities.json, created by `attain issuer init`
    audience: str = "attain"
    token_lifetime_seconds: int = 3600
    # Repeated failed sign-ins lock a user out: this many failures within the window...
    lockout_failures: int = 5
    lockout_window_seconds: int = 900
    # ...lock the account for this long.
    lockout_seconds: int = 900
    # Public clients of the authorization-code flow (PKCE S256 required): client id -> its exact redirect URIs,
    # e.g. ATTAIN_ISSUER_REDIRECT_URIS='{"attain-portal": ["http://127.0.0.1:8085/auth/callback"]}'.
    redirect_uris: dict[str, list[str]] = {}
    authorization_code_seconds: int = 60  # how long a code may wait for its token request (used once)

    def public_url(self) -> str:
        return (self.url or f"http://{self.host}:{self.port}").rstrip("/")
