"""A faust worker with one batch agent, for ``test_batch_agent.py`` (run as a process).

    python tests/integration/batch_agent_worker.py TOPIC OUT_FILE

Appends ``partition offset key`` per record it is handed to OUT_FILE, one batch
per write, flushed before the handler returns (so before the records are acked).
A record whose value is ``boom`` makes the handler raise instead.

With ``BATCH_AGENT_OUTPUT=TOPIC`` the handler also copies each record to TOPIC
through the batch's producer (the checkpoint flushes it before the ack); with
``BATCH_AGENT_DIE_AFTER_FLUSH=VALUE`` too, the process exits at once (code 3)
once the checkpoint has flushed a batch holding a record of that value, before
the batch is acked.

With ``BATCH_AGENT_PAUSE_AFTER_FIRST_BATCH=1`` the worker makes faust stop fetching every partition it
holds once its first batch is handled (the way a restarted faust worker has lost partitions for good),
and ``BATCH_AGENT_STALL_SECONDS`` sets the stall guard's time (``stream_app(stall_seconds=...)``).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import faust

from attain.platform.settings import KafkaSettings
from attain.platform.streams import BatchProducer, stream_app


class DyingProducer(BatchProducer):
    """Exits the process right after a flush once :attr:`die` is set: between the checkpoint's flush and ack."""

    die = False

    async def flush(self) -> None:
        await super().flush()
        if self.die:
            await asyncio.sleep(1.5)  # three commit intervals: an offset acked already would be committed now
            os._exit(3)


def main() -> None:
    topic_name, out = sys.argv[1], Path(sys.argv[2])
    kafka = KafkaSettings()
    app = stream_app(os.environ["BATCH_AGENT_APP_ID"], kafka, web_host="127.0.0.1",
                     web_port=int(os.environ["BATCH_AGENT_PORT"]), data_dir=str(out.parent / "data"),
                     max_poll_records=500, stall_seconds=float(os.environ.get("BATCH_AGENT_STALL_SECONDS", "30")))
    topic = app.topic(topic_name, key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw")

    output, die_at = os.environ.get("BATCH_AGENT_OUTPUT"), os.environ.get("BATCH_AGENT_DIE_AFTER_FLUSH")
    producer = DyingProducer(kafka) if output else None
    pause_once = os.environ.get("BATCH_AGENT_PAUSE_AFTER_FIRST_BATCH") == "1"

    @app.batch_agent(topic, outputs=producer)
    async def record(messages: list[Any]) -> None:
        if any(message.value == b"boom" for message in messages):
            raise RuntimeError("boom")
        if producer is not None and output is not None:
            for message in messages:
                producer.produce(output, message.key, message.value)
            producer.die = die_at is not None and any(message.value == die_at.encode() for message in messages)
        lines = "".join(f"{m.partition} {m.offset} {m.key.decode()}\n" for m in messages)
        with out.open("a") as file:
            file.write(lines)
            file.flush()
            os.fsync(file.fileno())
        nonlocal pause_once
        if pause_once:
            pause_once = False
            app.consumer.pause_partitions(app.consumer.assignment())
            print("paused every partition after the first batch", flush=True)

    faust.Worker(app, loglevel="INFO", quiet=True, redirect_stdouts=False).execute_from_commandline()


if __name__ == "__main__":
    main()
