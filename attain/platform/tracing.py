"""OpenTelemetry tracing: its one set-up, and a trace carried through Kafka headers.

Off by default. ``configure(service)`` reads the standard variables: ``OTEL_TRACES_EXPORTER``
(``none`` when unset, ``otlp`` for OTLP over HTTP/protobuf to ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, ``console`` for JSON on standard output), ``OTEL_SDK_DISABLED``,
``OTEL_SERVICE_NAME`` (else ``attain-<service>``), ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``
and the batch processor's ``OTEL_BSP_*``. While off, nothing is installed and every helper here returns
at once: no span, no header.

On, it installs the SDK's tracer provider and the maintained instrumentations that fit Attain's
clients: aiohttp's server (a span per HTTP request, ``/metrics`` and ``/health/*`` left out unless
``OTEL_PYTHON_AIOHTTP_SERVER_EXCLUDED_URLS`` says otherwise), gRPC's asyncio server, and SQLAlchemy
engines passed to :func:`traced_engine` (psycopg's traced cursors: a span per statement).

Kafka is propagated here, by hand, with the W3C ``traceparent`` header: a producing batch writes its
span's context on every message (:func:`kafka_headers`), and a consuming batch opens one span
(:func:`consumed`) that continues the trace when all its records carry one trace, and else starts its
own trace linked to each record's context. A span per batch, not per record: the calculator handles
thousands of records a second in batches, and its outputs of a batch mix the records' effects.
opentelemetry-instrumentation-confluent-kafka does not fit: its producer proxy opens a span per
message (the calculator's changelog records and seals included), its consumer span is always a new
trace and ends at the next ``consume`` call (the ledger keeps polling while it waits out a database
outage), and the calculator reads with aiokafka inside faust, which it does not cover.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Link, SpanContext, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

EXPORTERS = ("none", "otlp", "console")
# The operational routes every service serves: polled every few seconds, never part of a deal's trace.
DEFAULT_EXCLUDED_URLS = "/metrics,/health/.*"
MAX_LINKS = 128  # the SDK's default OTEL_SPAN_LINK_COUNT_LIMIT: a batch joining more traces links the first ones

Headers = Sequence[tuple[str, bytes | str | None]] | Mapping[str, bytes | str | None] | None

_propagator = TraceContextTextMapPropagator()
_tracer: trace.Tracer = trace.NoOpTracer()
_enabled = False


class TracingConfigError(ValueError):
    """``OTEL_*`` settings Attain cannot honour (the service refuses to start, naming them)."""


def enabled() -> bool:
    return _enabled


def exporter_names(environ: Mapping[str, str] | None = None) -> list[str]:
    """The exporters ``OTEL_TRACES_EXPORTER`` names (comma-separated); ``[]`` when tracing is off."""
    environ = os.environ if environ is None else environ
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = [name.strip().lower() for name in environ.get("OTEL_TRACES_EXPORTER", "none").split(",") if name.strip()]
    unknown = sorted(set(names) - set(EXPORTERS))
    if unknown:
        raise TracingConfigError(f"OTEL_TRACES_EXPORTER names {', '.join(unknown)}; Attain ships "
                                 f"{', '.join(EXPORTERS)} (docs/operations.md, Tracing)")
    if "none" in names and len(names) > 1:
        raise TracingConfigError("OTEL_TRACES_EXPORTER=none cannot be combined with another exporter")
    protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if "otlp" in names and protocol not in (None, "", "http/protobuf"):
        raise TracingConfigError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol}: Attain's OTLP exporter speaks "
                                 "http/protobuf only (a collector's port 4318)")
    return [name for name in names if name != "none"]


def configure(service: str) -> bool:
    """Set up tracing for ``service`` from the environment (see the module's text); True when on.

    Call it once, first thing, before the service builds its HTTP application and database engine.
    """
    global _tracer, _enabled
    names = exporter_names()
    if not names or _enabled:
        return _enabled
    from opentelemetry.instrumentation.aiohttp_server import AioHttpServerInstrumentor
    from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorServer
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: f"attain-{service}"}
    provider = TracerProvider(resource=Resource.create(attributes))  # shut down (flushed) at exit
    for name in names:
        exporter: SpanExporter
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()  # endpoint, headers, timeout, TLS: the OTEL_EXPORTER_OTLP_* variables
        else:
            exporter = ConsoleSpanExporter(out=sys.stdout)
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    os.environ.setdefault("OTEL_PYTHON_AIOHTTP_SERVER_EXCLUDED_URLS", DEFAULT_EXCLUDED_URLS)
    AioHttpServerInstrumentor().instrument(tracer_provider=provider)
    GrpcAioInstrumentorServer().instrument(tracer_provider=provider)
    _tracer = provider.get_tracer("attain")
    _enabled = True
    return True


def traced_engine(engine: Any) -> Any:
    """``engine`` (SQLAlchemy on psycopg 3) with a span per statement when tracing is on; itself either way.

    Each new psycopg connection of its pool gets opentelemetry-instrumentation-psycopg's traced cursors.
    Not opentelemetry-instrumentation-sqlalchemy: it declares SQLAlchemy < 2.1, and on 2.1 its set-up imports
    SQLAlchemy's asyncio extension, which needs greenlet (not installed: Attain's database access is sync)."""
    if _enabled:
        from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
        from sqlalchemy import event

        def traced(connection: Any, _record: Any) -> None:
            PsycopgInstrumentor.instrument_connection(connection, tracer_provider=trace.get_tracer_provider())

        event.listen(engine, "connect", traced)
    return engine


@contextlib.contextmanager
def span(name: str, kind: SpanKind = SpanKind.INTERNAL, **attributes: Any) -> Iterator[None]:
    """A span of the current trace (a new trace when there is none) around the block; nothing when off."""
    if not _enabled:
        yield
        return
    with _tracer.start_as_current_span(name, kind=kind, attributes=attributes):
        yield


def _carrier() -> dict[str, str] | None:
    if not _enabled or not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier


def kafka_headers() -> list[tuple[str, bytes]] | None:
    """The current span's context as Kafka headers (``traceparent``, ``tracestate``); None when off or outside
    a span."""
    carrier = _carrier()
    return None if carrier is None else [(key, value.encode()) for key, value in carrier.items()]


def traceparent() -> str | None:
    """The current span's W3C ``traceparent``, to store beside a row another process publishes later (the
    ledger's outbox); None when off or outside a span."""
    carrier = _carrier()
    return None if carrier is None else carrier.get("traceparent")


