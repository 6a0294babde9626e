"""Readiness from real dependencies: a background probe of the Kafka broker.

A readiness check or a request handler must answer at once, so it reads the
probe's last verdict; the probe itself asks the broker for a topic's metadata
every ``interval`` seconds on a thread of its own.
"""

from __future__ import annotations

import logging
import threading

from confluent_kafka import KafkaException

from attain.platform.kafka import admin_client
from attain.platform.settings import KafkaSettings

log = logging.getLogger("attain.platform.health")


class BrokerProbe:
    """``ok`` while the broker answers a metadata request for ``topic`` with a leader for every partition."""

    def __init__(self, kafka: KafkaSettings | str, topic: str, interval: float = 1.0, timeout: float = 2.0) -> None:
        self._admin = admin_client(kafka, **{"client.id": "attain-readiness-probe",
                                             "socket.connection.setup.timeout.ms": int(timeout * 1000)})
        self._topic = topic
        self._interval = interval
        self._timeout = timeout
        self._stopping = threading.Event()
        self.ok = False
        self.detail = "broker not checked yet"
        self._thread = threading.Thread(target=self._run, name="broker-probe", daemon=True)

    def start(self, check_now: bool = True) -> BrokerProbe:
        """``check_now``: a verdict before returning (blocks up to ``timeout``); else within ``interval``."""
        if check_now:
            self.check()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()

    def check(self) -> bool:
        try:
            metadata = self._admin.list_topics(topic=self._topic, timeout=self._timeout)
            topic = metadata.topics.get(self._topic)
            if topic is None or topic.error is not None:
                raise KafkaException(topic.error if topic is not None else f"no metadata for {self._topic}")
            leaderless = [p for p, partition in topic.partitions.items() if partition.leader < 0]
            if not topic.partitions or leaderless:
                raise KafkaException(f"{self._topic} partitions without a leader: {sorted(leaderless)}")
        except KafkaException as error:
            if self.ok:
                log.warning("broker unavailable", extra={"error": str(error)})
            self.ok, self.detail = False, f"broker unavailable: {error}"
            return False
        if not self.ok:
            log.info("broker reachable", extra={"topic": self._topic})
        self.ok, self.detail = True, "broker reachable"
        return True

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            self.check()
            self._admin.poll(0)  # serves the client's queued log lines
