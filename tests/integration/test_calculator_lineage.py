"""The calculator's lineage on a real broker: kept while the broker keeps its state, new when it loses it."""

from __future__ import annotations

from attain.embedded.tansu import TansuBroker
from attain.platform import topics
from attain.platform.kafka import ensure_topics
from attain.platform.settings import KafkaSettings
from services.calculator.lineage import establish, read_records


def test_a_restart_keeps_the_lineage_and_a_broker_that_lost_its_state_gets_a_new_one(tmp_path):
    # The broker is this test's own: it is restarted empty (the fault), which a shared one must not be.
    with TansuBroker(tmp_path / "tansu.log") as broker:
        kafka = KafkaSettings(bootstrap=broker.bootstrap, partitions=2)
        ensure_topics(kafka, [topics.CRM_CHANGES])
        first = establish(kafka, "calc-a", None, rebuild=False)
        assert establish(kafka, "calc-a", None, rebuild=False) == first  # a restart with its state intact
        other_app = establish(kafka, "calc-b", None, rebuild=False)
        assert other_app != first and len(read_records(kafka)) == 2
        cluster_id, topic_id, epoch = first.split("/")
        assert cluster_id == "attain" and len(topic_id) == 36 and len(epoch) == 32

        broker.restart()
        ensure_topics(kafka, [topics.CRM_CHANGES])
        rebuilt = establish(kafka, "calc-a", None, rebuild=False)
        assert rebuilt != first and rebuilt.split("/")[1] != topic_id
