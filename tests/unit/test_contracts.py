"""Avro contracts: every schema parses, round-trips, and each version reads the one before."""

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError
from fastavro.utils import generate_many

from attain.platform.avro import SerdeError, contract, load_schema_file, version_files
from attain.platform.schemas import schemas_dir

TOPIC_DIRS = sorted(p for p in schemas_dir().iterdir() if p.is_dir() and p.name != "plans")  # plans: JSON Schema


def plain(value):
    """``value`` with timestamps as the epoch milliseconds the generator wrote (logical types decode to datetime)."""
    if isinstance(value, datetime):
        return (value - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def shared(value, other):
    """``value`` cut to the fields ``other`` also has, at every depth (a newer version may add nested fields)."""
    if isinstance(value, dict) and isinstance(other, dict):
        return {k: shared(v, other[k]) for k, v in value.items() if k in other}
    if isinstance(value, list) and isinstance(other, list) and len(value) == len(other):
        return [shared(v, o) for v, o in zip(value, other, strict=True)]
    return value


def reads_old_data(old, new, samples=25):
    """True when data written with ``old`` is readable with ``new`` (schema resolution), field values kept."""
    read = 0
    for record in generate_many(old, samples):
        buffer = io.BytesIO()
        schemaless_writer(buffer, old, record)
        buffer.seek(0)
        resolved = schemaless_reader(buffer, old, new)
        kept = record.keys() & resolved.keys()
        assert kept, "a new version shares no field with the old one"
        assert plain(shared(resolved, record)) == plain(shared(record, resolved))
        read += 1
    return read == samples


VERSION_PAIRS = [(topic_dir.name, old, new) for topic_dir in TOPIC_DIRS
                 for old, new in zip(version_files(topic_dir), version_files(topic_dir)[1:], strict=False)]


def test_every_public_topic_has_a_contract():
    assert {p.name for p in TOPIC_DIRS} >= {"crm.changes", "earnings", "payouts", "payouts.control", "dlq"}


@pytest.mark.parametrize("topic_dir", TOPIC_DIRS, ids=lambda p: p.name)
def test_every_version_parses_and_documents_itself(topic_dir):
    files = version_files(topic_dir)
    assert files, f"{topic_dir} has no v1.avsc"
    for path in files:
        schema = load_schema_file(path)
        assert json.loads(path.read_text()).get("doc"), f"{path} needs a doc saying owner and readers"
        assert schema["type"] == "record"


@pytest.mark.parametrize("topic_dir", TOPIC_DIRS, ids=lambda p: p.name)
def test_versions_are_numbered_from_one_without_gaps(topic_dir):
    """Only then is every version compared with the one before it (below)."""
    names = sorted((p.name for p in topic_dir.glob("*.avsc")), key=lambda name: int(name[1:-len(".avsc")]))
    assert names == [f"v{n}.avsc" for n in range(1, len(names) + 1)]
    assert [p.name for p in version_files(topic_dir)] == names


def test_every_consecutive_pair_of_versions_is_compared():
    expected = sum(len(version_files(topic_dir)) - 1 for topic_dir in TOPIC_DIRS)
    assert len(VERSION_PAIRS) == expected
    assert {topic for topic, _, _ in VERSION_PAIRS} >= {"earnings", "payouts"}  # the topics that have a v2


@pytest.mark.parametrize(("topic", "old", "new"), VERSION_PAIRS, ids=lambda v: getattr(v, "name", v))
def test_each_new_version_reads_data_written_with_the_previous_one(topic, old, new):
    assert reads_old_data(load_schema_file(old), load_schema_file(new)), topic


def test_the_compatibility_check_catches_a_breaking_change():
    old = parse_schema({"type": "record", "name": "T", "fields": [{"name": "a", "type": "string"}]})
    new = parse_schema({"type": "record", "name": "T", "fields": [
        {"name": "a", "type": "string"}, {"name": "b", "type": "long"}]})  # no default: breaking
    with pytest.raises(SchemaResolutionError):
        reads_old_data(old, new)


@pytest.mark.parametrize("topic", ["crm.changes", "earnings", "payouts", "payouts.control", "crm.changes.dlq"])
def test_messages_round_trip_through_single_object_encoding(topic):
    record = next(iter(generate_many(contract(topic).latest, 1)))
    assert plain(contract(topic).decode(contract(topic).encode(record))) == plain(record)


def test_garbage_and_unknown_fingerprints_are_serde_errors():
    with pytest.raises(SerdeError, match="bad marker"):
        contract("earnings").decode(b"not avro at all")
    with pytest.raises(SerdeError, match="unknown writer schema"):
        contract("earnings").decode(b"\xc3\x01" + b"\x00" * 8 + b"\x02")
