"""`attain plans apply|versions|show|rollback|diff` on the real embedded broker, on topics of this test's own
(so no other test's current version changes): apply, apply the same files (nothing published), apply a change,
read it back, diff it against the version before, roll back."""

import json
import shutil
import uuid
from pathlib import Path

import pytest

from attain.contracts.reference import Action, ReferenceVersion
from attain.platform.reference import ReferenceTopics, read_state
from attain.platform.settings import KafkaSettings
from cli.main import main

EXAMPLES = Path("examples/apac")


def test_apply_versions_show_diff_and_rollback(kafka_bootstrap, tmp_path, capsys):
    run_id = uuid.uuid4().hex[:8]
    names = ReferenceTopics(f"test.plans.versions.{run_id}", f"test.plans.publications.{run_id}")
    broker = ["--bootstrap", kafka_bootstrap, "--versions-topic", names.versions,
              "--publications-topic", names.publications]

    def attain(*argv):
        with pytest.raises(SystemExit) as done:
            main([*argv, *broker])
        captured = capsys.readouterr()
        assert done.value.code == 0, captured.err
        return captured.out

    book = tmp_path / "book"
    shutil.copytree(EXAMPLES, book, ignore=shutil.ignore_patterns("*.jsonl", "*.md"))
    first = attain("plans", "apply", str(book), "--user", "asha", "--reason", "Q1 plans")
    first_id = first.split()[1]
    assert first_id.startswith("rv-") and "published a new version" in first and "(previous: none)" in first
    assert "already current" in attain("plans", "apply", str(book), "--user", "asha", "--reason", "again")

    # an admin takes the current files, raises Singapore's accelerated rate and applies them
    edit = tmp_path / "edit"
    assert "wrote 4 file(s)" in attain("plans", "show", "current", "--out", str(edit))
    plans = edit / "plans-ae.yaml"
    plans.write_text(plans.read_text().replace("{from: 1.2, rate: 0.065, label: accelerated}",
                                               "{from: 1.2, rate: 0.07, label: accelerated}"))
    diff = json.loads(attain("plans", "diff", "current", str(edit), "--events", str(EXAMPLES / "events.jsonl"),
                             "--format", "json"))
    # ae-sg-01 credits 732,000 SGD in 2026-Q1 (122%): 6.5% = 47,580.00, 7% = 51,240.00, +3,660.00; nobody else
    assert [(c["rep_id"], c["period"], c["old_earned"], c["new_earned"], c["delta"]) for c in diff["changes"]] == [
        ("ae-sg-01", "2026-Q1", "47580.00", "51240.00", "3660.00")]
    second = attain("plans", "apply", str(edit), "--user", "ben", "--reason", "SG accelerator 7%")
    second_id = second.split()[1]
    assert second_id != first_id and f"(previous: {first_id})" in second

    history = json.loads(attain("plans", "versions", "--format", "json"))["publications"]
    assert [(p["version_id"], p["published_by"], p["action"], p["reason"], p["current"]) for p in history] == [
        (first_id, "asha", "PUBLISH", "Q1 plans", False), (second_id, "ben", "PUBLISH", "SG accelerator 7%", True)]
    assert "0.07" in attain("plans", "show", second_id)

    rolled = attain("plans", "rollback", "--user", "asha", "--reason", "accelerator not approved")
    assert f"rolled back to a version published before: {first_id} is current again (previous: {second_id})" \
        in rolled
    state = read_state(KafkaSettings(bootstrap=kafka_bootstrap), names)
    assert state.current.version_id == first_id
    assert [(p.action, p.previous_version_id) for p in state.publications] == [
        (Action.PUBLISH, None), (Action.PUBLISH, first_id), (Action.ROLLBACK, second_id)]
    table = attain("plans", "versions").splitlines()
    marked = [line for line in table if line.startswith("│ * ")]
    assert len(marked) == 1 and "ROLLBACK" in marked[0] and first_id in marked[0] and second_id in marked[0]

    with pytest.raises(SystemExit) as unknown:
        main(["plans", "show", "rv-0000000000000000", *broker])
    assert unknown.value.code == 2
    assert "unknown version 'rv-0000000000000000'" in capsys.readouterr().err


def test_a_version_whose_files_do_not_hash_to_its_id_is_refused_by_name(kafka_bootstrap, capsys):
    from datetime import UTC, datetime

    from confluent_kafka import Producer

    from attain.contracts.reference import PUBLICATIONS_KEY, Publication
    from attain.platform import topics
    from attain.platform.avro import contract
    from attain.platform.reference import ensure_reference_topics

    kafka = KafkaSettings(bootstrap=kafka_bootstrap)
    run_id = uuid.uuid4().hex[:8]
    names = ReferenceTopics(f"test.plans.versions.{run_id}", f"test.plans.publications.{run_id}")
    ensure_reference_topics(kafka, names)
    honest = ReferenceVersion.of_files({"plans.yaml": "plans: []\n"}, "admin")
    forged = ReferenceVersion(honest.version_id, honest.content_hash, (("plans.yaml", "plans: [forged]\n"),),
                              honest.created_at, "mallory")
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    producer.produce(names.versions, key=forged.version_id.encode(),
                     value=contract(topics.REFERENCE_VERSIONS).encode(forged.to_avro()))
    producer.produce(names.publications, key=PUBLICATIONS_KEY, value=contract(topics.REFERENCE_PUBLICATIONS).encode(
        Publication(forged.version_id, forged.content_hash, Action.PUBLISH, None, datetime.now(UTC), "mallory")
        .to_avro()))
    assert producer.flush(10) == 0
    broker = ["--bootstrap", kafka_bootstrap, "--versions-topic", names.versions,
              "--publications-topic", names.publications]

    for version, code, line in (
            (forged.version_id, 1, f"attain: error: version {forged.version_id}'s record fails verification: "
                                   f"reference version {forged.version_id}: its files hash to "),
            ("current", 1, f"attain: error: the current version cannot be read: publication of {forged.version_id}")):
        with pytest.raises(SystemExit) as refused:
            main(["plans", "show", version, *broker])
        assert refused.value.code == code
        assert capsys.readouterr().err.startswith(line)
