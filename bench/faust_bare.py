"""Baseline B: faust-streaming's bare batch-consume rate, with the calculator's settings.

    python bench/faust_bare.py TOPIC COUNT RESULT_JSON [--table-writes | --batch-agent]

Started by ``bench/pipeline.py`` as its own process. Consumes ``TOPIC`` from the
beginning in batches (a faust agent's ``stream.take(2000, within=0.05)``), does
nothing with the events, and once ``COUNT`` events were seen writes
``{"events": ..., "seconds": ..., "batches": ...}`` to ``RESULT_JSON`` and stops.
Seconds run from the first batch to the last, and the first batch's events are
not counted, so the rate is events consumed per second while consuming.

With ``--table-writes`` each event also sets one key of a faust Table (the
event's key, so one changelog message per event): the cost of keeping state per
record the plain faust way, without any of Attain's own work.

With ``--batch-agent`` the events come through
:meth:`attain.platform.streams.StreamApp.batch_agent` (a fetch at a time, as
the calculator consumes) instead of a faust stream: that path's own ceiling.

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

TAKE, WITHIN_SECONDS = 2000, 0.05  # a faust stream's batches: at most 2,000 events, 50 ms


def create_bare_app(
    kafka: KafkaSettings, settings: CalculatorSettings, topic: str, count: int, result: Path,
    mode: str,
) -> faust.App:
    app = stream_app(f"attain-bench-bare-{os.getpid()}", kafka, web_host=settings.host,
                     web_port=settings.port, data_dir=str(settings.data_dir),
                     max_poll_records=settings.max_batch)
    source = app.topic(topic, key_type=bytes, value_type=bytes,
                       key_serializer="raw", value_serializer="raw")
    state = app.Table("state", default=None, partitions=kafka.partitions, use_partitioner=True)

    async def batches_of(stream: faust.StreamT[bytes]) -> AsyncIterator[Sequence[Any]]:
        if mode != "table-writes":
            async for values in stream.take(TAKE, WITHIN_SECONDS):
                yield values
            return
        async for events in stream.take_events(TAKE, WITHIN_SECONDS):
            for event in events:
                state[event.key.decode()] = {"value": event.value.hex()}
            yield events

    progress = {"seen": 0, "batches": 0, "first_batch": 0, "first_at": 0.0}

    def counted(values: Sequence[Any]) -> bool:
        """Count a batch; True (and the result written) once ``count`` events were seen."""
        now = time.perf_counter()
        if not progress["seen"]:
            progress["first_at"], progress["first_batch"] = now, len(values)
        progress["seen"] += len(values)
        progress["batches"] += 1
        if progress["seen"] < count:
            return False
        result.write_text(json.dumps({
            "events": progress["seen"] - progress["first_batch"],
            "seconds": now - progress["first_at"], "batches": progress["batches"],
        }))
        os.kill(os.getpid(), signal.SIGTERM)  # the worker shuts down cleanly
        return True

    if mode == "batch-agent":
        @app.batch_agent(source)
        async def consume_batches(messages: list[Any]) -> None:
            counted(messages)
        return app

    @app.agent(source)
    async def consume(stream: faust.StreamT[bytes]) -> None:
        async for values in batches_of(stream):
            if counted(values):
                return

    return app


def main() -> None:
    topic, count, result = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    flags = [flag.removeprefix("--") for flag in sys.argv[4:]]
    app = create_bare_app(KafkaSettings(), CalculatorSettings(), topic, count, result,
                          mode=flags[0] if flags else "take")
    worker = faust.Worker(app, loglevel="WARNING", quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
