"""Benchmark experiment, not production code: every Kafka consumer's fetch max wait.

``bench/pipeline.py --consumer-fetch-wait-ms N`` puts this folder on the services'
``PYTHONPATH`` with ``ATTAIN_BENCH_FETCH_WAIT_MS=N``, so Python loads it at start-up
in each service process. It shows what a setting for the fetch wait would change
before one exists: Tansu answers a waiting Fetch only when its max wait runs out,
even when records arrive sooner (Apache Kafka answers as soon as there are
records), so each consumer hop can add up to that wait (faust hard-codes 1,500 ms,
librdkafka defaults to 500 ms).
"""

import os

_WAIT_MS = os.environ.get("ATTAIN_BENCH_FETCH_WAIT_MS")

if _WAIT_MS:
    import aiokafka

    import attain.platform.kafka as _kafka

    _consumer_init = aiokafka.AIOKafkaConsumer.__init__
    _consumer_config = _kafka.consumer_config

    def _init_with_wait(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs["fetch_max_wait_ms"] = int(_WAIT_MS)
        _consumer_init(self, *args, **kwargs)

    def _config_with_wait(settings, group_id, **overrides):  # type: ignore[no-untyped-def]
        return {**_consumer_config(settings, group_id, **overrides), "fetch.wait.max.ms": int(_WAIT_MS)}

    aiokafka.AIOKafkaConsumer.__init__ = _init_with_wait
    _kafka.consumer_config = _config_with_wait
