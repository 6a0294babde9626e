"""Attain's own OpenID Connect issuer as a child process, for the embedded stack and the tests.

``init`` creates the signing key and the sample identities once per folder
(their passwords and client secrets land in ``credentials.json``, mode 0600,
for the demo's sign-in hints); ``start`` runs ``python -m services.issuer`` on a
free port and waits for its readiness.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from attain.embedded._process import log_tail, spawn, terminate
from attain.embedded.ports import free_port

# The demo's people (ids from examples/apac/org.yaml) and machine clients.
SAMPLE_USERS: dict[str, dict[str, Any]] = {
    "ae-in-01": {"roles": ["rep"]},
    "ae-sg-01": {"roles": ["rep"]},
    "mgr-in": {"roles": ["manager"]},
    "mgr-sea": {"roles": ["manager"]},  # a manager of another network (the portal's forbidden paths)
    "comp-admin": {"roles": ["comp_admin"], "regions": ["*"]},
    "finance": {"roles": ["finance"], "regions": ["*"]},
}
SAMPLE_CLIENTS: dict[str, list[str]] = {
    "attain-ingest-client": ["ingest:write"],
    "attain-operator": ["ingest:write", "dlq:replay"],
}


class EmbeddedIssuer:
    def __init__(self, data_dir: Path, audience: str = "attain", port: int | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.audience = audience
        self.port = port or free_port()
        self._env = env or {}
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def init(self) -> dict[str, str]:
        """Create keys and identities unless the folder has them; returns the credentials."""
        credentials = self.data_dir / "credentials.json"
        if not credentials.exists():
            subprocess.run([sys.executable, "-m", "services.issuer", "init", str(self.data_dir),
                            "--users", json.dumps(SAMPLE_USERS), "--clients", json.dumps(SAMPLE_CLIENTS)],
                           check=True, capture_output=True, timeout=60)
        loaded: dict[str, str] = json.loads(credentials.read_text())
        return loaded

    def start(self, timeout: float = 30) -> str:
        self.init()
        env = dict(os.environ)
        env.update(ATTAIN_ISSUER_PORT=str(self.port), ATTAIN_ISSUER_DATA_DIR=str(self.data_dir),
                   ATTAIN_ISSUER_AUDIENCE=self.audience, ATTAIN_ISSUER_URL=self.url, **self._env)
        log_path = self.data_dir / "issuer.log"
        self._process = spawn([sys.executable, "-m", "services.issuer"], log_path, env=env)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/health/ready", timeout=2):
                    return self.url
            except (urllib.error.URLError, OSError):
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"issuer did not start; log {log_path}:\n{log_tail(log_path)}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self._process is not None:
            terminate(self._process, grace=10)
            self._process = None

    def token(self, **form: str) -> str:
        """A token from the token endpoint, e.g. ``token(grant_type="password", username=..., password=...)``."""
        request = urllib.request.Request(f"{self.url}/token", data=urllib.parse.urlencode(form).encode(),
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return str(json.load(response)["access_token"])

    def sign_in(self, user_id: str) -> str:
        """A sample user's token (password grant with the stored demo password)."""
        return self.token(grant_type="password", username=user_id, password=self.init()[user_id])

    def mint(self, subject: str, **claims: object) -> str:
        """A token for any subject, signed with the issuer's key (tests and operators who hold the key files)."""
        completed = subprocess.run(
            [sys.executable, "-m", "services.issuer", "mint", str(self.data_dir), "--issuer", self.url,
             "--audience", self.audience, "--subject", subject, "--claims", json.dumps(claims)],
            check=True, capture_output=True, text=True, timeout=60)
        return completed.stdout.strip()

    def client_token(self, client_id: str) -> str:
        return self.token(grant_type="client_credentials", client_id=client_id,
                          client_secret=self.init()[client_id])

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
