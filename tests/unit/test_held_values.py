"""How the calculator holds its table values in memory: stored JSON with the values last used decoded,
and keys and values that hold no more memory than their own bytes."""

import gc
import tracemalloc

import orjson

from services.calculator.month_cache import RecordCredits, record_key
from services.calculator.state import HeldValues


def decoded_counting(calls):
    def decode(data):
        calls.append(data)
        return orjson.loads(data)
    return decode


def test_hot_values_are_stored_as_json_and_read_decoded_while_the_store_holds_their_bytes():
    calls = []
    held = HeldValues(decoded_counting(calls), hot=2)
    store = {}
    value = {"n": 1}
    store[b"a"] = held.keep(b"a", value, orjson.dumps(value))
    assert store[b"a"] == b'{"n":1}'  # the store holds the JSON, not the object
    assert held.get(store, b"a") is value and calls == []  # kept decoded: no decode
    store[b"a"] = b'{"n":2}'  # a changelog record applied since (a standby copy promoted, a recovery)
    assert held.get(store, b"a") == {"n": 2} and calls == [b'{"n":2}']
    assert held.get(store, b"a") == {"n": 2} and len(calls) == 1  # now kept decoded
    for key in (b"b", b"c"):  # two more: "a" is the oldest and leaves the decoded ones
        store[key] = held.keep(key, {"k": key.decode()}, orjson.dumps({"k": key.decode()}))
    assert held.get(store, b"a") == {"n": 2} and len(calls) == 2
    held.forget(b"c")
    del store[b"c"]
    assert held.get(store, b"c") is None


def test_values_without_hot_are_kept_as_objects_and_decoded_once_from_a_changelog():
    calls = []
    held = HeldValues(decoded_counting(calls))
    value = {"n": 1}
    store = {b"a": held.keep(b"a", value, orjson.dumps(value)), b"b": b'{"n":3}'}
    assert store[b"a"] is value
    assert held.get(store, b"b") == {"n": 3} and store[b"b"] == {"n": 3} and len(calls) == 1


def allocated_per_item(make, count=2000):
    gc.collect()
    tracemalloc.start()
    try:
        items = [make(number) for number in range(count)]
        size = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(items) == count
    return size / count


def test_stored_keys_and_credits_hold_only_their_own_bytes():
    # orjson's output keeps the 4 KiB buffer it was written in; a key held per record must not
    assert allocated_per_item(lambda n: record_key("rep-0001", "2026-01", f"006FO{n:010d}")) < 200
    wire = [{"record_id": "006A", "rep_id": "rep-0001", "measure": "closed_won_amount", "credit_date": "2026-01-05",
             "amount": "1000", "currency": "INR", "version": [1, 0, 0, "e1"], "role": "owner", "share": "1",
             "kind": "credit", "attributes": [], "via": ""}]
    credits = RecordCredits.from_wire(wire)
    assert orjson.loads(credits.encoded) == wire and credits.wire() == wire
    assert RecordCredits.from_stored(credits.encoded) == credits
    assert allocated_per_item(lambda n: RecordCredits.from_wire(wire).encoded) < 600
