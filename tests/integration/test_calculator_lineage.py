"""The calculator's lineage on a real broker: kept while the broker keeps its state, new when it loses it."""

from __future__ import annotations

from confluent_kafka.admin import AdminClient

from attain.embedded.tansu import TansuBroker
from attain.platform import topics
from attain.platform.kafka import ensure_topics
from attain.platform.settings import KafkaSettings
from services.calculator.lineage import establish, read_records, state_topic


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

        # The state changelog deleted (crm.changes and calculator.lineage kept): the state is gone, a new lineage.
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        admin.delete_topics([state_topic("calc-a")], operation_timeout=30)[state_topic("calc-a")].result()
        without_changelog = establish(kafka, "calc-a", None, rebuild=False)
        assert without_changelog != first and without_changelog.split("/")[1] == topic_id
        assert establish(kafka, "calc-a", None, rebuild=False) == without_changelog

        broker.restart()
        ensure_topics(kafka, [topics.CRM_CHANGES])
        rebuilt = establish(kafka, "calc-a", None, rebuild=False)
        assert rebuilt != first and rebuilt.split("/")[1] != topic_id
