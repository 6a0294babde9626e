"""What the admin board knows of one dead-letter topic between two loads, without I/O: the error code of every
letter still on the topic, by partition and offset, and the rows of the newest few.

The board used to read a topic whole on every load; now each load reads only what came since the last
(:mod:`services.portal.dead_letter_view`) and adds it here. Counts by error code must still fall when retention
deletes old letters, and a bare count cannot tell which codes went, so the tally keeps, per partition, the offset
and the code of each letter counted, in two arrays (about 12 bytes a letter, not the letter), and drops those
below the partition's low watermark on each load (:meth:`DeadLetterTally.trim`).

>>> tally = DeadLetterTally(shown=2)
>>> for offset, code in enumerate(["invalid_json", "validation_error", "invalid_json"]):
...     _ = tally.count(0, offset, code)
>>> tally.total, tally.counts()
(3, {'invalid_json': 2, 'validation_error': 1})
>>> tally.trim({0: 1})  # retention deleted offset 0
>>> tally.total, tally.counts(), tally.next_offsets()
(2, {'invalid_json': 1, 'validation_error': 1}, {0: 3})
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field

Row = Mapping[str, str]


@dataclass
class _Partition:
    """The letters counted on one partition: ascending offsets and, at the same index, their code's number."""

    offsets: array[int] = field(default_factory=lambda: array("q"))
    codes: array[int] = field(default_factory=lambda: array("I"))
    next_offset: int = 0  # the first offset not read yet: the last counted + 1, or the low watermark past it


class DeadLetterTally:
    """Counts by error code and the newest ``shown`` rows of a dead-letter topic, kept across loads.

    Every partition's state is the map offset -> error code of the letters still on it, so counting a letter
    twice (a read that started early) changes nothing and a deleted letter leaves the counts with its offset.
    """

    def __init__(self, shown: int) -> None:
        self._partitions: dict[int, _Partition] = {}
        self._code_numbers: dict[str, int] = {}
        self._code_names: list[str] = []  # number -> code, so each letter keeps a small int, not a string
        self._counts: Counter[str] = Counter()
        self._newest: deque[tuple[int, int, Row]] = deque(maxlen=shown)

    @property
    def total(self) -> int:
        return sum(len(partition.offsets) for partition in self._partitions.values())

    def counts(self) -> dict[str, int]:
        """How many letters carry each error code, the most frequent first (then by name)."""
        return dict(sorted(((code, n) for code, n in self._counts.items() if n), key=lambda item: (-item[1], item[0])))

    def newest(self) -> list[Row]:
        """The rows of the newest letters still on the topic, the newest first."""
        return [row for _, _, row in reversed(self._newest)]

    def next_offsets(self) -> dict[int, int]:
        """Partition -> the offset the next read starts at (a partition not listed: its beginning)."""
        return {number: partition.next_offset for number, partition in self._partitions.items()}

    def positions(self, error_code: str) -> list[str]:
        """The positions (``partition:offset``) of the letters carrying ``error_code``, partition by partition."""
        number = self._code_numbers.get(error_code)
        return [f"{at}:{offset}" for at, partition in sorted(self._partitions.items())
                for offset, code in zip(partition.offsets, partition.codes, strict=True) if code == number]

    def count(self, partition: int, offset: int, error_code: str) -> bool:
        """Count the letter at ``partition:offset``, saying whether it is new: one at or below an offset already
        counted or trimmed is known already and changes nothing (a partition is read in order)."""
        held = self._partitions.get(partition)
        if held is None:
            held = self._partitions[partition] = _Partition()
        elif offset < held.next_offset:
            return False
        number = self._code_numbers.setdefault(error_code, len(self._code_names))
        if number == len(self._code_names):
            self._code_names.append(error_code)
        held.offsets.append(offset)
        held.codes.append(number)
        held.next_offset = offset + 1
        self._counts[error_code] += 1
        return True

    def show(self, partition: int, offset: int, row: Row) -> None:
        """Add the row of the newest letter read so far (the oldest shown row falls off past ``shown``)."""
        self._newest.append((partition, offset, row))

    def trim(self, lows: Mapping[int, int]) -> None:
        """Forget every letter below its partition's low watermark (``lows``: partition -> low watermark):
        retention or a delete-records removed it from the topic, so it leaves the counts and the rows; a
        partition whose low watermark passed the next offset is read on from the low watermark."""
        for number, low in lows.items():
            held = self._partitions.setdefault(number, _Partition())
            cut = bisect_left(held.offsets, low)
            if cut:
                gone = Counter(held.codes[:cut])
                self._counts.subtract({self._code_names[code]: n for code, n in gone.items()})
                del held.offsets[:cut]
                del held.codes[:cut]
            held.next_offset = max(held.next_offset, low)
        kept = [shown for shown in self._newest if shown[1] >= lows.get(shown[0], 0)]
        self._newest = deque(kept, maxlen=self._newest.maxlen)

    def successor(self) -> DeadLetterTally:
        """An empty tally for the next load's read: each partition starts where this one stops, and the code
        numbers are shared, so :meth:`absorb` adds the read's arrays as they are."""
        newer = DeadLetterTally(self._newest.maxlen or 0)
        newer._code_numbers, newer._code_names = self._code_numbers, self._code_names
        newer._partitions = {number: _Partition(next_offset=held.next_offset)
                             for number, held in self._partitions.items()}
        return newer

    def absorb(self, newer: DeadLetterTally) -> None:
        """Add what ``newer`` (this tally's :meth:`successor`, filled by one whole read) counted and showed. The
        read is tallied apart and added only once it is whole, so one failing half-way leaves this one as it was."""
        floors: dict[int, int] = {}
        for number, read in newer._partitions.items():
            held = self._partitions.setdefault(number, _Partition())
            floors[number] = held.next_offset
            cut = bisect_left(read.offsets, held.next_offset)  # none, unless a trim since raised next_offset
            held.offsets.extend(read.offsets[cut:])
            held.codes.extend(read.codes[cut:])
            if cut:
                self._counts.subtract(self._code_names[code] for code in read.codes[:cut])
            held.next_offset = max(held.next_offset, read.next_offset)
        self._counts.update(newer._counts)
        self._newest.extend(shown for shown in newer._newest if shown[1] >= floors.get(shown[0], 0))
