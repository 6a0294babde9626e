"""A test tool's HTTP server as a child process: started, waited for until it answers, always stopped."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from attain.embedded._process import log_tail, spawn, terminate
from tests.polling import wait_until


@contextmanager
def http_server(argv: Sequence[str], log_path: Path, probe: urllib.request.Request, *, name: str,
                timeout: float, interval: float, grace: float, cwd: Path | None = None) -> Iterator[None]:
    """Run ``argv`` (output to ``log_path``) until the block ends; the block starts once ``probe`` is answered.

    A server that exits while starting raises at once, with its log's tail; one that never answers raises
    when ``timeout`` has passed. It is stopped (SIGTERM, SIGKILL after ``grace`` seconds) in either case.
    """
    process = spawn(argv, log_path, cwd=cwd)

    def answers() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited; log {log_path}:\n{log_tail(log_path)}")
        try:
            with urllib.request.urlopen(probe, timeout=2):
                return True
        except (urllib.error.URLError, OSError):
            return False

    try:
        wait_until(answers, timeout=timeout, what=f"{name} to answer", interval=interval)
        yield
    finally:
        terminate(process, grace=grace)
