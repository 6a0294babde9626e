"""The shared metrics (attain/platform/metrics.py) appear with the right labels after a call: HTTP requests
through a real aiohttp server, gRPC calls through a real grpc.aio server, the build info; and the notifier's
subscribers gauge follows its hub."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from prometheus_client import REGISTRY

import attain
from attain.platform.http import add_operational_routes
from attain.platform.metrics import ServerMetrics
from services.notifier.hub import Hub


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_http_requests_are_counted_by_route_template_method_and_status():
    async def thing(request: web.Request) -> web.Response:
        if request.match_info["thing_id"] == "missing":
            raise web.HTTPNotFound(text="no such thing")
        return web.json_response({"id": request.match_info["thing_id"]})

    async def scenario() -> None:
        app = web.Application()
        add_operational_routes(app, lambda: (True, "ok"))
        app.router.add_get("/v1/things/{thing_id}", thing)
        async with TestClient(TestServer(app)) as client:
            assert (await client.get("/v1/things/a1")).status == 200
            assert (await client.get("/v1/things/b2")).status == 200
            assert (await client.get("/v1/things/missing")).status == 404
            assert (await client.get("/nowhere")).status == 404
            metrics_page = await (await client.get("/metrics")).text()
        assert 'attain_build_info{commit="' in metrics_page
        assert f'version="{attain.__version__}"' in metrics_page

    ok = dict(route="/v1/things/{thing_id}", method="GET", status="200")
    missing = dict(ok, status="404")
    unmatched = dict(route="unmatched", method="GET", status="404")
    before = [value("attain_http_requests_total", **ok), value("attain_http_requests_total", **missing),
              value("attain_http_requests_total", **unmatched),
              value("attain_http_request_duration_seconds_count", **ok)]
    asyncio.run(scenario())
    after = [value("attain_http_requests_total", **ok), value("attain_http_requests_total", **missing),
             value("attain_http_requests_total", **unmatched),
             value("attain_http_request_duration_seconds_count", **ok)]
    assert [b - a for a, b in zip(before, after, strict=True)] == [2, 1, 1, 2]
    assert value("attain_build_info", version=attain.__version__, commit=next(
        s.labels["commit"] for f in REGISTRY.collect() if f.name == "attain_build_info" for s in f.samples)) == 1


CHECK = "/grpc.health.v1.Health/Check"
WATCH = "/grpc.health.v1.Health/Watch"


def test_grpc_calls_are_counted_and_timed_by_method_and_code():
    async def scenario() -> None:
        server = grpc.aio.server(interceptors=[ServerMetrics()])
        health = health_aio.HealthServicer()
        await health.set("attain.Known", health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(health, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                await stub.Check(health_pb2.HealthCheckRequest(service="attain.Known"))
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await stub.Check(health_pb2.HealthCheckRequest(service="attain.Unknown"))
                assert refused.value.code() == grpc.StatusCode.NOT_FOUND
                watch = stub.Watch(health_pb2.HealthCheckRequest(service="attain.Known"))
                first = await watch.read()
                assert first.status == health_pb2.HealthCheckResponse.SERVING
                watch.cancel()  # the caller goes away: the stream ends CANCELLED
                for _ in range(200):  # the server sees the cancellation a moment later
                    if value("attain_grpc_server_handled_total", method=WATCH, code="CANCELLED") > watched:
                        break
                    await asyncio.sleep(0.01)
        finally:
            await server.stop(None)

    checked_ok = value("attain_grpc_server_handled_total", method=CHECK, code="OK")
    not_found = value("attain_grpc_server_handled_total", method=CHECK, code="NOT_FOUND")
    timed = value("attain_grpc_server_handling_seconds_count", method=CHECK, code="OK")
    watched = value("attain_grpc_server_handled_total", method=WATCH, code="CANCELLED")
    asyncio.run(scenario())
    assert value("attain_grpc_server_handled_total", method=CHECK, code="OK") == checked_ok + 1
    assert value("attain_grpc_server_handled_total", method=CHECK, code="NOT_FOUND") == not_found + 1
    assert value("attain_grpc_server_handling_seconds_count", method=CHECK, code="OK") == timed + 1
    assert value("attain_grpc_server_handled_total", method=WATCH, code="CANCELLED") == watched + 1


def test_the_notifier_subscribers_gauge_follows_open_streams():
    async def scenario() -> list[float]:
        hub = Hub(queue_size=4)
        seen = [value("attain_notifier_subscribers")]
        first, second = hub.subscribe("rep-a"), hub.subscribe("rep-b")
        seen.append(value("attain_notifier_subscribers"))
        hub.unsubscribe("rep-a", first)
        hub.unsubscribe("rep-a", first)  # twice: counted once
        seen.append(value("attain_notifier_subscribers"))
        hub.unsubscribe("rep-b", second)
        seen.append(value("attain_notifier_subscribers"))
        return seen

    start, *rest = asyncio.run(scenario())
    assert [v - start for v in rest] == [2, 1, 0]
