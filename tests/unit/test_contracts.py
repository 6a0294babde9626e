"""Avro contracts: every schema parses, round-trips, and each version reads the one before."""

import io
import json

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError
from fastavro.utils import generate_many

from attain.platform.avro import SerdeError, contract, load_schema_file, schemas_dir, version_files

TOPIC_DIRS = sorted(p for p in schemas_dir().iterdir() if p.is_dir() and p.name != "plans")  # plans: JSON Schema


def reads_old_data(old, new, samples=25):
    """True when data written with ``old`` is readable with ``new`` (schema resolution)."""
    for record in generate_many(old, samples):
        buffer = io.BytesIO()
        schemaless_writer(buffer, old, record)
        buffer.seek(0)
        schemaless_reader(buffer, old, new)
    return True


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
def test_each_new_version_reads_data_written_with_the_previous_one(topic_dir):
    versions = [load_schema_file(p) for p in version_files(topic_dir)]
    for old, new in zip(versions, versions[1:], strict=False):
        assert reads_old_data(old, new)


def test_the_compatibility_check_catches_a_breaking_change():
    old = parse_schema({"type": "record", "name": "T", "fields": [{"name": "a", "type": "string"}]})
    new = parse_schema({"type": "record", "name": "T", "fields": [
        {"name": "a", "type": "string"}, {"name": "b", "type": "long"}]})  # no default: breaking
    with pytest.raises(SchemaResolutionError):
        reads_old_data(old, new)


@pytest.mark.parametrize("topic", ["crm.changes", "earnings", "payouts", "payouts.control", "crm.changes.dlq"])
def test_messages_round_trip_through_single_object_encoding(topic):
    record = next(iter(generate_many(contract(topic).latest, 1)))
    assert contract(topic).decode(contract(topic).encode(record)).keys() == record.keys()


def test_garbage_and_unknown_fingerprints_are_serde_errors():
    with pytest.raises(SerdeError, match="bad marker"):
        contract("earnings").decode(b"not avro at all")
    with pytest.raises(SerdeError, match="unknown writer schema"):
        contract("earnings").decode(b"\xc3\x01" + b"\x00" * 8 + b"\x02")
