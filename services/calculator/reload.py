"""Live plan changes: the plan book the calculator uses, a new published version applied without a restart,
and the recompute of the state each partition holds under it.

**Which book.** At start, the current version on the reference topics (:mod:`attain.platform.reference`), else
the plans file (logged). While running, :class:`ReferenceWatcher` reads ``reference.publications`` (one
partition, from the offset after the publications it loaded) without blocking the event loop; a new current
version is loaded and verified in a thread, then swapped in (:class:`Books`). A version that does not verify
or parse is logged as an error and counted, and the book in use stays.

**Recompute, per partition.** The ``reference-applied`` table holds, per stage and partition, the id of the
book that partition's state was last computed under. The calculator's reconcile task compares it with the
book in use, for the partitions this worker holds, whenever the tables are recovered: so a new version, a
restart after a crash midway and a partition moved from another worker all take the same path.

- stage 1 (``records``, by record): every record of the partition is credited again under the book
  (:func:`recredit`) and its credits go to stage 2 as a batch's would;
- stage 2 (``rep-credits``, by rep): every period of every rep of the partition is computed again under the
  book from the credits held (:func:`services.calculator.earnings_stage.rescore_rep`), and a snapshot is
  published where its earnings differ from those under the book before;

then the partition's applied id is written and everything flushed. The work is done in chunks that each run
without awaiting (so a batch never sees half a chunk) and yield to the event loop between them: ``CHUNK``
records in stage 1, one rep at a time in stage 2 (yielding once ``SLICE_SECONDS`` have passed).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from prometheus_client import Counter, Gauge, Histogram

from attain.contracts.reference import Publication, content_hash
from attain.core.plans import PlanBook
from attain.planfiles import load_book_texts, read_files
from attain.platform.kafka import consumer_config
from attain.platform.reference import ReferenceTopics, ensure_reference_topics, read_state
from attain.platform.settings import KafkaSettings
from services.calculator.credit_stage import RecordEntry, StageOneResult, credit_touched
from services.calculator.limits import Trigger

log = logging.getLogger("attain.calculator")

VERSION_INFO = Gauge("attain_calculator_reference_version_info",
                     "The plan book version the calculator uses (1 for the one in use)", ["version_id"])
REJECTED_VERSIONS = Counter("attain_calculator_reference_rejected_total",
                            "Published plan book versions that did not verify or parse (the book in use stays)")
RECOMPUTE_SECONDS = Histogram("attain_calculator_recompute_seconds",
                              "Recomputing one partition's state under a new plan book", ["stage"],
                              buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300))
RECOMPUTED = Counter("attain_calculator_recomputed_total",
                     "Records (stage 1) and reps (stage 2) recomputed under a new plan book", ["stage"])

# Stage 1 re-credits CHUNK records between two yields to the event loop (~35 µs a record measured: ~20 ms);
# stage 2 yields between reps once SLICE_SECONDS have passed (one rep's periods are computed at once).
CHUNK = 500
SLICE_SECONDS = 0.02


def file_version_id(files: dict[str, str]) -> str:
    """The id of a book read from the plans file (not a published version): ``file-`` and its content hash."""
    return f"file-{content_hash(files)[:16]}"


@dataclass
class Books:
    """The plan book in use and its id, and every book this process has used by id (the book a partition was
    computed under, to publish only the periods a change moves)."""

    book: PlanBook
    version_id: str
    known: dict[str, PlanBook] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.known[self.version_id] = self.book
        VERSION_INFO.labels(self.version_id).set(1)

    def use(self, book: PlanBook, version_id: str) -> None:
        VERSION_INFO.labels(self.version_id).set(0)
        self.book, self.version_id = book, version_id
        self.known[version_id] = book
        VERSION_INFO.labels(version_id).set(1)
        log.info("plan book version in use", extra={"reference_version": version_id,
                                                    "participants": len(book.participants)})


def initial_books(kafka: KafkaSettings, names: ReferenceTopics, plans_file: Path) -> tuple[Books, int]:
    """The book to start with: the current published version, else the plans file; and the offset on
    ``reference.publications`` after the publications read."""
    ensure_reference_topics(kafka, names)
    state = read_state(kafka, names)
    offset = len(state.publications)  # one partition, never compacted or expired: offsets 0..n-1
    try:
        current = state.current
        if current is not None:
            books = Books(load_book_texts(current.file_map), current.version_id)
            log.info("plan book from the current published version", extra={
                "reference_version": current.version_id, "topic": names.publications})
            return books, offset
        log.info("no published plan book version: using the plans file", extra={
            "plans_file": str(plans_file), "topic": names.publications})
    except Exception as error:  # noqa: BLE001 - a bad version is reported, the file serves
        REJECTED_VERSIONS.inc()
        log.error("the current published plan book version cannot be used: using the plans file", extra={
            "error": str(error)[:2000], "plans_file": str(plans_file)})
    files = read_files([plans_file])
    return Books(load_book_texts(files), file_version_id(files)), offset


class ReferenceWatcher:
    """Notices new publications on ``reference.publications`` and swaps the book in :class:`Books`."""

    def __init__(self, kafka: KafkaSettings, names: ReferenceTopics, books: Books, offset: int,
                 contract_decode: Callable[[bytes], dict[str, Any]]) -> None:
        self.kafka, self.names, self.books = kafka, names, books
        self._decode = contract_decode
        self._consumer = Consumer(consumer_config(kafka, "attain-calculator-reference", **{"fetch.wait.max.ms": 100}))
        self._consumer.assign([TopicPartition(names.publications, 0, offset)])
        self._loading: asyncio.Task[None] | None = None
        self._again = False

    async def poll(self) -> None:
        """Take the publications that arrived (never blocks); load the current version when there were any."""
        seen = False
        while (message := self._consumer.poll(0)) is not None:
            if message.error():
                continue
            try:
                publication = Publication.from_avro(self._decode(message.value() or b""))
                log.info("plan book publication seen", extra={
                    "reference_version": publication.version_id, "action": publication.action.value,
                    "published_by": publication.published_by, "offset": message.offset()})
            except Exception as error:  # noqa: BLE001 - the current version is read from the topics anyway
                log.error("unreadable publication", extra={"offset": message.offset(), "error": str(error)})
            seen = True
        if seen:
            await self.load_current()

    async def load_current(self) -> None:
        """Read the current version (in a thread), verify and parse it, and use it; a bad one is reported."""
        try:
            state = await asyncio.to_thread(read_state, self.kafka, self.names)
            current = state.current
            if current is None or current.version_id == self.books.version_id:
                return
            current.verify()
            book = self.books.known.get(current.version_id) or await asyncio.to_thread(
                load_book_texts, current.file_map)
        except Exception as error:  # noqa: BLE001 - the book in use stays; nothing else stops
            REJECTED_VERSIONS.inc()
            log.error("published plan book version not applied: the book in use stays", extra={
                "reference_version": self.books.version_id, "error": str(error)[:2000]})
            return
        self.books.use(book, current.version_id)

    def close(self) -> None:
        self._consumer.close()


def recredit(entries: dict[str, RecordEntry], book: PlanBook, trigger: Trigger) -> StageOneResult:
    """Each record credited again under ``book``, from its state (no change applied): stage 1's messages, as
    a batch touching those records would send them (each rep the record ever sent credits to gets its
    credits now, so a credit a new book moves is retracted where it was)."""
    touched = {record_id: RecordEntry(entry.state, {rep: list(days) for rep, days in entry.sent.items()},
                                      [trigger]) for record_id, entry in entries.items()}
    result = credit_touched(touched, book)
    for body in result.messages_by_rep.values():
        body["recompute"] = True  # stage 2 publishes only the periods whose credits this moves
    return result


def chunks(items: Iterable[Any], size: int = CHUNK) -> Iterable[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def applied_key(stage: str, partition: int) -> bytes:
    """The ``reference-applied`` key of a stage's partition (``records:3``, ``credits:3``)."""
    return f"{stage}:{partition}".encode()


def now_trigger(version_id: str) -> Trigger:
    """The trigger recorded on what a recompute sends: the version, and when (no CRM record behind it)."""
    return (f"reference:{version_id}", time.time_ns() // 1_000_000, "", "", "")
