"""Keeps a stack's services running: a service process that exits is started again, with backoff.

Used by ``attain run``. Each service has a watcher thread; when its process exits
(crash, OOM kill, ``kill -9``) the watcher waits a backoff (tenacity's exponential
with jitter: about 1 s, doubling up to 30 s) and starts it again. A run that lasted
``healthy_after`` seconds resets the backoff, so an occasional crash restarts at
once and a crash loop slows down. Every exit and restart is written as a JSON line
to ``supervisor.log`` and handed to ``notify`` (the CLI prints it).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential_jitter


class _Exited(Exception):
    def __init__(self, code: int | None, uptime: float) -> None:
        super().__init__(f"exited with code {code} after {uptime:.1f}s")
        self.code = code
        self.uptime = uptime


class _ExitedAfterHealthyRun(_Exited):
    """Not retried by the current backoff: the watcher starts a fresh one (the delay is back to the first)."""


def _crash_loop(error: BaseException) -> bool:
    return isinstance(error, _Exited) and not isinstance(error, _ExitedAfterHealthyRun)


class Supervisor:
    def __init__(
        self,
        names: tuple[str, ...],
        process_of: Callable[[str], subprocess.Popen[bytes] | None],
        restart: Callable[[str], None],
        log_path: Path,
        notify: Callable[[str], None] | None = None,
        initial_backoff: float = 1.0,
        max_backoff: float = 30.0,
        healthy_after: float = 60.0,
    ) -> None:
        self._names = names
        self._process_of = process_of
        self._restart = restart
        self._log_path = log_path
        self._notify = notify
        self._initial = initial_backoff
        self._max = max_backoff
        self._healthy_after = healthy_after
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._needs_start = dict.fromkeys(names, False)
        self.restarts = dict.fromkeys(names, 0)
        self._threads = [threading.Thread(target=self._watch, args=(name,), name=f"supervise-{name}", daemon=True)
                         for name in names]

    def start(self) -> Supervisor:
        self._write({"time": datetime.now(UTC).isoformat(), "level": "INFO", "logger": "attain.supervisor",
                     "message": f"supervising {', '.join(self._names)}", "service_name": "supervisor"})
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop watching (a restart under way finishes first); the processes themselves are left to the caller."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _watch(self, name: str) -> None:
        while not self._stopping.is_set():
            retrying = Retrying(
                retry=retry_if_exception(_crash_loop),
                wait=wait_exponential_jitter(multiplier=self._initial, max=self._max, jitter=self._initial / 5),
                sleep=self._sleep,
                before_sleep=partial(self._announce_exit, name),
                stop=lambda _: self._stopping.is_set(),
                reraise=True,
            )
            try:
                retrying(self._run_once, name)
            except _ExitedAfterHealthyRun as exited:
                self._event(name, "exited; restarting now", exit_code=exited.code,
                            uptime_seconds=round(exited.uptime, 1), restart_in_seconds=0)
            except _Exited:
                return  # stopping

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)  # a stop cuts the backoff short

    def _run_once(self, name: str) -> None:
        """Start the service if it is down, then wait until it exits (raises) or the supervisor stops (returns)."""
        if self._needs_start[name]:
            with self._lock:
                if self._stopping.is_set():
                    return
                self._restart(name)
                self.restarts[name] += 1
            self._event(name, "restarted", restarts=self.restarts[name])
            self._needs_start[name] = False
        process = self._process_of(name)
        started = time.monotonic()
        while process is not None and process.poll() is None:
            if self._stopping.wait(0.2):
                return
        if self._stopping.is_set():
            return
        self._needs_start[name] = True
        code = process.returncode if process is not None else None
        uptime = time.monotonic() - started
        raise (_ExitedAfterHealthyRun if uptime >= self._healthy_after else _Exited)(code, uptime)

    def _announce_exit(self, name: str, state: RetryCallState) -> None:
        exited = state.outcome.exception() if state.outcome is not None else None
        assert isinstance(exited, _Exited)
        self._event(name, f"exited; restarting in {state.upcoming_sleep:.1f}s", exit_code=exited.code,
                    uptime_seconds=round(exited.uptime, 1), restart_in_seconds=round(state.upcoming_sleep, 2),
                    attempt=state.attempt_number)

    def _write(self, record: dict[str, Any]) -> None:
        with self._lock, open(self._log_path, "a") as log:
            log.write(json.dumps(record) + "\n")

    def _event(self, name: str, what: str, **fields: Any) -> None:
        self._write({"time": datetime.now(UTC).isoformat(), "level": "WARNING" if "exited" in what else "INFO",
                     "logger": "attain.supervisor", "message": f"{name} {what}", "service_name": name, **fields})
        if self._notify is not None:
            code = f" (exit code {fields['exit_code']})" if "exit_code" in fields else ""
            self._notify(f"supervisor: {name} {what}{code}")
