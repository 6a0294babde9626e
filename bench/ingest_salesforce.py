"""Salesforce ingest benchmark (``make bench-ingest``): CDC events/s decoded and published.

    .venv/bin/python bench/ingest_salesforce.py [--events N] [--records-per-event K] [--runs R]

A fake Pub/Sub API (``tests/fakes/pubsub_server.py``, the same .proto) runs in its own
process with N pre-encoded OpportunityChangeEvents; the embedded broker (Tansu) in another.
This process runs one real ``ChannelSubscriber`` (JWT token, GetSchema, flow control by
batches of 100, Avro decode, bitmap decode, mapping, validation, Avro encode, produce, wait
for Kafka acks, store the replay id) from EARLIEST until the last event's replay id is
stored. Reported: events/s by wall clock, and by this process's CPU time (the "one core"
figure: the fake server and the broker run on other cores, when there are any).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from blocks import markdown_table, write_block  # noqa: E402

CHANNEL = "/data/OpportunityChangeEvent"


def serve_fake(events: int, records_per_event: int, public_key: str, ready: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    from tests.fakes.cdc_events import OPPORTUNITY_SCHEMA, OPPORTUNITY_SCHEMA_ID, encode, opportunity_event
    from tests.fakes.pubsub_server import FakeSalesforce

    payloads = [
        encode(OPPORTUNITY_SCHEMA, opportunity_event(
            [f"006BENCH{n:07d}{k}" for k in range(records_per_event)], "UPDATE" if n % 4 else "CREATE",
            values={"Amount": 1000.5 + n, "StageName": "Closed Won", "OwnerId": f"005REP{n % 50:03d}",
                    "IsWon": True, "CloseDate": 20498, "SDR__c": "005SDR001"},
            transaction_key=f"bench-{n}", commit_number=n))
        for n in range(events)
    ]
    with FakeSalesforce(public_key, max_batch=100) as sf:
        sf.pubsub.append(CHANNEL, OPPORTUNITY_SCHEMA_ID, payloads)
        ready.put((sf.target, sf.login_url, sf.oauth.client_id, sf.oauth.username))
        while True:
            time.sleep(3600)


async def subscribe(bootstrap: str, target: str, login_url: str, client_id: str, username: str,
                    private_key: str, events: int, replay_file: Path) -> tuple[float, float]:
    import grpc

    from attain.platform import topics
    from attain.platform.kafka import AsyncProducer, ensure_topics, producer_config
    from attain.platform.settings import KafkaSettings
    from services.ingest.publisher import Publisher
    from services.ingest.salesforce.auth import TokenSource
    from services.ingest.salesforce.mapping import load_mapping
    from services.ingest.salesforce.proto.pubsub_api_pb2_grpc import PubSubStub
    from services.ingest.salesforce.replay import FileReplayStore
    from services.ingest.salesforce.schemas import SchemaCache
    from services.ingest.salesforce.subscriber import ChannelSubscriber, SubscriberOptions

    kafka = KafkaSettings(bootstrap=bootstrap)
    ensure_topics(kafka, [topics.CRM_CHANGES, topics.CRM_CHANGES_DLQ])
    producer = AsyncProducer(producer_config(kafka, **{"client.id": "bench-ingest"}), asyncio.get_running_loop())
    tokens = TokenSource("jwt", login_url, client_id, username=username, private_key=private_key)
    last = events.to_bytes(8, "big")
    async with grpc.aio.insecure_channel(target) as channel:
        stub = PubSubStub(channel)
        subscriber = ChannelSubscriber(
            CHANNEL, stub, tokens, SchemaCache(stub, tokens.token),
            load_mapping(REPO / "examples/salesforce/mapping.yaml"), Publisher(producer),
            FileReplayStore(replay_file), SubscriberOptions(100, 5000, "EARLIEST", 1.0))
        stop = asyncio.Event()
        cpu_start, wall_start = _cpu(), time.perf_counter()
        task = asyncio.create_task(subscriber.run(stop))
        while subscriber.position != last:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        wall, cpu = time.perf_counter() - wall_start, _cpu() - cpu_start
        stop.set()
        await task
    await tokens.close()
    producer.close()
    return wall, cpu


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--records-per-event", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--bootstrap", default=None, help="use this broker instead of an embedded Tansu")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md",
                        help="document whose generated block this run rewrites ('' to print only)")
    args = parser.parse_args()

    from attain.embedded.tansu import TansuBroker
    from tests.integration.salesforce_support import rsa_key_pair

    private_key, public_key = rsa_key_pair()
    context = multiprocessing.get_context("spawn")
    ready: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
    fake = context.Process(target=serve_fake, args=(args.events, args.records_per_event, public_key, ready),
                           daemon=True)
    fake.start()
    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    broker = None if args.bootstrap else TansuBroker(workdir / "tansu.log")
    try:
        bootstrap = args.bootstrap or broker.__enter__().bootstrap  # type: ignore[union-attr]
        target, login_url, client_id, username = ready.get(timeout=300)
        print(f"cpus={os.cpu_count()} events={args.events} records/event={args.records_per_event} "
              f"load={os.getloadavg()[0]:.2f}")
        rows = []
        for run in range(1, args.runs + 1):
            wall, cpu = asyncio.run(subscribe(bootstrap, target, login_url, client_id, username, private_key,
                                              args.events, workdir / f"replay-{run}.json"))
            rows.append((run, f"{args.events:,}", f"{args.events * args.records_per_event:,}", f"{wall:.2f}",
                         f"{args.events / wall:,.0f}", f"{cpu:.2f}", f"{args.events / cpu:,.0f}"))
            print(rows[-1], flush=True)
        table = markdown_table(("run", "change events", "records published", "wall s", "events/s (wall)",
                                "subscriber CPU s", "events/s per CPU s"), rows, "rrrrrrr")
        print(table)
        if str(args.out) not in ("", "."):
            name = "ingest-salesforce" + (f"-{args.records_per_event}-records" if args.records_per_event > 1 else "")
            write_block(name, table, document=args.out)
    finally:
        fake.terminate()
        if broker is not None:
            broker.__exit__(None, None, None)


if __name__ == "__main__":
    main()
