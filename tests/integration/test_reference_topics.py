"""Reference versions on a real broker: publish, publish the same files again, publish a change, roll back."""

from __future__ import annotations

import uuid

from attain.contracts.reference import Action, ReferenceVersion
from attain.platform.reference import ReferenceTopics, publish, read_state
from attain.platform.settings import KafkaSettings


def test_the_last_publication_names_the_current_version_and_every_publication_is_kept(kafka_bootstrap):
    kafka = KafkaSettings(bootstrap=kafka_bootstrap)
    run = uuid.uuid4().hex[:8]
    names = ReferenceTopics(f"test.reference.versions.{run}", f"test.reference.publications.{run}")
    first = ReferenceVersion.of_files({"plans.yaml": "plans: []\n"}, "admin-1", source="first")
    second = ReferenceVersion.of_files({"plans.yaml": "plans: []\n", "fx.yaml": "fx_rates: []\n"}, "admin-2")

    assert read_state(kafka, names).current is None
    assert publish(kafka, first, "admin-1", "initial", names=names).action is Action.PUBLISH
    assert publish(kafka, first, "admin-1", "again", names=names) is None  # current already: nothing written
    changed = publish(kafka, second, "admin-2", "add FX", names=names)
    rolled = publish(kafka, first, "admin-3", "undo FX", names=names)

    state = read_state(kafka, names)
    assert state.current == first
    assert (changed.previous_version_id, rolled.action, rolled.previous_version_id) == (
        first.version_id, Action.ROLLBACK, second.version_id)
    assert [(p.version_id, p.published_by, p.reason) for p in state.publications] == [
        (first.version_id, "admin-1", "initial"), (second.version_id, "admin-2", "add FX"),
        (first.version_id, "admin-3", "undo FX")]
    assert state.versions[second.version_id].file_map == {"plans.yaml": "plans: []\n", "fx.yaml": "fx_rates: []\n"}
