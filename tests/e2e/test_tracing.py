"""Tracing: one deal posted to ingest is one trace through the calculator's two stages to the ledger's booking
(its statements included), and a period's payout lines go out in the trace of the approval that wrote them.

The services export OTLP over HTTP/protobuf to a small collector in this test (opentelemetry-proto decodes it).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from sqlalchemy.dialects.postgresql import insert

from attain.embedded.stack import Stack
from attain.platform import topics
from services.ledger.db import make_engine
from services.ledger.schema import participants
from tests.e2e.conftest import bearer, post, run_stack, totals_for, wait_until
from tests.e2e.test_pipeline import won_deal  # closes 2026-02-10: period 2026-Q1

SCOPE, PERIOD = "ae-test", "2026-Q1"
SERVER, PRODUCER, CONSUMER, CLIENT = 2, 4, 5, 3  # OTLP's Span.SpanKind values


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_id: str
    links: tuple[str, ...]  # the trace ids it links to
    attributes: dict[str, object]


class Collector:
    """An OTLP/HTTP receiver on loopback: every span the services export, decoded."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.requests = 0
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                collector.add(request)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._lock = threading.Lock()

    def add(self, request: ExportTraceServiceRequest) -> None:
        with self._lock:
            self.requests += 1
            for resource_spans in request.resource_spans:
                service = next(a.value.string_value for a in resource_spans.resource.attributes
                               if a.key == "service.name")
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self.spans.append(Span(
                            service, span.name, span.kind, span.trace_id.hex(), span.span_id.hex(),
                            span.parent_span_id.hex(), tuple(link.trace_id.hex() for link in span.links),
                            {a.key: a.value.string_value or a.value.int_value for a in span.attributes}))

    def snapshot(self) -> list[Span]:
        with self._lock:
            return list(self.spans)

    def __enter__(self) -> Collector:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def joined(spans: list[Span], trace_id: str) -> list[Span]:
    """The spans of ``trace_id`` and of every trace a batch started linked to it (transitively)."""
    traces, grown = {trace_id}, True
    while grown:
        more = {span.trace_id for span in spans if traces.intersection(span.links)} - traces
        traces |= more
        grown = bool(more)
    return [span for span in spans if span.trace_id in traces]


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    with Collector() as running:
        yield running


@pytest.fixture(scope="module")
def traced_stack(tmp_path_factory: pytest.TempPathFactory, pipeline_kafka_bootstrap: str, database_url: str,
                 collector: Collector) -> Iterator[Stack]:
    yield from run_stack(tmp_path_factory.mktemp("stack"), pipeline_kafka_bootstrap, database_url,
                         OTEL_TRACES_EXPORTER="otlp", OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
                         OTEL_BSP_SCHEDULE_DELAY="200")  # ms between exports: the spans arrive while we wait


def test_one_deal_is_one_trace_from_ingest_to_the_ledgers_booking(traced_stack: Stack, collector: Collector):
    earlier = {span.span_id for span in collector.snapshot()}  # the other test's request, when it ran first
    (response,) = post(traced_stack, [won_deal("006TRC0001", "t57", "100000.00")])
    assert response.status_code == 202, response.text
    wait_until(lambda: totals_for(traced_stack, {"t57"}) == {("t57", PERIOD): Decimal("5000.00")},
               what="the deal booked")

    def deal_trace() -> list[Span] | None:
        spans = collector.snapshot()
        requests = [s for s in spans if s.service == "attain-ingest" and s.kind == SERVER
                    and s.attributes.get("http.route", s.attributes.get("http.target")) == "/v1/events"
                    and s.span_id not in earlier]
        if len(requests) != 1:
            return None
        found = joined(spans, requests[0].trace_id)
        names = {(span.service, span.name) for span in found}
        wanted = {("attain-ingest", "crm.changes publish"), ("attain-calculator", "crm.changes process"),
                  ("attain-calculator", "calculator.credits process"), ("attain-ledger", "earnings process")}
        return found if wanted <= names else None

    wait_until(deal_trace, timeout=30, what="the deal's spans in ingest, calculator and ledger")
    found = deal_trace()
    assert found is not None
    request = next(s for s in found if s.service == "attain-ingest" and s.kind == SERVER)
    assert request.parent_id == ""  # the HTTP request starts the deal's trace
    by_name = {span.name: span for span in found}
    publish, stage1 = by_name["crm.changes publish"], by_name["crm.changes process"]
    stage2, booking = by_name["calculator.credits process"], by_name["earnings process"]
    assert (publish.kind, publish.parent_id) == (PRODUCER, request.span_id)
    # One deal alone in each batch: every hop continues the request's trace, each the child of the one before
    assert stage1.parent_id == publish.span_id and stage1.kind == CONSUMER
    assert stage2.parent_id == stage1.span_id and booking.parent_id == stage2.span_id
    assert {span.trace_id for span in (publish, stage1, stage2, booking)} == {request.trace_id}
    statements = [s for s in found if s.parent_id == booking.span_id and s.kind == CLIENT]
    assert statements and all(s.attributes.get("db.system") == "postgresql" for s in statements), statements


