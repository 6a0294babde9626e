"""The ledger's consume loop: a batch of snapshots -> one DB transaction -> offset commit."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition
from sqlalchemy import Engine, text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_exponential_jitter

from attain.contracts.dead_letters import ErrorCode
from attain.contracts.earnings import EarningsSnapshot
from attain.platform import faults, topics, tracing
from attain.platform.consume import DeadLetterWriter, decode_messages, decoder
from services.ledger import metrics
from services.ledger.db import apply_snapshots, check_snapshot
from services.ledger.scopes import ScopeBy

log = logging.getLogger("attain.ledger")


class LedgerWorker:
    """Consumes ``earnings``; commits offsets only after the entries are committed.

    A crash anywhere before the offset commit replays the batch, which the
    snapshot heads and idempotency keys turn into a no-op.

    A database outage of any length is waited out without leaving the consumer
    group: the batch that could not be booked is held, the assigned partitions
    are paused, and the loop keeps polling (which keeps the member inside
    ``max.poll.interval.ms`` and serves rebalances) while it retries the batch
    with a capped exponential backoff. A rebalance or a lost membership during
    the outage drops the held batch (its partitions may now belong to another
    member; whoever owns them re-reads it from the committed offset), and an
    offset commit that the group refuses is logged, not fatal: the batch is
    replayed later and recognised as applied.
    """

    def __init__(
        self, consumer: Consumer, producer: Producer, engine: Engine,
        batch_size: int, poll_timeout: float, retry_backoff: float,
        scope_by: ScopeBy = "plan",
        max_retry_backoff: float = 30.0,
    ) -> None:
        self._consumer = consumer
        self._producer = producer
        self._engine = engine
        self._batch_size = batch_size
        self._poll_timeout = poll_timeout
        self._retry_backoff = retry_backoff
        self._max_retry_backoff = max(max_retry_backoff, retry_backoff)
        self._scope_by: ScopeBy = scope_by
        self._decode = decoder(topics.EARNINGS, EarningsSnapshot.from_avro, check_snapshot)
        self._dead_letter = DeadLetterWriter(
            lambda topic, key, value: self._producer.produce(topic, key=key, value=value),
            topics.EARNINGS_DLQ, "ledger", self._rejected)
        self.stopping = threading.Event()
        self.database_ok = False
        self.database_detail = "not connected yet"
        self.assigned = threading.Event()  # set while the group has given this member partitions
        self._held: _HeldBatch | None = None  # a batch waiting for the database
        self._paused: list[TopicPartition] = []
        self._failures = 0  # consecutive failed attempts at the held batch
        self._lag: dict[int, int] = {}  # earnings partition -> records behind its end, after the last commit

    def run(self) -> None:
        self._consumer.subscribe(
            [topics.EARNINGS], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )
        last_check = 0.0
        try:
            while not self.stopping.is_set():
                messages = self._consumer.consume(self._batch_size, self._poll_timeout)
                if messages:
                    self._hold(messages)
                    self._book_held()
                elif time.monotonic() - last_check > 2:
                    self._check_database()
                    last_check = time.monotonic()
        finally:
            self._consumer.close()
            self._producer.flush(10)

    # -- the group -------------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned.set()
        metrics.ASSIGNED_PARTITIONS.set(len(partitions))
        log.info("partitions assigned", extra={"partitions": [p.partition for p in partitions]})

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._forget(partitions, "revoked")

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._forget(partitions, "lost")

    def _forget(self, partitions: list[TopicPartition], how: str) -> None:
        """Drop what was held for partitions this member no longer owns; their new owner re-reads it."""
        gone = {(p.topic, p.partition) for p in partitions}
        was_paused = [p for p in self._paused if (p.topic, p.partition) in gone]
        if was_paused:  # librdkafka keeps a partition's pause across assignments: it would come back silent
            try:
                self._consumer.resume(was_paused)
            except KafkaException as error:
                log.warning("could not resume partitions given up", extra={"error": str(error)})
        self._paused = [p for p in self._paused if (p.topic, p.partition) not in gone]
        for _, partition in gone:
            self._lag.pop(partition, None)
        metrics.CONSUMER_LAG.set(sum(self._lag.values()))
        if self._held is not None:
            self._held.drop(gone)
            if self._held.empty:
                self._held = None
        self.assigned.clear()  # eager (range) assignment: a revocation takes every partition
        metrics.ASSIGNED_PARTITIONS.set(0)
        metrics.REBALANCES.labels(how).inc()
        log.warning("partitions %s", how, extra={"partitions": sorted(p for _, p in gone),
                                                 "held_batch": self._held is not None})

    # -- batches ---------------------------------------------------------------------------------

    def _hold(self, messages: list[Message]) -> None:
        """Decode (dead-lettering what cannot be read) and queue behind any batch already held."""
        decoded = decode_messages(messages, self._decode, self._dead_letter)
        metrics.SNAPSHOTS_IN.inc(len(decoded))
        if self._held is None:
            self._held = _HeldBatch(decoded, list(messages), time.perf_counter())
        else:
            self._held.extend(decoded, messages)

    def _book_held(self) -> None:
        """Book the held batch, waiting out a database outage of any length (tenacity drives the backoff;
        its "sleep" keeps polling the paused consumer, so the member stays in the group)."""
        retrying = Retrying(
            retry=retry_if_exception_type(_DatabaseUnavailable),
            wait=wait_exponential_jitter(multiplier=self._retry_backoff, max=self._max_retry_backoff,
                                         jitter=self._retry_backoff / 5),
            sleep=self._poll_while_waiting,
            before_sleep=self._database_failed,
            stop=lambda _: self.stopping.is_set(),
            reraise=True,
        )
        try:
            retrying(self._book_once)
        except _DatabaseUnavailable:  # stopping: the batch's offsets are not committed, so it is replayed
            raise SystemExit("stopping before the batch was committed; it will be replayed") from None

    def _book_once(self) -> None:
        held = self._held
        if held is None:  # a rebalance took the batch's partitions while we waited; their owner re-reads it
            self._resume()
            return
        with tracing.consumed(f"{topics.EARNINGS} process", (message.headers() for message in held.messages)):
            self._apply(held.decoded)  # the statements' spans (traced_engine) are this span's children
        if self._failures:
            log.info("database back; booked the held batch", extra={"failed_attempts": self._failures})
        self._failures = 0
        self.database_ok, self.database_detail = True, "ok"
        faults.reached("ledger.after_db_commit")  # committed in PostgreSQL, offsets not yet
        self._producer.flush(30)
        self._commit(held.messages)
        self._held = None
        self._resume()
        metrics.BATCH_SECONDS.observe(time.perf_counter() - held.started)

    def _database_failed(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        self._failures = state.attempt_number
        metrics.DB_ERRORS.inc()
        self.database_ok, self.database_detail = False, f"database unavailable: {error}"
        if not self._paused:
            self._paused = list(self._consumer.assignment())
            if self._paused:
                self._consumer.pause(self._paused)
        delay = state.upcoming_sleep
        log.warning("database transaction failed; partitions paused, polling on, retrying",
                    extra={"error": str(error), "attempt": state.attempt_number, "retry_in_seconds": round(delay, 2)})

    def _poll_while_waiting(self, seconds: float) -> None:
        """The backoff's sleep: keep polling (the paused partitions return nothing) so this member stays
        in the group and takes part in rebalances; end early if the batch was taken away or we stop."""
        deadline = time.monotonic() + seconds
        while not self.stopping.is_set() and self._held is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            messages = self._consumer.consume(self._batch_size, min(self._poll_timeout, remaining))
            if messages:  # fetched before the pause, or from partitions assigned since: keep order behind the batch
                self._hold(messages)

    def _resume(self) -> None:
        if self._paused:
            self._consumer.resume(self._paused)
            self._paused = []

    def _commit(self, messages: list[Message]) -> None:
        offsets = _next_offsets(messages)
        if not offsets:
            return
        self._measure_lag(offsets)
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as error:
            # The group moved on (rebalance, lost membership): the entries are in the database, the
            # partitions' new owner replays the batch from the last committed offset and adds nothing.
            metrics.COMMIT_FAILURES.inc()
            log.warning("offset commit refused; the batch will be replayed and recognised as applied",
                        extra={"error": str(error)})

    def _measure_lag(self, offsets: list[TopicPartition]) -> None:
        """``attain_ledger_consumer_lag``: the batch's partitions' ends (as the last fetch saw them) minus the
        next offsets, summed with the other partitions' last values."""
        for next_offset in offsets:
            watermarks = self._consumer.get_watermark_offsets(next_offset, cached=True)
            if watermarks is not None and watermarks[1] >= 0:
                self._lag[next_offset.partition] = max(0, watermarks[1] - next_offset.offset)
        metrics.CONSUMER_LAG.set(sum(self._lag.values()))

    def _check_database(self) -> None:
        try:
            with self._engine.connect() as connection:
                connection.execute(text("select 1"))
        except DBAPIError as error:
            self.database_ok, self.database_detail = False, f"database unavailable: {error.orig}"
        else:
            self.database_ok, self.database_detail = True, "ok"

    def _apply(self, decoded: list[tuple[EarningsSnapshot, Message]]) -> None:
        """Book ``decoded`` or raise :class:`_DatabaseUnavailable`. If the database refuses the data itself
        (a value that does not fit a column or constraint), apply one by one and dead-letter only the refused
        snapshots."""
        if not decoded:
            return
        try:
            self._apply_once([snapshot for snapshot, _ in decoded])
        except (DataError, IntegrityError):
            for snapshot, message in decoded:
                try:
                    self._apply_once([snapshot])
                except (DataError, IntegrityError) as error:
                    # the primary message only: PostgreSQL's DETAIL would quote the refused row's values
                    primary = getattr(getattr(error.orig, "diag", None), "message_primary", None)
                    reason = primary or type(error.orig).__name__
                    self._dead_letter(message, f"the ledger database refused it: {reason}", ErrorCode.REJECTED)

    def _apply_once(self, snapshots: list[EarningsSnapshot]) -> None:
        try:
            result = apply_snapshots(self._engine, snapshots, self._scope_by)
        except (DataError, IntegrityError):
            raise
        except DBAPIError as error:
            raise _DatabaseUnavailable(str(error.orig).strip() or type(error.orig).__name__) from error
        metrics.SNAPSHOTS_STALE.inc(result.stale)
        metrics.ENTRIES_OUT.inc(result.entries)

    @staticmethod
    def _rejected(reason: str, code: ErrorCode) -> None:
        metrics.REJECTED.labels(code).inc()
        log.warning("snapshot rejected", extra={"reason": reason, "error_code": code})


def _next_offsets(messages: list[Message]) -> list[TopicPartition]:
    highest: dict[tuple[str, int], int] = {}
    for message in messages:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        if message.error() or topic is None or partition is None or offset is None:
            continue
        highest[(topic, partition)] = max(highest.get((topic, partition), -1), offset)
    return [TopicPartition(topic, partition, offset + 1) for (topic, partition), offset in highest.items()]


class _DatabaseUnavailable(Exception):
    """The database could not run the transaction (down, restarting, unreachable); the batch is kept."""


@dataclass
class _HeldBatch:
    decoded: list[tuple[EarningsSnapshot, Message]]
    messages: list[Message]
    started: float

    @property
    def empty(self) -> bool:
        return not self.messages

    def extend(self, decoded: list[tuple[EarningsSnapshot, Message]], messages: list[Message]) -> None:
        self.decoded.extend(decoded)
        self.messages.extend(messages)

    def drop(self, partitions: set[tuple[str | None, int | None]]) -> None:
        self.decoded = [(s, m) for s, m in self.decoded if (m.topic(), m.partition()) not in partitions]
        self.messages = [m for m in self.messages if (m.topic(), m.partition()) not in partitions]

