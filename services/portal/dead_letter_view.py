"""The admin board's view of a dead-letter topic, kept in the portal process and brought up to date on each load.

Reading a topic whole on every load of the board cost seconds to minutes once it held 100,000 letters (and
``read_dead_letters``' 120 s timeout made it "unreadable"), with every letter in memory, just to count them by
error code and show the newest 20. A :class:`DeadLetterView` remembers per partition where its last read stopped
and reads only what came since, keeping a :class:`~services.portal.dead_letter_tally.DeadLetterTally`.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass, field

from prometheus_client import Counter

from attain.platform.reading import low_watermarks
from attain.platform.settings import KafkaSettings
from services.ingest.dead_letters import StoredLetter, printable, read_dead_letters
from services.portal.dead_letter_tally import DeadLetterTally

log = logging.getLogger("attain.portal")

SHOWN_LETTERS = 20  # the newest dead letters of a topic listed for a replay by position
DLQ_IDLE_SECONDS = 0.5  # reading a dead-letter topic stops after this long without a message
WATERMARK_TIMEOUT = 30  # seconds for the topic's partitions and their low watermarks

LETTERS_READ = Counter("attain_portal_dead_letters_read_total",
                       "Dead letters the admin board read from their topic (each once: a load reads what came since "
                       "the last)", ["topic"])


@dataclass
class DeadLetterTopic:
    """One topic as a load of the board shows it: the total, counts by code, the newest rows, or why not."""

    topic: str
    total: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    newest: list[dict[str, str]] = field(default_factory=list)
    replayable: bool = False
    error: str | None = None


class DeadLetterView:
    """One dead-letter topic's counts and newest letters, shared by every request of the portal process.

    A lock per topic: two loads at once never read the same range twice (the second reads on from where the first
    stopped). A read that fails leaves the view as it was and the load shows the topic with its error.
    """

    def __init__(self, kafka: KafkaSettings, topic: str, *, replayable: bool = False,
                 idle_seconds: float = DLQ_IDLE_SECONDS, shown: int = SHOWN_LETTERS) -> None:
        self.topic = topic
        self.replayable = replayable
        self._kafka = kafka
        self._idle_seconds = idle_seconds
        self._shown = shown
        self._tally = DeadLetterTally(shown)
        self._lock = threading.Lock()

    def load(self) -> DeadLetterTopic:
        """Read what came since the last load (blocking: run it off the event loop) and show the topic."""
        with self._lock:
            try:
                self._catch_up()
            except Exception as error:  # noqa: BLE001 - the board shows the topic as unreadable, the rest still renders
                log.warning("dead-letter topic not read", extra={"topic": self.topic, "error": repr(error)[:200]})
                return DeadLetterTopic(self.topic, replayable=self.replayable,
                                       error=f"{type(error).__name__}: {error}"[:200])
            return DeadLetterTopic(self.topic, total=self._tally.total, counts=self._tally.counts(),
                                   newest=[dict(row) for row in self._tally.newest()], replayable=self.replayable)

    def positions(self, error_code: str) -> list[str]:
        """The positions of every letter with ``error_code`` after a load (a replay of one code); raises what the
        read raised."""
        with self._lock:
            self._catch_up()
            return self._tally.positions(error_code)

    def _catch_up(self) -> None:
        """Drop the letters retention deleted, then add those written since the last read (only once read whole).
        Each partition is read from its next offset, or from its low watermark when retention passed it."""
        # the group prefix of read_dead_letters: the one the portal's Kafka user may use (deploy/k8s kafka-users)
        lows = low_watermarks(self._kafka, self.topic, timeout=WATERMARK_TIMEOUT, group="attain-dlq-cli")
        read = self._tally.successor()
        newest: deque[StoredLetter] = deque(maxlen=self._shown)
        counter = LETTERS_READ.labels(self.topic)
        for stored in read_dead_letters(self._kafka, self.topic, idle_seconds=self._idle_seconds,
                                        start=self._tally.next_offsets()):
            counter.inc()
            if read.count(stored.partition, stored.offset, stored.letter.error_code):
                newest.append(stored)
        for stored in newest:
            read.show(stored.partition, stored.offset, letter_row(stored))
        self._tally.trim(lows)
        self._tally.absorb(read)


def letter_row(stored: StoredLetter) -> dict[str, str]:
    """A letter as the board lists it for a replay by position."""
    letter = stored.letter
    return {"position": stored.position, "error_code": letter.error_code, "source": letter.source,
            "reason": letter.reason[:200], "original": printable(letter.original, 160)}