def headers_of(stored: str | None) -> list[tuple[str, bytes]] | None:
    """Kafka headers carrying a stored :func:`traceparent` (None for None)."""
    return None if stored is None else [("traceparent", stored.encode())]


class _HeaderGetter(Getter[Any]):
    """Reads Kafka headers as either client gives them: (key, bytes) pairs or a mapping."""

    def get(self, carrier: Any, key: str) -> list[str] | None:
        pairs = carrier.items() if isinstance(carrier, Mapping) else carrier
        values = [value.decode(errors="replace") if isinstance(value, bytes) else value
                  for name, value in pairs if name == key and value is not None]
        return values or None

    def keys(self, carrier: Any) -> list[str]:
        return [name for name, _ in (carrier.items() if isinstance(carrier, Mapping) else carrier)]


_getter = _HeaderGetter()


def context_of(headers: Headers) -> SpanContext | None:
    """The span context a message's headers carry, if any."""
    if not headers:
        return None
    carried = trace.get_current_span(_propagator.extract(headers, getter=_getter)).get_span_context()
    return carried if carried.is_valid else None


def _raw_traceparent(headers: Headers) -> bytes | str | None:
    if not headers:
        return None
    if isinstance(headers, Mapping):
        return headers.get("traceparent")
    return next((value for name, value in headers if name == "traceparent"), None)


@contextlib.contextmanager
def consumed(name: str, headers: Iterable[Headers], kind: SpanKind = SpanKind.CONSUMER,
             **attributes: Any) -> Iterator[None]:
    """One span (CONSUMER unless ``kind`` says otherwise) around handling a batch of records whose headers are
    ``headers``.

    All the records carry one span context: the span is its child (the deal's trace goes on). Several:
    the span starts a trace of its own, linked to each (the first :data:`MAX_LINKS`; ``attain.traces_joined``
    counts at most one more). None: a new trace. Nothing when tracing is off (``headers`` is then not read)."""
    if not _enabled:
        yield
        return
    parsed: dict[bytes | str, SpanContext | None] = {}  # each distinct traceparent parsed once (~30 µs a parse)
    count = 0
    for each in headers:
        count += 1
        raw = _raw_traceparent(each)
        if raw is not None and raw not in parsed and len(parsed) <= MAX_LINKS:  # more would not be linked
            parsed[raw] = context_of(each)
    carried = {(found.trace_id, found.span_id): found for found in parsed.values() if found is not None}
    contexts = list(carried.values())
    parent = otel_context.Context()  # never the context the caller happens to be in
    links: list[Link] = []
    if len(contexts) == 1:
        parent = trace.set_span_in_context(trace.NonRecordingSpan(contexts[0]), parent)
    else:
        links = [Link(found) for found in contexts[:MAX_LINKS]]
    with _tracer.start_as_current_span(name, context=parent, kind=kind, links=links,
                                       attributes={"messaging.batch.message_count": count,
                                                   "attain.traces_joined": len(contexts), **attributes}):
        yield
