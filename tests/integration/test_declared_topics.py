"""Topics are declared resources on a cluster: a service checks they exist and names the missing ones;
only the embedded profile (ATTAIN_KAFKA_CREATE_TOPICS=true) creates them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
import uuid

import pytest
import yaml
from confluent_kafka.admin import AdminClient

from attain.embedded._process import log_tail, spawn, terminate
from attain.embedded.ports import free_port
from attain.embedded.tansu import TansuBroker
from attain.platform import topics
from attain.platform.kafka import MissingTopicsError, ensure_topics, provide_topics
from attain.platform.settings import KafkaSettings
from tests.conftest import REPO
from tests.polling import budget, wait_until


def _topics(bootstrap: str) -> set[str]:
    return set(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30).topics)


def test_without_create_topics_a_missing_topic_is_named_and_not_created(kafka_bootstrap):
    present, absent = f"declared-{uuid.uuid4().hex[:8]}", f"undeclared-{uuid.uuid4().hex[:8]}"
    ensure_topics(KafkaSettings(bootstrap=kafka_bootstrap), [present])
    checking = KafkaSettings(bootstrap=kafka_bootstrap, create_topics=False)

    with pytest.raises(MissingTopicsError) as raised:
        provide_topics(checking, [present, absent])
    assert raised.value.missing == [absent]
    assert f"topics missing on {kafka_bootstrap}: {absent};" in str(raised.value)
    assert "ATTAIN_KAFKA_CREATE_TOPICS=true" in str(raised.value)
    assert absent not in _topics(kafka_bootstrap)  # checked, never created

    provide_topics(checking, [present])  # all there: no error
    provide_topics(KafkaSettings(bootstrap=kafka_bootstrap, create_topics=True), [absent])  # the embedded profile
    assert absent in _topics(kafka_bootstrap)


def _declare_as_the_manifests_do(bootstrap: str) -> None:
    """Create every KafkaTopic of deploy/k8s/base/topics.yaml with its cleanup policy (2 partitions for keyed ones)."""
    declared = [d for d in yaml.safe_load_all((REPO / "deploy/k8s/base/topics.yaml").read_text()) if d]
    for partitions in (1, 2):
        names = [d["spec"].get("topicName", d["metadata"]["name"]) for d in declared
                 if min(d["spec"]["partitions"], 2) == partitions]
        compacted = [d["spec"].get("topicName", d["metadata"]["name"]) for d in declared
                     if d["spec"]["config"]["cleanup.policy"] == "compact"]
        ensure_topics(KafkaSettings(bootstrap=bootstrap, partitions=partitions), names, compacted)


def _ready(port: int) -> bool:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2).status == 200
    except OSError:
        return False


def test_the_calculator_refuses_to_start_without_its_topics_and_starts_once_the_manifests_declare_them(tmp_path):
    # A broker of its own, empty: the shared one has the topics other tests created.
    with TansuBroker(tmp_path / "tansu.log") as broker:
        port = free_port()
        env = {**os.environ, "ATTAIN_KAFKA_BOOTSTRAP": broker.bootstrap, "ATTAIN_KAFKA_CREATE_TOPICS": "false",
               "ATTAIN_KAFKA_PARTITIONS": "2", "ATTAIN_CALCULATOR_DATA_DIR": str(tmp_path / "calculator"),
               "ATTAIN_CALCULATOR_PORT": str(port)}
        done = subprocess.run([sys.executable, "-m", "services.calculator"], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=budget(60))
        assert _topics(broker.bootstrap).isdisjoint({topics.CRM_CHANGES, topics.EARNINGS})  # created nothing
        output = done.stdout + done.stderr
        assert done.returncode == 2, output[-3000:]
        assert "refusing to start" in output
        for name in (topics.CRM_CHANGES, topics.CRM_CHANGES_DLQ, topics.CALCULATOR_CREDITS, topics.EARNINGS,
                     topics.CALCULATOR_LINEAGE, "attain-calculator-records-changelog"):
            assert name in output, f"{name} not named in: {output[-2000:]}"

        _declare_as_the_manifests_do(broker.bootstrap)
        process = spawn([sys.executable, "-m", "services.calculator"], tmp_path / "calculator.log", env=env, cwd=REPO)
        try:
            wait_until(lambda: _ready(port) or process.poll() is not None, timeout=60, what="the calculator")
            assert process.poll() is None, log_tail(tmp_path / "calculator.log")
        finally:
            terminate(process, grace=15)


def test_the_embedded_profile_creates_every_faust_topic_before_the_calculator_joins_its_group(
        tmp_path, kafka_bootstrap):
    # A table whose changelog faust declared while the group's first assignment was made was skipped by the
    # assignor ("Ignoring missing topic") and its partitions stayed unassigned: live plan changes never
    # recomputed. The calculator now creates them, as faust would, before it starts.
    app_id = f"calc-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = {**os.environ, "ATTAIN_KAFKA_BOOTSTRAP": kafka_bootstrap, "ATTAIN_KAFKA_CREATE_TOPICS": "true",
           "ATTAIN_CALCULATOR_APP_ID": app_id, "ATTAIN_CALCULATOR_DATA_DIR": str(tmp_path / "calculator"),
           "ATTAIN_CALCULATOR_PORT": str(port)}
    log = tmp_path / "calculator.log"
    process = spawn([sys.executable, "-m", "services.calculator"], log, env=env, cwd=REPO)
    try:
        wait_until(lambda: _ready(port) or process.poll() is not None, timeout=90, what="the calculator")
        assert process.poll() is None, log_tail(log)
        metadata = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=30).topics
        partitions = int(os.environ.get("ATTAIN_KAFKA_PARTITIONS", "4"))
        for table in ("records", "rep-credits", "rep-months", "snapshot-versions", "reference-applied"):
            assert len(metadata[f"{app_id}-{table}-changelog"].partitions) == partitions, table
        assert len(metadata[f"{app_id}-__assignor-__leader"].partitions) == 1
        text = log.read_text()
        provided = next(json.loads(line) for line in text.splitlines()
                        if "faust's topics provided before the group is joined" in line)
        assert sorted(provided["created_topics"]) == sorted(
            [f"{app_id}-{table}-changelog" for table in
             ("rep-credits", "rep-months", "snapshot-versions", "reference-applied")]  # records': the lineage's
            + [f"{app_id}-__assignor-__leader"]), provided
        assert "Ignoring missing topic" not in text, log_tail(log)
    finally:
        terminate(process, grace=15)