def payout_headers(bootstrap: str, key: str) -> dict[str, bytes]:
    """The Kafka headers of payout line ``key`` (read from every partition's start, no group to join)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"payroll-{uuid.uuid4()}",
                         "enable.auto.commit": False})
    partitions = consumer.list_topics(topics.PAYOUTS, timeout=10).topics[topics.PAYOUTS].partitions
    consumer.assign([TopicPartition(topics.PAYOUTS, partition, OFFSET_BEGINNING) for partition in partitions])
    found: dict[str, dict[str, bytes]] = {}

    def read() -> bool:
        for message in consumer.consume(100, 0.5):
            if not message.error():
                found[message.key().decode()] = dict(message.headers() or [])
        return key in found

    try:
        wait_until(read, timeout=30, what=f"payout line {key}")
    finally:
        consumer.close()
    return found[key]


def test_payout_lines_go_out_in_the_trace_of_the_approval_that_wrote_them(traced_stack: Stack,
                                                                           collector: Collector):
    (response,) = post(traced_stack, [won_deal("006TRC0002", "t58", "40000.00")])
    assert response.status_code == 202, response.text
    wait_until(lambda: totals_for(traced_stack, {"t58"}) == {("t58", PERIOD): Decimal("2000.00")},
               what="the deal booked")
    engine = make_engine(traced_stack.database_url or "")
    with engine.begin() as connection:  # the org: mgr manages both reps
        connection.execute(insert(participants).on_conflict_do_nothing(), [
            {"rep_id": rep, "region": "IN-North", "manager_id": "mgr"} for rep in ("t57", "t58")])
    engine.dispose()
    api = httpx.Client(base_url=f"http://127.0.0.1:{traced_stack.services['ledger'].port}", timeout=30)
    locked = api.post(f"/v1/periods/{SCOPE}/{PERIOD}/lock", headers=bearer(traced_stack, "prep", ["comp_admin"], ["*"]))
    assert locked.json() == {"state": "locked"}, locked.text
    for user, role in (("mgr", "manager"), ("admin", "comp_admin"), ("fin", "finance")):
        decision = api.post(f"/v1/periods/{SCOPE}/{PERIOD}/approvals", json={"approve": True, "comment": role},
                            headers=bearer(traced_stack, user, [role], ["*"]))
        assert decision.status_code == 200, decision.text
    assert decision.json()["state"] == "approved"

    headers = payout_headers(traced_stack.kafka_bootstrap, f"{SCOPE}/{PERIOD}/t58/INR")
    _, trace_id, parent_id, _ = headers["traceparent"].decode().split("-")

    def approval_and_relay() -> tuple[Span, Span] | None:
        spans = collector.snapshot()
        approval = next((s for s in spans if s.span_id == parent_id and s.service == "attain-ledger"), None)
        relay = next((s for s in spans if s.name == "outbox publish" and s.trace_id == trace_id), None)
        return (approval, relay) if approval and relay else None

    wait_until(approval_and_relay, timeout=30, what="the approval's and the relay's spans")
    found = approval_and_relay()
    assert found is not None
    approval, relay = found
    assert approval.kind == SERVER and approval.trace_id == trace_id  # the line carries the approving request
    assert approval.attributes.get("http.route", approval.attributes.get("http.target", "")).endswith("/approvals")
    assert relay.parent_id == approval.span_id and relay.kind == PRODUCER
