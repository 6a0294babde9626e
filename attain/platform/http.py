"""The HTTP side every service has: ``/metrics``, ``/health/live``, ``/health/ready``, and its requests counted
(``attain_http_requests_total``, ``attain_http_request_duration_seconds``)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from attain.platform.metrics import count_requests, record_build_info

ReadyCheck = Callable[[], tuple[bool, str]]


def add_operational_routes(app: web.Application, ready: ReadyCheck) -> None:
    """The operational routes, the request metrics (outermost middleware: it sees the final status of every
    route of ``app``) and the build info."""
    record_build_info()
    app.middlewares.insert(0, count_requests)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def live(_: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def readiness(_: web.Request) -> web.Response:
        ok, detail = ready()
        return web.json_response(
            {"status": "ready" if ok else "not ready", "detail": detail}, status=200 if ok else 503
        )

    app.router.add_get("/metrics", metrics)
    app.router.add_get("/health/live", live)
    app.router.add_get("/health/ready", readiness)


async def start_http(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
