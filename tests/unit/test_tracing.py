"""attain/platform/tracing.py: the exporter settings, and a batch span's parent or links from Kafka headers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from attain.platform import tracing


@pytest.mark.parametrize(("environ", "names"), [
    ({}, []),  # off by default
    ({"OTEL_TRACES_EXPORTER": "none"}, []),
    ({"OTEL_TRACES_EXPORTER": "otlp"}, ["otlp"]),
    ({"OTEL_TRACES_EXPORTER": "otlp, console", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, ["otlp", "console"]),
    ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, []),
])
def test_the_standard_variables_choose_the_exporters(environ, names):
    assert tracing.exporter_names(environ) == names


@pytest.mark.parametrize(("environ", "says"), [
    ({"OTEL_TRACES_EXPORTER": "jaeger"}, "names jaeger"),
    ({"OTEL_TRACES_EXPORTER": "none,otlp"}, "cannot be combined"),
    ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "http/protobuf only"),
])
def test_settings_attain_cannot_honour_are_refused_by_name(environ, says):
    with pytest.raises(tracing.TracingConfigError, match=says):
        tracing.exporter_names(environ)


def test_off_no_header_is_written_and_no_header_is_read():
    assert not tracing.enabled()
    assert tracing.kafka_headers() is None and tracing.traceparent() is None

    def never_read():
        raise AssertionError("headers read while tracing is off")
        yield

    with tracing.span("anything"), tracing.consumed("topic process", never_read()):
        assert tracing.kafka_headers() is None


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Tracing on, into memory (the module's state only: no global provider is installed)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))
    monkeypatch.setattr(tracing, "_enabled", True)
    yield exporter
    provider.shutdown()


def sent_in_a_trace(name: str) -> list[tuple[str, bytes]]:
    with tracing.span(name):
        headers = tracing.kafka_headers()
    assert headers is not None and headers[0][0] == "traceparent"
    return headers


def test_a_batch_of_one_trace_continues_it(spans):
    headers = sent_in_a_trace("request")
    with tracing.consumed("crm.changes process", [headers, dict(headers), None, [("other", b"x")]]):
        outputs = tracing.kafka_headers()
    request, batch = spans.get_finished_spans()
    assert batch.parent is not None and batch.parent.span_id == request.context.span_id
    assert batch.context.trace_id == request.context.trace_id and not batch.links
    assert batch.attributes["messaging.batch.message_count"] == 4 and batch.attributes["attain.traces_joined"] == 1
    assert outputs is not None and tracing.context_of(outputs).span_id == batch.context.span_id


def test_a_batch_joining_traces_starts_its_own_linked_to_each(spans):
    first, second = sent_in_a_trace("deal 1"), sent_in_a_trace("deal 2")
    with tracing.span("the caller's own span"), tracing.consumed("earnings process", [first, second, first]):
        pass
    deal1, deal2, batch, _caller = spans.get_finished_spans()
    assert batch.parent is None  # neither deal's trace, nor the context it was called in
    assert batch.context.trace_id not in (deal1.context.trace_id, deal2.context.trace_id)
    assert [link.context.span_id for link in batch.links] == [deal1.context.span_id, deal2.context.span_id]


def test_a_stored_traceparent_goes_back_out_as_a_header(spans):
    with tracing.span("approval"):
        stored = tracing.traceparent()
    (approval,) = spans.get_finished_spans()
    assert stored is not None and tracing.context_of(tracing.headers_of(stored)).span_id == approval.context.span_id
    assert tracing.headers_of(None) is None
