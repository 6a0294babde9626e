"""Child-process plumbing shared by the broker wrappers: spawn with a log file, stop politely, show the log tail."""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from attain.embedded.ports import BrokerExitedError, wait_for_kafka


def spawn(
    argv: Sequence[str],
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` with stdout and stderr appended to ``log_path``.

    Output goes to a file, never a pipe, because nobody drains a pipe while the
    server runs and a full pipe would stall it. A new session keeps a terminal's
    Ctrl-C away from the child, so the Python side decides the shutdown order.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=None if env is None else dict(env),
            cwd=cwd,
            start_new_session=True,
        )


def terminate(process: subprocess.Popen[bytes], grace: float) -> None:
    """Send SIGTERM, wait up to ``grace`` seconds, then SIGKILL; always reap the child.

    SIGTERM lets the server flush and release its ports cleanly; SIGKILL is the
    backstop so a wedged server can never leave a test run hanging.
    """
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def log_tail(log_path: Path, max_lines: int = 40) -> str:
    """Return the last lines of a server log, for inclusion in start-up error messages."""
    try:
        with open(log_path, "rb") as log:
            log.seek(0, os.SEEK_END)
            size = log.tell()
            log.seek(max(0, size - 16_384))
            text = log.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return "<no log written>"
    return "\n".join(text.splitlines()[-max_lines:]) or "<log is empty>"


def _is_running(process: subprocess.Popen[bytes]) -> Callable[[], bool]:
    """Bind a liveness check to one process (avoids late-binding a loop variable in a lambda)."""
    return lambda: process.poll() is None


def launch_until_ready(
    launch: Callable[[], tuple[subprocess.Popen[bytes], str]],
    *,
    name: str,
    log_path: Path,
    timeout: float,
    grace: float,
    attempts: int = 3,
) -> tuple[subprocess.Popen[bytes], str]:
    """Run ``launch`` (which spawns a broker on fresh ports) until a Kafka client can use it.

    A retry covers the window in :func:`free_port` where another process grabs
    the port first: the broker then exits at once and we simply try new ports.
    A broker that stays up but never answers is not retried; it is a real fault.
    """
    deadline = time.monotonic() + timeout
    for attempt in range(1, attempts + 1):
        process, bootstrap = launch()
        try:
            wait_for_kafka(bootstrap, max(0.0, deadline - time.monotonic()), is_alive=_is_running(process))
            return process, bootstrap
        except BrokerExitedError:
            if attempt == attempts:
                raise BrokerExitedError(
                    f"{name} exited during start-up {attempts} times; last log lines from {log_path}:\n"
                    f"{log_tail(log_path)}"
                ) from None
        except TimeoutError as exc:
            terminate(process, grace)
            raise TimeoutError(
                f"{name} was not ready within {timeout:.1f}s of start(): {exc}\n"
                f"{name} log tail ({log_path}):\n{log_tail(log_path)}"
            ) from None
        except BaseException:  # e.g. Ctrl-C while waiting: do not orphan the half-started broker
            terminate(process, grace)
            raise
    raise AssertionError("unreachable")  # the loop always returns or raises


class ManagedServer:
    """A server started on entering a ``with`` block and stopped on leaving it."""

    def start(self) -> object:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class ManagedBroker(ManagedServer):
    """A Kafka-compatible broker child process: its bootstrap address while running, and a polite stop."""

    stop_grace: float = 5.0  # seconds between SIGTERM and SIGKILL

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._bootstrap: str | None = None

    @property
    def bootstrap(self) -> str:
        """The ``host:port`` to use as ``bootstrap.servers``; only valid while running."""
        if self._bootstrap is None:
            raise RuntimeError(f"{type(self).__name__} is not running; call start() first")
        return self._bootstrap

    def _running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _started(self, process: subprocess.Popen[bytes], bootstrap: str) -> str:
        """Record a broker that answers, stopped at interpreter exit unless stopped before; its bootstrap."""
        self._process, self._bootstrap = process, bootstrap
        atexit.register(self.stop)
        return bootstrap

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after ``stop_grace`` seconds). Safe to call repeatedly."""
        atexit.unregister(self.stop)
        if self._process is not None:
            terminate(self._process, self.stop_grace)
        self._process = None
        self._bootstrap = None
