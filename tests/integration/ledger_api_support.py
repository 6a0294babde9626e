"""The ledger's HTTP API served in-process for the API tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web
from sqlalchemy import event

from attain.embedded.ports import free_port
from services.ledger.api import add_api_routes


@contextmanager
def serving_api(engine: Any, settings: Any, guard: Any) -> Iterator[str]:
    """The ledger's API routes on a free port, on an event loop in a thread of their own; yields the base URL."""
    port = free_port()
    loop = asyncio.new_event_loop()

    async def start() -> web.AppRunner:
        app = web.Application()
        add_api_routes(app, engine, settings, guard)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@contextmanager
def statements(engine: Any) -> Iterator[list[str]]:
    """The SQL statements ``engine`` runs inside the block."""
    ran: list[str] = []

    def note(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        ran.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield ran
    finally:
        event.remove(engine, "before_cursor_execute", note)
