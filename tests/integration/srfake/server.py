"""A Confluent Schema Registry REST API for the integration tests: franz-go's ``srfake``, from the Go module proxy.

Not a real registry: ``srfake`` is an in-memory emulation of the Confluent API
by the franz-go project (subjects, versions, global schema ids, per-subject
compatibility settings, Basic auth) that does **not** check compatibility. The
real-registry tests run against Apicurio Registry (tests/integration/apicurio/),
which runs here without authentication; this emulation is used only to check
that Attain sends the configured Basic credentials and treats a refused one as a
registry problem, not as bad data.

The ``main.go`` beside this file is built once under ``<repo>/.cache`` (the
build is keyed by its source and ``go.mod``), then started on a free port.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from attain.embedded import maven
from attain.embedded.ports import free_port
from tests.integration.http_server import http_server

SOURCE_DIR = Path(__file__).parent
FILES = ("main.go", "go.mod", "go.sum")


def build() -> Path:
    """The ``srfake-server`` binary, built once per source version."""
    digest = hashlib.sha256(b"".join((SOURCE_DIR / name).read_bytes() for name in FILES)).hexdigest()[:16]
    folder = maven.cache_dir("srfake") / digest
    binary = folder / "srfake-server"
    if binary.is_file():
        return binary
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").is_file() else None)
    if go is None:
        raise RuntimeError("the Go toolchain ('go') is needed to build the schema registry emulation")
    with maven.exclusive_lock(folder / ".lock"):
        if not binary.is_file():
            result = subprocess.run([go, "build", "-o", str(binary.with_suffix(".tmp")), "."], cwd=SOURCE_DIR,
                                    capture_output=True, text=True, timeout=900, check=False)
            if result.returncode != 0:
                raise RuntimeError(f"building srfake-server failed (exit {result.returncode}):\n"
                                   f"{(result.stdout + result.stderr)[-4000:]}")
            os.replace(binary.with_suffix(".tmp"), binary)
    return binary


@contextmanager
def schema_registry(log_path: Path, user_info: str = "", timeout: float = 30) -> Iterator[str]:
    """A running, empty Confluent API emulation; yields its URL. With ``user_info`` ("user:password")
    every request must carry those Basic credentials."""
    binary = build()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    probe = urllib.request.Request(f"{url}/subjects")
    if user_info:
        probe.add_header("Authorization", "Basic " + base64.b64encode(user_info.encode()).decode())
    with http_server([str(binary), str(port), user_info], log_path, probe,
                     name="the schema registry emulation (srfake-server)", timeout=timeout, interval=0.1, grace=5):
        yield url
