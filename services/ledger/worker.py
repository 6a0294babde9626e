"""The ledger's consume loop: a batch of snapshots -> one DB transaction -> offset commit."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from confluent_kafka import Consumer, Message, Producer, TopicPartition
from sqlalchemy import Engine, text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from attain.core.money import MoneyError
from attain.platform import topics
from attain.platform.avro import SerdeError, contract
from attain.platform.kafka import dead_letter
from services.ledger import metrics
from services.ledger.db import ScopeBy, apply_snapshots, check_snapshot

log = logging.getLogger("attain.ledger")


class LedgerWorker:
    """Consumes ``earnings``; commits offsets only after the entries are committed.

    A crash anywhere before the offset commit replays the batch, which the
    snapshot heads and idempotency keys turn into a no-op.
    """

    def __init__(
        self, consumer: Consumer, producer: Producer, engine: Engine,
        batch_size: int, poll_timeout: float, retry_backoff: float,
        pause_after_db_commit: float = 0.0, scope_by: ScopeBy = "plan",
    ) -> None:
        self._consumer = consumer
        self._producer = producer
        self._engine = engine
        self._batch_size = batch_size
        self._poll_timeout = poll_timeout
        self._retry_backoff = retry_backoff
        self._pause_after_db_commit = pause_after_db_commit
        self._scope_by: ScopeBy = scope_by
        self._contract = contract(topics.EARNINGS)
        self.stopping = threading.Event()
        self.database_ok = False
        self.database_detail = "not connected yet"

    def run(self) -> None:
        self._consumer.subscribe([topics.EARNINGS])
        last_check = 0.0
        try:
            while not self.stopping.is_set():
                messages = self._consumer.consume(self._batch_size, self._poll_timeout)
                if messages:
                    self._process(messages)
                elif time.monotonic() - last_check > 2:
                    self._check_database()
                    last_check = time.monotonic()
        finally:
            self._consumer.close()
            self._producer.flush(10)

    def _process(self, messages: list[Message]) -> None:
        started = time.perf_counter()
        decoded: list[tuple[dict[str, Any], Message]] = []
        for message in messages:
            if message.error():
                log.warning("consumer error", extra={"error": str(message.error())})
                continue
            try:
                snapshot = self._contract.decode(message.value() or b"")
                check_snapshot(snapshot)
            except SerdeError as error:
                self._dead_letter(message, str(error), "undecodable")
                continue
            except MoneyError as error:
                self._dead_letter(message, str(error), "invalid_snapshot")
                continue
            decoded.append((snapshot, message))
        metrics.SNAPSHOTS_IN.inc(len(decoded))
        if decoded:
            self._apply_until_committed(decoded)
            if self._pause_after_db_commit:  # fault injection: widen the commit-to-offset window for tests
                time.sleep(self._pause_after_db_commit)
        self._producer.flush(30)
        self._consumer.commit(offsets=_next_offsets(messages), asynchronous=False)
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)

    def _check_database(self) -> None:
        try:
            with self._engine.connect() as connection:
                connection.execute(text("select 1"))
        except DBAPIError as error:
            self.database_ok, self.database_detail = False, f"database unavailable: {error.orig}"
        else:
            self.database_ok, self.database_detail = True, "ok"

    def _apply_until_committed(self, decoded: list[tuple[dict[str, Any], Message]]) -> None:
        """Retry while the database is unavailable; if it refuses the data itself (a value that does
        not fit a column or constraint), apply one by one and dead-letter only the refused snapshots."""
        try:
            self._apply_retrying([snapshot for snapshot, _ in decoded])
        except (DataError, IntegrityError):
            for snapshot, message in decoded:
                try:
                    self._apply_retrying([snapshot])
                except (DataError, IntegrityError) as error:
                    self._dead_letter(message, f"the ledger database refused it: {error.orig}", "rejected")

    def _apply_retrying(self, snapshots: list[dict[str, Any]]) -> None:
        while not self.stopping.is_set():
            try:
                result = apply_snapshots(self._engine, snapshots, self._scope_by)
            except (DataError, IntegrityError):
                self.database_ok, self.database_detail = True, "ok"
                raise
            except DBAPIError as error:
                metrics.DB_ERRORS.inc()
                self.database_ok, self.database_detail = False, f"database unavailable: {error.orig}"
                log.warning("database transaction failed; retrying", extra={"error": str(error.orig)})
                time.sleep(self._retry_backoff)
                continue
            self.database_ok, self.database_detail = True, "ok"
            metrics.SNAPSHOTS_STALE.inc(result.stale)
            metrics.ENTRIES_OUT.inc(result.entries)
            return
        raise SystemExit("stopping before the batch was committed; it will be replayed")

    def _dead_letter(self, message: Message, reason: str, error_code: str) -> None:
        metrics.REJECTED.labels(error_code).inc()
        log.warning("snapshot rejected", extra={"reason": reason, "offset": message.offset()})
        self._producer.produce(
            topics.EARNINGS_DLQ,
            key=message.key(),
            value=dead_letter(
                original=message.value() or b"", reason=reason, error_code=error_code,
                source=f"topic:{message.topic()}/{message.partition()}/{message.offset()}",
                service="ledger",
            ),
        )


def _next_offsets(messages: list[Message]) -> list[TopicPartition]:
    highest: dict[tuple[str, int], int] = {}
    for message in messages:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        if message.error() or topic is None or partition is None or offset is None:
            continue
        highest[(topic, partition)] = max(highest.get((topic, partition), -1), offset)
    return [TopicPartition(topic, partition, offset + 1) for (topic, partition), offset in highest.items()]
