"""The board's tally of a dead-letter topic kept across loads (services/portal/dead_letter_tally.py): counts by
error code that stay right when retention deletes old letters, the newest rows, where the next read starts."""

from __future__ import annotations

import doctest

import services.portal.dead_letter_tally as tally_module
from services.portal.dead_letter_tally import DeadLetterTally


def row(partition: int, offset: int) -> dict[str, str]:
    return {"position": f"{partition}:{offset}"}


def tally_of(letters: list[tuple[int, int, str]], shown: int = 3) -> DeadLetterTally:
    tally = DeadLetterTally(shown)
    for partition, offset, code in letters:
        assert tally.count(partition, offset, code)
        tally.show(partition, offset, row(partition, offset))
    return tally


# partition 0: offsets 0-4, partition 1: offsets 0-2; 5 invalid_json, 2 validation_error, 1 undecodable
LETTERS = [(0, 0, "invalid_json"), (1, 0, "validation_error"), (0, 1, "invalid_json"), (0, 2, "undecodable"),
           (1, 1, "invalid_json"), (0, 3, "validation_error"), (1, 2, "invalid_json"), (0, 4, "invalid_json")]


def test_counts_by_code_most_frequent_first_then_by_name():
    tally = tally_of(LETTERS)

    assert tally.total == 8
    assert list(tally.counts().items()) == [("invalid_json", 5), ("validation_error", 2), ("undecodable", 1)]
    assert tally.next_offsets() == {0: 5, 1: 3}


def test_a_low_watermark_move_takes_the_deleted_letters_out_of_the_counts_and_the_rows():
    tally = tally_of(LETTERS)

    # retention deleted partition 0's offsets 0-2 (invalid_json, invalid_json, undecodable) and 1's offset 0
    # (validation_error): left are 0:3 validation_error, 0:4, 1:1 and 1:2 invalid_json
    tally.trim({0: 3, 1: 1})

    assert tally.total == 4
    assert tally.counts() == {"invalid_json": 3, "validation_error": 1}  # undecodable gone, not shown as 0
    assert tally.next_offsets() == {0: 5, 1: 3}  # still read on from where the last read stopped
    assert [r["position"] for r in tally.newest()] == ["0:4", "1:2", "0:3"]
    # the next move deletes two of the shown letters: fewer rows, never a deleted one
    tally.trim({0: 4, 1: 3})
    assert tally.total == 1 and tally.counts() == {"invalid_json": 1}
    assert [r["position"] for r in tally.newest()] == ["0:4"]


def test_a_low_watermark_past_the_next_offset_empties_the_partition_and_the_next_read_starts_there():
    tally = tally_of(LETTERS)

    tally.trim({0: 9, 1: 0, 2: 4})  # partition 0 deleted past what was read; partition 2 new, its first 4 deleted

    assert tally.total == 3 and tally.counts() == {"invalid_json": 2, "validation_error": 1}
    assert tally.next_offsets() == {0: 9, 1: 3, 2: 4}
    assert not tally.count(0, 8, "invalid_json")  # below the low watermark: deleted, never counted
    assert tally.count(0, 9, "invalid_json") and tally.counts()["invalid_json"] == 3


def test_a_letter_read_again_changes_nothing():
    tally = tally_of(LETTERS)

    assert not tally.count(0, 4, "invalid_json")
    assert not tally.count(1, 1, "undecodable")
    assert tally.total == 8 and tally.counts()["invalid_json"] == 5 and "undecodable" in tally.counts()


def test_a_read_is_added_only_whole_and_a_failed_one_leaves_the_tally_as_it_was():
    tally = tally_of(LETTERS)
    before = (tally.total, tally.counts(), tally.next_offsets(), tally.newest())

    failed = tally.successor()  # a read that stops half-way: its tally is dropped, never absorbed
    assert failed.count(0, 5, "brand_new_code")
    assert (tally.total, tally.counts(), tally.next_offsets(), tally.newest()) == before

    read = tally.successor()
    assert not read.count(0, 4, "invalid_json")  # the successor starts each partition where the tally stopped
    for partition, offset, code in [(0, 5, "undecodable"), (1, 3, "undecodable"), (3, 0, "invalid_json")]:
        assert read.count(partition, offset, code)
        read.show(partition, offset, row(partition, offset))
    tally.absorb(read)

    assert tally.total == 11
    assert tally.counts() == {"invalid_json": 6, "undecodable": 3, "validation_error": 2}
    assert tally.next_offsets() == {0: 6, 1: 4, 3: 1}
    assert [r["position"] for r in tally.newest()] == ["3:0", "1:3", "0:5"]


def test_a_trim_between_the_read_and_its_absorption_keeps_the_deleted_letters_out():
    tally = tally_of(LETTERS)
    read = tally.successor()
    for offset in (5, 6, 7):
        read.count(0, offset, "undecodable")
        read.show(0, offset, row(0, offset))

    tally.trim({0: 7})  # the low watermark read at the load's start had passed what this read began with
    tally.absorb(read)

    # partition 1's three (validation_error, invalid_json, invalid_json) and 0:7
    assert list(tally.counts().items()) == [("invalid_json", 2), ("undecodable", 1), ("validation_error", 1)]
    assert tally.total == 4 and tally.next_offsets() == {0: 8, 1: 3}
    assert [r["position"] for r in tally.newest()] == ["0:7", "1:2"]


def test_positions_of_one_code_for_a_replay():
    tally = tally_of(LETTERS)
    tally.trim({0: 1})

    assert tally.positions("invalid_json") == ["0:1", "0:4", "1:1", "1:2"]
    assert tally.positions("no_such_code") == []


def test_the_module_examples_hold():
    assert doctest.testmod(tally_module).failed == 0
