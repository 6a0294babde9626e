"""Metrics every service shares: build info, HTTP calls (an aiohttp middleware) and gRPC calls (a
``grpc.aio`` server interceptor). One registry, prometheus-client's default, as for each service's own
``services/<name>/metrics.py``.

Label values stay bounded: an HTTP route is its template (``/v1/periods/{scope}/{period}``, never the
path a caller sent; ``unmatched`` for a path no route has), a gRPC method is one a servicer registered.
"""

from __future__ import annotations

import asyncio
import functools
import os
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
from aiohttp import web
from prometheus_client import Counter, Gauge, Histogram

import attain

BUILD_INFO = Gauge("attain_build_info", "Always 1: the running build's version and git commit", ["version", "commit"])

HTTP_REQUESTS = Counter(
    "attain_http_requests_total", "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"])
HTTP_SECONDS = Histogram(
    "attain_http_request_duration_seconds", "Time to answer an HTTP request, by route template, method and status",
    ["route", "method", "status"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))

GRPC_HANDLED = Counter(
    "attain_grpc_server_handled_total", "gRPC calls finished, by full method name and status code",
    ["method", "code"])
GRPC_SECONDS = Histogram(
    "attain_grpc_server_handling_seconds",
    "Time from a gRPC call's start to its end (a stream's whole life), by method and status code",
    ["method", "code"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 600))


@functools.cache
def build_commit() -> str:
    """``ATTAIN_BUILD_COMMIT`` (an image sets it at build time), else the checkout's HEAD, else ``unknown``."""
    if commit := os.environ.get("ATTAIN_BUILD_COMMIT", "").strip():
        return commit
    try:
        done = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=Path(__file__).parent,
                              capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"


def record_build_info() -> None:
    """Set ``attain_build_info{version,commit} 1``; every service calls it once at start-up."""
    BUILD_INFO.labels(attain.__version__, build_commit()).set(1)


def route_template(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def count_requests(request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Count and time every request by its route template, method and status."""
    started = time.perf_counter()
    status = 500  # an exception that is no HTTP answer: aiohttp answers 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as answer:
        status = answer.status
        raise
    finally:
        labels = (route_template(request), request.method, str(status))
        HTTP_REQUESTS.labels(*labels).inc()
        HTTP_SECONDS.labels(*labels).observe(time.perf_counter() - started)


def _code_name(context: Any, default: grpc.StatusCode) -> str:
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    if isinstance(code, int):  # grpc.aio may hold the code as its number
        return next((c.name for c in grpc.StatusCode if c.value[0] == code), default.name)
    return default.name


class ServerMetrics(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Counts and times every call of a ``grpc.aio`` server: ``grpc.aio.server(interceptors=[ServerMetrics()])``.

    The code is the status the call ended with: OK, the code a handler aborted with, CANCELLED when the
    caller went away, UNKNOWN for an exception the handler let out."""

    async def intercept_service(self, continuation: Callable[[Any], Awaitable[Any]], details: Any) -> Any:
        handler = await continuation(details)
        if handler is None:
            return None
        method = details.method
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _timed_unary(method, handler.unary_unary),
                request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                _timed_unary(method, handler.stream_unary),
                request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _timed_stream(method, handler.unary_stream),
                request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)
        return grpc.stream_stream_rpc_method_handler(
            _timed_stream(method, handler.stream_stream),
            request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)


def _observe(method: str, code: str, started: float) -> None:
    GRPC_HANDLED.labels(method, code).inc()
    GRPC_SECONDS.labels(method, code).observe(time.perf_counter() - started)


def _failed_code(error: BaseException, context: Any) -> str:
    if isinstance(error, (asyncio.CancelledError, GeneratorExit)):  # the caller went away
        return "CANCELLED"
    return _code_name(context, grpc.StatusCode.UNKNOWN)


def _timed_unary(method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
    async def timed(request: Any, context: Any) -> Any:
        started = time.perf_counter()
        try:
            response = await behavior(request, context)
        except BaseException as error:
            _observe(method, _failed_code(error, context), started)
            raise
        _observe(method, _code_name(context, grpc.StatusCode.OK), started)
        return response
    return timed


def _timed_stream(method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
    async def timed(request: Any, context: Any) -> AsyncIterator[Any]:
        started = time.perf_counter()
        try:
            produced = behavior(request, context)
            if hasattr(produced, "__aiter__"):
                async for item in produced:
                    yield item
            else:  # a handler that writes with context.write and returns
                await produced
        except BaseException as error:
            _observe(method, _failed_code(error, context), started)
            raise
        _observe(method, _code_name(context, grpc.StatusCode.OK), started)
    return timed
