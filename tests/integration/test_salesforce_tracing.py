"""Tracing of the Salesforce door: a fetched batch of change events starts a trace, and the records it publishes to
``crm.changes`` carry it (W3C traceparent headers), so the calculator and the ledger continue it."""

from __future__ import annotations

import uuid

from opentelemetry.trace import SpanKind

from attain.platform import topics, tracing
from attain.platform.avro import contract
from attain.platform.reading import read_until_idle
from tests.fakes.cdc_events import OPPORTUNITY_SCHEMA, OPPORTUNITY_SCHEMA_ID, encode, opportunity_event
from tests.fakes.pubsub_server import FakeSalesforce
from tests.integration.salesforce_support import changes_with_prefix, rsa_key_pair, run_subscriber
from tests.polling import budget
from tests.unit.test_tracing import spans  # noqa: F401 - the fixture: tracing on, into memory

PRIVATE_KEY, PUBLIC_KEY = rsa_key_pair()


def test_a_salesforce_batch_starts_a_trace_its_records_carry(spans, kafka_bootstrap, tmp_path):  # noqa: F811
    prefix, channel = f"006T{uuid.uuid4().hex[:8].upper()}", "/data/OpportunityChangeEvent"
    with FakeSalesforce(PUBLIC_KEY, max_batch=25) as sf:
        sf.pubsub.append(channel, OPPORTUNITY_SCHEMA_ID, [encode(OPPORTUNITY_SCHEMA, opportunity_event(
            [f"{prefix}{n}"], "UPDATE", values={"Amount": 1000.0 + n}, transaction_key=f"{prefix}-{n}"))
            for n in range(3)])
        run_subscriber(sf, kafka_bootstrap, PRIVATE_KEY, channel, tmp_path / "replay.json",
                       until=lambda: len(changes_with_prefix(kafka_bootstrap, prefix)) >= 3)

    finished = spans.get_finished_spans()
    (batch,) = [span for span in finished if span.name == "salesforce events"]
    (publish,) = [span for span in finished if span.name == "crm.changes publish"
                  and span.parent is not None and span.parent.span_id == batch.context.span_id]
    assert batch.parent is None and batch.kind == SpanKind.CONSUMER  # a new trace per fetched batch
    assert batch.attributes["messaging.source.name"] == channel
    assert publish.kind == SpanKind.PRODUCER and publish.attributes["messaging.batch.message_count"] == 3
    carried = [tracing.context_of(message.headers())
               for message in read_until_idle(kafka_bootstrap, topics.CRM_CHANGES, timeout=budget(60))
               if contract(topics.CRM_CHANGES).decode(message.value())["record_id"].startswith(prefix)]
    assert len(carried) == 3
    assert {(found.trace_id, found.span_id) for found in carried if found is not None} == {
        (publish.context.trace_id, publish.context.span_id)}
    assert None not in carried
