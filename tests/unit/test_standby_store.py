"""The memory store behind standby replicas: keeps active and standby partitions and the offset it holds of each."""

import asyncio
from types import SimpleNamespace

import faust
from faust.types import TP

from attain.platform.faust_adapter import STANDBY_MEMORY_STORE, StandbyMemoryStore


def event(topic: str, partition: int, offset: int, key: bytes, value: bytes | None) -> SimpleNamespace:
    return SimpleNamespace(key=key, value=value,
                           message=SimpleNamespace(tp=TP(topic, partition), partition=partition, offset=offset,
                                                   value=value))


def store() -> StandbyMemoryStore:
    app = faust.App("standby-store-test", store=STANDBY_MEMORY_STORE)
    table = app.Table("t", partitions=3)
    made = table.data
    assert isinstance(made, StandbyMemoryStore)  # the app's store URL names it
    return made


def test_the_offset_held_per_partition_is_the_last_applied_and_unknown_before():
    data = store()
    assert data.persisted_offset(TP("c", 0)) is None
    data.apply_changelog_batch([event("c", 0, 5, b"a", b"1"), event("c", 0, 9, b"b", b"2"),
                                event("c", 1, 3, b"c", b"3")], lambda k: k, lambda v: v)
    data.apply_changelog_batch([event("c", 0, 7, b"a", b"4")], lambda k: k, lambda v: v)
    assert (data.persisted_offset(TP("c", 0)), data.persisted_offset(TP("c", 1))) == (9, 3)
    assert data.data == {b"a": b"4", b"b": b"2", b"c": b"3"}


def test_recovery_keeps_active_and_standby_partitions_and_forgets_the_others_with_their_offsets():
    data = store()
    data.apply_changelog_batch([event("c", 0, 1, b"active", b"1"), event("c", 1, 1, b"standby", b"2"),
                                event("c", 2, 1, b"gone", b"3")], lambda k: k, lambda v: v)
    asyncio.run(data.on_recovery_completed({TP("c", 0)}, {TP("c", 1)}))
    assert data.data == {b"active": b"1", b"standby": b"2"}
    assert [data.persisted_offset(TP("c", p)) for p in range(3)] == [1, 1, None]


def test_a_write_of_its_own_moves_the_offset_held_forward_never_back():
    data = store()
    data.apply_changelog_batch([event("c", 0, 4, b"a", b"1")], lambda k: k, lambda v: v)
    data.note_stored(TP("c", 0), 12)
    data.note_stored(TP("c", 0), 8)
    assert data.persisted_offset(TP("c", 0)) == 12
