"""Baseline B: faust-streaming's bare batch-consume rate, with the calculator's settings.

    python bench/faust_bare.py TOPIC COUNT RESULT_JSON [--table-writes]

Started by ``bench/pipeline.py`` as its own process. Consumes ``TOPIC`` from the
beginning in batches (``stream.take(batch_size, within)``, the calculator's batch
settings), does nothing with the events, and once ``COUNT`` events were seen
writes ``{"events": ..., "seconds": ..., "batches": ...}`` to ``RESULT_JSON`` and
stops. Seconds run from the first batch to the last, and the first batch's events
are not counted, so the rate is events consumed per second while consuming.

With ``--table-writes`` each event also sets one key of a faust Table (the
event's key, so one changelog message per event), as the calculator's first
stage does for every record a batch touches: the cost of keeping state per
record in faust, without any of Attain's own work.

The app comes from :func:`attain.platform.streams.stream_app`, as the calculator's
does, reading the same ``ATTAIN_KAFKA_*`` and ``ATTAIN_CALCULATOR_*`` settings;
only the app id (a fresh consumer group) and the agent's body differ.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import faust

from attain.platform.settings import KafkaSettings
from attain.platform.streams import stream_app
from services.calculator.config import CalculatorSettings


def create_bare_app(
    kafka: KafkaSettings, settings: CalculatorSettings, topic: str, count: int, result: Path,
    table_writes: bool,
) -> faust.App:
    app = stream_app(f"attain-bench-bare-{os.getpid()}", kafka, web_host=settings.host,
                     web_port=settings.port, data_dir=str(settings.data_dir))
    source = app.topic(topic, key_type=bytes, value_type=bytes,
                       key_serializer="raw", value_serializer="raw")
    state = app.Table("state", default=None, partitions=kafka.partitions, use_partitioner=True)

    async def batches_of(stream: faust.StreamT[bytes]) -> AsyncIterator[Sequence[Any]]:
        if not table_writes:
            async for values in stream.take(settings.batch_size, settings.batch_within_seconds):
                yield values
            return
        async for events in stream.take_events(settings.batch_size, settings.batch_within_seconds):
            for event in events:
                state[event.key.decode()] = {"value": event.value.hex()}
            yield events

    @app.agent(source)
    async def consume(stream: faust.StreamT[bytes]) -> None:
        seen = batches = first_batch = 0
        first_at = 0.0
        async for values in batches_of(stream):
            now = time.perf_counter()
            if not seen:
                first_at, first_batch = now, len(values)
            seen += len(values)
            batches += 1
            if seen >= count:
                result.write_text(json.dumps({
                    "events": seen - first_batch, "seconds": now - first_at, "batches": batches,
                }))
                os.kill(os.getpid(), signal.SIGTERM)  # the worker shuts down cleanly
                return

    return app


def main() -> None:
    topic, count, result = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    app = create_bare_app(KafkaSettings(), CalculatorSettings(), topic, count, result,
                          table_writes="--table-writes" in sys.argv[4:])
    worker = faust.Worker(app, loglevel="WARNING", quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
