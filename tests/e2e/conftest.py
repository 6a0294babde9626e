"""One whole pipeline per test module: the real broker and database from tests/conftest.py,
the four services as processes. Tests use their own reps and record ids, so they
can share it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition

from attain.core.plans import PlanBook
from attain.embedded.stack import Stack
from attain.planfiles import load_book
from attain.platform import topics
from attain.platform.avro import contract
from services.ledger.db import ledger_totals, make_engine
from tests.polling import budget, deadline_in, wait_until  # noqa: F401 (the e2e modules import it from here)

PLANS = Path(__file__).with_name("plans.yaml")


@pytest.fixture(scope="module")
def book() -> PlanBook:
    return load_book([PLANS])


def run_stack(
    workdir: Path, pipeline_kafka_bootstrap: str, database_url: str, plans_file: Path = PLANS, **extra_env: str
) -> Iterator[Stack]:
    """The whole pipeline on the test broker and database, with consumer groups of its own."""
    run = uuid.uuid4().hex[:8]
    pipeline = Stack(
        workdir=workdir,
        plans_file=plans_file,
        kafka_bootstrap=pipeline_kafka_bootstrap,
        database_url=database_url,
        extra_env={
            "ATTAIN_CALCULATOR_APP_ID": f"attain-calculator-{run}",
            "ATTAIN_LEDGER_GROUP_ID": f"attain-ledger-{run}",
            "ATTAIN_NOTIFIER_GROUP_ID": f"attain-notifier-{run}",
            "ATTAIN_PORTAL_GROUP_ID": f"attain-portal-{run}",
            "ATTAIN_NOTIFIER_MILESTONES_GROUP_ID": f"attain-notifier-milestones-{run}",
            # every e2e sign-in comes from 127.0.0.1; the per-address limit itself is tested in
            # tests/integration/test_portal_live_feed.py
            "ATTAIN_PORTAL_LOGIN_RATE": "600/minute",
            **extra_env,
        },
    )
    pipeline.start(timeout=budget(120))
    yield pipeline
    pipeline.stop()


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, pipeline_kafka_bootstrap: str, database_url: str
) -> Iterator[Stack]:
    yield from run_stack(tmp_path_factory.mktemp("stack"), pipeline_kafka_bootstrap, database_url)


def bearer(stack: Stack, subject: str, roles: Sequence[str] = ("rep",), regions: Sequence[str] = ()) -> dict[str, str]:
    """A person's token from the stack's own issuer, minted in-process with its key files."""
    from services.issuer.directory import mint_token

    assert stack.issuer is not None
    token = mint_token(stack.issuer.data_dir, stack.issuer.url, stack.issuer.audience, subject,
                       roles=list(roles), regions=list(regions))
    return {"Authorization": f"Bearer {token}"}


def ingest_headers(stack: Stack) -> dict[str, str]:
    """A machine caller's credentials: a client-credentials token of the sample ingest client."""
    assert stack.issuer is not None
    return {"Authorization": f"Bearer {stack.issuer.client_token('attain-ingest-client')}"}


def post(stack: Stack, events: Sequence[Any], batch: int = 100) -> list[httpx.Response]:
    responses = []
    with httpx.Client(timeout=60, headers=ingest_headers(stack)) as client:
        for start in range(0, len(events), batch):
            responses.append(client.post(f"{stack.ingest_url}/v1/events", json=list(events[start:start + batch])))
    return responses


def totals_for(stack: Stack, reps: set[str]) -> dict[tuple[str, str], Decimal]:
    engine = make_engine(stack.database_url or "")
    try:
        return {k: v for k, v in ledger_totals(engine).items() if k[0] in reps}
    finally:
        engine.dispose()


def read_dead_letters(stack: Stack, topic: str, timeout: float = 30) -> list[dict[str, Any]]:
    """Every envelope on ``topic`` so far (reads from the beginning with a fresh group)."""
    consumer = Consumer({"bootstrap.servers": stack.kafka_bootstrap, "group.id": f"dlq-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "session.timeout.ms": 6000})
    consumer.subscribe([topic])
    envelopes, idle_since = [], time.monotonic()
    deadline = deadline_in(timeout)
    try:
        while time.monotonic() < deadline and not (envelopes and time.monotonic() - idle_since > 3):
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            idle_since = time.monotonic()
            envelopes.append(contract(topic).decode(message.value()))
    finally:
        consumer.close()
    return envelopes


def _caught_up(bootstrap: str, group: str, topic: str, ends: dict[int, int]) -> bool:
    """``group`` has committed every partition of ``topic`` at least up to ``ends``."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        offsets = consumer.committed([TopicPartition(topic, p) for p in ends], timeout=10)
    finally:
        consumer.close()
    return all(tp.offset >= ends[tp.partition] for tp in offsets if ends[tp.partition] > 0)


def _ends(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"ends-{uuid.uuid4()}"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
    finally:
        consumer.close()


def wait_drained(stack: Stack, timeout: float = 90) -> None:
    """Wait until the pipeline has consumed and committed everything published so far, hop by hop:
    the calculator every ``crm.changes`` and ``calculator.credits`` record, then the ledger every
    ``earnings`` snapshot. Each hop's ends are read once the hop before it is committed, and a
    service commits a record only after what it made of it is written, so afterwards nothing
    published before the call is still on its way to the ledger."""
    calculator = stack.extra_env["ATTAIN_CALCULATOR_APP_ID"]  # faust's consumer group is its app id
    hops = [(calculator, topics.CRM_CHANGES), (calculator, topics.CALCULATOR_CREDITS),
            (stack.extra_env["ATTAIN_LEDGER_GROUP_ID"], topics.EARNINGS)]
    for group, topic in hops:
        ends = _ends(stack.kafka_bootstrap, topic)
        wait_until(lambda g=group, t=topic, e=ends: _caught_up(stack.kafka_bootstrap, g, t, e), timeout,
                   f"{group} to commit {topic} up to {ends}")
