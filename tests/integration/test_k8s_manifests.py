"""deploy/k8s checked as an operator's tools would: kustomize builds every overlay, kubeconform -strict
validates it against the Kubernetes and CRD schemas (Strimzi, KEDA, Prometheus Operator), every workload
keeps the house rules, and every topic the services use is declared. Needs kustomize and kubeconform
(``make lint-k8s`` installs them): without them this test fails saying so."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import yaml

from attain.platform import topics
from tests.conftest import REPO

DEPLOY = REPO / "deploy" / "k8s"


def _check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("attain_k8s_check", DEPLOY / "check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _documents(check: ModuleType, resources: list[Path], components: list[Path] = ()) -> list[dict]:
    built = check.build([str(p) for p in resources], [str(p) for p in components])
    return [d for d in yaml.safe_load_all(built) if d]


def test_every_overlay_builds_and_passes_kubeconform_strict_and_the_house_rules():
    check = _check()
    results = check.check()
    assert set(results) >= {"overlays/dev", "overlays/prod", "base+components/salesforce"}
    assert results == {label: [] for label in results}

    prod = _documents(check, [DEPLOY / "overlays" / "prod"])
    kinds = {d["kind"] for d in prod}
    assert {"StatefulSet", "Deployment", "Job", "PodDisruptionBudget", "NetworkPolicy", "KafkaTopic", "KafkaUser",
            "ScaledObject", "ServiceMonitor", "Ingress", "ServiceAccount"} <= kinds
    workloads = [d for d in prod if d["kind"] in ("Deployment", "StatefulSet")]
    assert {d["metadata"]["name"] for d in workloads} == {
        "attain-ingest", "attain-calculator", "attain-ledger", "attain-notifier", "attain-portal"}
    assert next(d for d in workloads if d["metadata"]["name"] == "attain-calculator")["kind"] == "StatefulSet"
    for scaled in (d for d in prod if d["kind"] == "ScaledObject"):  # never more consumers than partitions
        assert scaled["spec"]["maxReplicaCount"] <= 12


def test_the_portal_runs_two_replicas_behind_an_sse_ready_ingress_with_only_its_flows():
    check = _check()
    prod = _documents(check, [DEPLOY / "overlays" / "prod"])

    def one(kind: str, name: str) -> dict:
        return next(d for d in prod if d["kind"] == kind and d["metadata"]["name"] == name)

    portal = one("Deployment", "attain-portal")
    assert portal["spec"]["replicas"] == 2
    container = portal["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["portal"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    database = next(e for e in container["env"] if e["name"] == "ATTAIN_PORTAL_DATABASE_URL")
    assert database["valueFrom"]["secretKeyRef"] == {"name": "attain-portal-db", "key": "url"}  # required
    config = next(d for d in prod if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("attain-portal-"))
    assert config["data"]["ATTAIN_PORTAL_PUBLIC_URL"].startswith("https://")

    ingress = one("Ingress", "attain-portal")
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert ingress["spec"]["tls"][0]["hosts"] == [ingress["spec"]["rules"][0]["host"]]

    acls = one("KafkaUser", "attain-portal")["spec"]["authorization"]["acls"]
    assert {(a["resource"]["type"], a["resource"].get("name"), tuple(a["operations"])) for a in acls} == {
        ("topic", topics.CRM_CHANGES, ("Read", "Describe")), ("topic", topics.EARNINGS, ("Read", "Describe")),
        ("topic", "notifications", ("Read", "Describe")), ("group", "attain-portal", ("Read", "Describe")),
        # the admin board: dead-letter counts, read by throwaway readers that commit nothing
        ("topic", "crm.changes.dlq", ("Read", "Describe")), ("topic", "earnings.dlq", ("Read", "Describe")),
        ("topic", "notifications.dlq", ("Read", "Describe")), ("group", "attain-dlq-cli-", ("Read", "Describe"))}

    policy = one("NetworkPolicy", "attain-portal")["spec"]
    assert policy["ingress"] == [{"from": [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "ingress-nginx"}}}], "ports": [{"port": 8085}]}]
    assert sorted(port["port"] for rule in policy["egress"] for port in rule["ports"]) == [443, 5432, 8081, 8083]
    ledger_from = one("NetworkPolicy", "attain-ledger")["spec"]["ingress"][0]["from"][0]["podSelector"]
    assert "attain-portal" in ledger_from["matchExpressions"][0]["values"]
    dev = _documents(check, [DEPLOY / "overlays" / "dev"])
    assert next(d for d in dev if d["kind"] == "Deployment" and d["metadata"]["name"] == "attain-portal")[
        "spec"]["replicas"] == 1


def test_the_house_rules_find_a_workload_that_breaks_them():
    check = _check()
    bare = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bare"},
            "spec": {"template": {"metadata": {"labels": {"app": "bare"}}, "spec": {"containers": [{
                "name": "c", "image": "attain", "envFrom": [{"secretRef": {"name": "s", "optional": True}}]}]}}}}
    problems = check.policy_problems([bare])
    for expected in ("no PodDisruptionBudget", "is no ServiceAccount", "runAsNonRoot", "no startupProbe",
                     "no livenessProbe", "no readinessProbe", "root filesystem not read-only",
                     "no requests for cpu, memory", "no limits for cpu, memory", "Secret s referenced as optional"):
        assert any(expected in problem for problem in problems), (expected, problems)


def test_every_topic_the_services_use_is_a_declared_kafka_topic():
    from attain.planfiles import load_book
    from attain.platform.settings import KafkaSettings
    from services.calculator.app import create_app, internal_topics
    from services.calculator.config import CalculatorSettings
    from services.calculator.reload import Books

    check = _check()
    documents = _documents(check, [DEPLOY / "base"], [DEPLOY / "components" / "salesforce"])
    declared = {d["spec"].get("topicName", d["metadata"]["name"]): d for d in documents if d["kind"] == "KafkaTopic"}
    app, producer = create_app(KafkaSettings(bootstrap="127.0.0.1:9"), CalculatorSettings(),
                               Books(load_book([REPO / "examples" / "demo" / "plans.yaml"]), "test"))
    producer.close(0)
    wanted = {value for name, value in vars(topics).items() if name.isupper() and isinstance(value, str)}
    wanted |= set(internal_topics(app)) | {"reference.versions", "reference.publications"}
    assert wanted <= set(declared), sorted(wanted - set(declared))

    config = next(d for d in documents
                  if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("attain-config"))
    partitions = int(config["data"]["ATTAIN_KAFKA_PARTITIONS"])
    for name, topic in declared.items():
        assert topic["spec"]["replicas"] == 3 and topic["spec"]["config"]["min.insync.replicas"] == 2, name
        if topic["metadata"]["labels"].get("attain.io/partitioned") == "true":
            assert topic["spec"]["partitions"] == partitions, name
    for changelog in {t for t in wanted if t.endswith("-changelog")} | {"ingest.salesforce.replay",
                                                                          "reference.versions"}:
        assert declared[changelog]["spec"]["config"]["cleanup.policy"] == "compact", changelog
    assert declared[topics.PAYOUTS]["spec"]["config"]["retention.ms"] != "604800000"  # not the broker's 7 days
    assert declared[topics.CRM_CHANGES]["spec"]["config"]["retention.ms"] == "-1"
    assert declared["reference.publications"]["spec"]["config"]["retention.ms"] == "-1"
