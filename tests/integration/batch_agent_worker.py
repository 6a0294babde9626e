"""A faust worker with one batch agent, for ``test_batch_agent.py`` (run as a process).

    python tests/integration/batch_agent_worker.py TOPIC OUT_FILE

Appends ``partition offset key`` per record it is handed to OUT_FILE, one batch
per write, flushed before the handler returns (so before the records are acked).
A record whose value is ``boom`` makes the handler raise instead.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import faust

from attain.platform.settings import KafkaSettings
from attain.platform.streams import stream_app


def main() -> None:
    topic_name, out = sys.argv[1], Path(sys.argv[2])
    kafka = KafkaSettings()
    app = stream_app(os.environ["BATCH_AGENT_APP_ID"], kafka, web_host="127.0.0.1",
                     web_port=int(os.environ["BATCH_AGENT_PORT"]), data_dir=str(out.parent / "data"),
                     max_poll_records=500)
    topic = app.topic(topic_name, key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw")

    @app.batch_agent(topic)
    async def record(messages: list[Any]) -> None:
        if any(message.value == b"boom" for message in messages):
            raise RuntimeError("boom")
        lines = "".join(f"{m.partition} {m.offset} {m.key.decode()}\n" for m in messages)
        with out.open("a") as file:
            file.write(lines)
            file.flush()
            os.fsync(file.fileno())

    faust.Worker(app, loglevel="INFO", quiet=True, redirect_stdouts=False).execute_from_commandline()


if __name__ == "__main__":
    main()
