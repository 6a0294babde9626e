"""``run_service``'s part after the build: serve the HTTP side, wait, stop in the declared order."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import httpx
from aiohttp import web

from attain.embedded.ports import free_port
from attain.platform.http import add_operational_routes
from attain.platform.service import Running, in_thread, serve

LOG = logging.getLogger("attain.test-service")


def _app(ready: bool) -> web.Application:
    app = web.Application()
    add_operational_routes(app, lambda: (ready, "ok" if ready else "not yet"))
    return app


async def _status(port: int, path: str) -> int:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"http://127.0.0.1:{port}{path}", timeout=5)).status_code


def test_a_service_serves_until_sigterm_then_stops_in_the_declared_order(caplog):
    port, steps, answers = free_port(), [], []

    async def build() -> Running:
        async def http_still_up() -> None:  # a before-step runs while the HTTP side still answers
            steps.append(("before", await _status(port, "/health/live")))

        async def sigterm_once_ready() -> None:
            answers.append(await _status(port, "/health/ready"))
            os.kill(os.getpid(), signal.SIGTERM)

        asyncio.get_running_loop().call_later(0.1, lambda: asyncio.ensure_future(sigterm_once_ready()))
        return Running(_app(True), "127.0.0.1", port, "test service up", {"port": port},
                       before_http_stop=[http_still_up, in_thread(steps.append, "joined")],
                       after_http_stop=[lambda: steps.append("after")], stopped="test service down")

    with caplog.at_level(logging.INFO, logger=LOG.name):
        asyncio.run(asyncio.wait_for(serve(LOG, build), 30))
    assert answers == [200]
    assert steps == [("before", 200), "joined", "after"]
    assert [record.getMessage() for record in caplog.records if record.name == LOG.name] == [
        "test service up", "test service down"]
    assert caplog.records[0].port == port


def test_a_service_stops_when_its_work_ends_or_its_worker_dies():
    stopped = []

    async def with_work() -> Running:
        async def work(stop: asyncio.Event) -> None:
            assert not stop.is_set()

        return Running(_app(True), "127.0.0.1", free_port(), "up", work=work,
                       after_http_stop=[lambda: stopped.append("work ended")])

    alive = iter([True, True, False])

    async def with_worker() -> Running:
        return Running(_app(False), "127.0.0.1", free_port(), "up", alive=lambda: next(alive),
                       after_http_stop=[lambda: stopped.append("worker died")])

    asyncio.run(asyncio.wait_for(serve(LOG, with_work), 30))
    asyncio.run(asyncio.wait_for(serve(LOG, with_worker), 30))
    assert stopped == ["work ended", "worker died"]
