"""The shipped alert rules and dashboards: promtool checks and unit-tests the rules, the PrometheusRule carries
exactly the plain rules' groups, every alert has its runbook, and every metric a rule or a dashboard panel
names is one the services export."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.metric_census import exported_names

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
RULES = MONITORING / "rules.yaml"
PROMETHEUS_RULE = ROOT / "deploy" / "k8s" / "components" / "monitoring" / "prometheusrule.yaml"
DASHBOARDS = sorted((MONITORING / "dashboards").glob("*.json"))
METRIC = re.compile(r"\battain_\w+")


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is not installed: it ships in Debian's prometheus package "
                    "(apt-get install prometheus); .ci/run installs it when missing")
    return found


def test_promtool_checks_the_rules_and_runs_every_groups_tests():
    tests = sorted((MONITORING / "tests").glob("*.yaml"))
    groups = {group["name"] for group in yaml.safe_load(RULES.read_text())["groups"]}
    assert {f"attain-{test.stem.replace('_', '-')}" for test in tests} == groups  # a test file per group
    checked = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run([promtool(), "test", "rules", *map(str, tests)], capture_output=True, text=True,
                            cwd=MONITORING / "tests")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.count("SUCCESS") == len(tests)


def test_the_prometheus_rule_carries_the_plain_rules_groups():
    import importlib.util

    spec = importlib.util.spec_from_file_location("prometheusrule", MONITORING / "prometheusrule.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    shipped = yaml.safe_load(PROMETHEUS_RULE.read_text())
    assert shipped["kind"] == "PrometheusRule"
    assert shipped["apiVersion"] == "monitoring.coreos.com/v1"
    assert shipped["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]
    assert PROMETHEUS_RULE.read_text() == generator.render(), "run `make rules`"


def test_every_alert_has_a_runbook_in_operations_md():
    operations = (ROOT / "docs" / "operations.md").read_text()
    headings = {line.lstrip("#").strip().lower() for line in operations.splitlines() if line.startswith("### ")}
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                assert rule["annotations"]["runbook_url"] == f"docs/operations.md#{rule['alert'].lower()}"
                assert rule["alert"].lower() in headings, f"no runbook section for {rule['alert']}"


def test_rules_and_dashboards_name_only_metrics_the_services_export():
    exported = exported_names()
    assert "attain_ledger_outbox_backlog" in exported and "attain_grpc_server_handled_total" in exported
    named_by_rules = set(METRIC.findall(RULES.read_text()))
    assert named_by_rules - exported == set()
    assert len(DASHBOARDS) >= 2
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            exprs = [target["expr"] for target in panel["targets"]]
            assert exprs, f"{path.name}: panel {panel['title']!r} has no query"
            named = {name for expr in exprs for name in METRIC.findall(expr)}
            assert named, f"{path.name}: panel {panel['title']!r} names no Attain metric"
            assert named - exported == set(), f"{path.name}: panel {panel['title']!r}"


def test_the_monitoring_kustomization_provisions_every_dashboard():
    kustomization = yaml.safe_load((MONITORING / "kustomization.yaml").read_text())
    assert kustomization["generatorOptions"]["labels"]["grafana_dashboard"] == "1"
    files = {Path(file).name for generator in kustomization["configMapGenerator"] for file in generator["files"]}
    assert files == {path.name for path in DASHBOARDS}
    component = yaml.safe_load((PROMETHEUS_RULE.parent / "kustomization.yaml").read_text())
    assert component["kind"] == "Component"
    assert set(component["resources"]) == {"prometheusrule.yaml", "../../../monitoring"}
