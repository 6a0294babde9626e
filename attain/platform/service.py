"""One start-up for every service: JSON logs, settings, signals, the HTTP side, an orderly stop.

A service's ``main`` is a declaration::

    def main() -> None:
        run_service("ingest", build)

where ``build`` (a coroutine, run on the service's event loop) loads its settings, starts
its own parts (threads, gRPC servers, producers) and returns a :class:`Running` naming its
HTTP application (with ``/metrics`` and ``/health/*`` from ``attain.platform.http``), its
address and how to stop it. ``run_service`` then serves that application, logs the start
line, waits for SIGINT or SIGTERM (or for the service's own work to end), and runs the stop
steps in order around closing the HTTP side.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from attain.platform.http import start_http
from attain.platform.kafka import MissingTopicsError
from attain.platform.logs import configure_logging
from attain.platform.settings import ServiceSettings
from attain.platform.tracing import TracingConfigError
from attain.platform.tracing import configure as configure_tracing

Step = Callable[[], Any]  # a stop step: a plain call, or one returning an awaitable (awaited in turn)


@dataclass(frozen=True)
class Running:
    """A started service's parts, as ``run_service`` needs them."""

    app: web.Application  # its HTTP side, operational routes included
    host: str
    port: int
    started: str  # the log line once it serves, e.g. "ingest listening"
    started_extra: Mapping[str, Any] = field(default_factory=dict)
    # Its main work, run until it returns (the service then stops) or ``stop`` is set by a signal.
    work: Callable[[asyncio.Event], Awaitable[None]] | None = None
    # Checked every second while waiting: the service stops once it says False (a worker thread died).
    alive: Callable[[], bool] | None = None
    before_http_stop: Sequence[Step] = ()  # in order, before the HTTP side closes
    after_http_stop: Sequence[Step] = ()  # in order, after it closed
    stopped: str | None = None  # the log line once stopped


def start_logging(name: str) -> ServiceSettings:
    """JSON logs for service ``name`` at ``ATTAIN_LOG_LEVEL``; the first thing every service does."""
    service = ServiceSettings()
    configure_logging(name, service.log_level)
    return service


def run_service(name: str, build: Callable[[], Awaitable[Running]], *, logger: str | None = None) -> None:
    """Run service ``name`` from start-up to an orderly stop; its start and stop lines go to ``logger``
    (default ``attain.<name>``)."""
    start_logging(name)
    log = logging.getLogger(logger or f"attain.{name}")
    try:
        configure_tracing(name)  # before ``build`` makes its HTTP application and database engine
    except TracingConfigError as error:
        log.critical("refusing to start: %s", error)
        raise SystemExit(2) from None
    try:
        asyncio.run(serve(log, build))
    except MissingTopicsError as error:  # never ready: the pod's readiness fails, the log says which topics
        log.critical("refusing to start: %s", error, extra={"missing_topics": error.missing})
        raise SystemExit(2) from None


async def serve(log: logging.Logger, build: Callable[[], Awaitable[Running]]) -> None:
    """``run_service`` on the running event loop, without setting up logging (the loop must be the main
    thread's: it handles SIGINT and SIGTERM)."""
    running = await build()
    runner = await start_http(running.app, running.host, running.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info(running.started, extra=dict(running.started_extra))
    try:
        if running.work is not None:
            await running.work(stop)
        else:
            await _until_stopped(stop, running.alive)
    finally:
        await _run_steps(running.before_http_stop)
        await runner.cleanup()
        await _run_steps(running.after_http_stop)
        if running.stopped:
            log.info(running.stopped)


async def _until_stopped(stop: asyncio.Event, alive: Callable[[], bool] | None) -> None:
    if alive is None:
        await stop.wait()
        return
    while not stop.is_set() and alive():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1)


async def _run_steps(steps: Sequence[Step]) -> None:
    for step in steps:
        result = step()
        if inspect.isawaitable(result):
            await result


def in_thread(call: Callable[..., Any], *args: Any) -> Step:
    """A stop step running a blocking ``call(*args)`` (a thread's ``join``) off the event loop."""
    return lambda: asyncio.get_running_loop().run_in_executor(None, call, *args)
