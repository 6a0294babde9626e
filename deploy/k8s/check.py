"""Static checks of deploy/k8s (``make lint-k8s``; tests/integration/test_k8s_manifests.py).

For every overlay, and the base with each component: ``kustomize build``, then kubeconform ``-strict``
against the Kubernetes schemas of the ``kubernetes-validate`` package and the CRD schemas vendored in
``schemas/`` (Strimzi, KEDA, Prometheus Operator; converted here to kubeconform's JSON layout), then
Attain's own rules: every workload has startup, liveness and readiness probes, runs as non-root with a
read-only root filesystem, sets requests and limits, has a ServiceAccount and a PodDisruptionBudget, and
references no Secret as optional.

    python deploy/k8s/check.py          # exit 0 when all is well; else every problem, one per line
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
SCHEMAS = HERE / "schemas"
WORKLOADS = ("Deployment", "StatefulSet")
PROBES = ("startupProbe", "livenessProbe", "readinessProbe")


class ToolMissing(RuntimeError):
    """kustomize or kubeconform is not installed."""


def tool(name: str) -> str:
    """The path of ``name`` on PATH or in ~/go/bin (where ``make lint-k8s`` installs it)."""
    found = shutil.which(name) or shutil.which(name, path=str(Path.home() / "go" / "bin"))
    if found is None:
        raise ToolMissing(f"{name} is not installed: run `make lint-k8s` (it installs kustomize and kubeconform "
                          "with `go install` into ~/go/bin)")
    return found


def kubernetes_schemas() -> Path:
    """The newest strict, self-contained schema folder the kubernetes-validate package ships."""
    import kubernetes_validate

    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    folders = [p for p in root.iterdir() if p.name.endswith("-local-strict")]
    if not folders:
        raise ToolMissing(f"no *-local-strict schemas in {root}: reinstall kubernetes-validate")
    return max(folders, key=lambda p: tuple(int(n) for n in p.name[1:].split("-")[0].split(".")))


def kubernetes_kind_schemas(documents: list[dict[str, Any]], into: Path) -> None:
    """Write the schema of each built-in kind in ``documents`` to ``into`` in kubeconform's file names, each
    standalone: the package's schemas point into one shared _definitions.json, inlined here as ``$defs``."""
    source = kubernetes_schemas()
    definitions: dict[str, Any] | None = None
    for api_version, kind in sorted({(d["apiVersion"], d["kind"]) for d in documents}):
        group, _, version = api_version.rpartition("/")
        name = f"{kind.lower()}{'-' + group.split('.')[0] if group else ''}-{version}.json"
        if (into / name).exists() or not (source / name).exists():
            continue  # done, or a custom resource (crd_schemas)
        if definitions is None:
            definitions = json.loads((source / "_definitions.json").read_text())["$defs"]
        schema = json.loads((source / name).read_text().replace('"/api/_definitions.json#/$defs/', '"#/$defs/'))
        schema["$defs"] = _reachable(schema, definitions)
        (into / name).write_text(json.dumps(schema))


def _reachable(schema: Any, definitions: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    pending = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/") and ref[8:] not in found:
                text = json.dumps(definitions[ref[8:]]).replace('"/api/_definitions.json#/$defs/', '"#/$defs/')
                found[ref[8:]] = json.loads(text)
                pending.append(found[ref[8:]])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return found


def targets() -> list[tuple[str, list[str], list[str]]]:
    """(label, resources, components) to build: each overlay, the base with each component, each example."""
    found = [(f"overlays/{p.name}", [str(p)], []) for p in sorted((HERE / "overlays").iterdir()) if p.is_dir()]
    found += [(f"base+components/{p.name}", [str(HERE / "base")], [str(p)])
              for p in sorted((HERE / "components").iterdir()) if (p / "kustomization.yaml").exists()]
    found += [(f"examples/{p.name}", [str(p)], [])  # what an operator applies beside Attain (a Strimzi Kafka)
              for p in sorted((HERE / "examples").iterdir()) if (p / "kustomization.yaml").exists()]
    return found


def build(resources: list[str], components: list[str]) -> str:
    if not components:
        return _run([tool("kustomize"), "build", resources[0]])
    with tempfile.TemporaryDirectory(prefix=".check-", dir=HERE) as folder:  # kustomize wants relative paths
        Path(folder, "kustomization.yaml").write_text(yaml.safe_dump({
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "resources": [os.path.relpath(p, folder) for p in resources],
            "components": [os.path.relpath(p, folder) for p in components]}))
        return _run([tool("kustomize"), "build", folder])


def _run(argv: list[str], stdin: str | None = None) -> str:
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr or done.stdout}")
    return done.stdout


def crd_schemas(into: Path) -> int:
    """Write each vendored CRD version as kubeconform's ``<group>/<kind>_<version>.json``; returns how many."""
    count = 0
    for path in sorted(SCHEMAS.rglob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                schema = strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
                target = into / spec["group"] / f"{spec['names']['kind'].lower()}_{version['name']}.json"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(json.dumps(schema))
                count += 1
    return count


def strict(schema: Any) -> Any:
    """An OpenAPI v3 CRD schema as JSON schema that refuses unknown fields, as the API server prunes them."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: strict(value) for key, value in schema.items()}
    if converted.pop("x-kubernetes-int-or-string", False):
        converted.pop("type", None)
        converted["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if converted.get("nullable") is True and isinstance(converted.get("type"), str):
        converted["type"] = [converted["type"], "null"]
    preserve = converted.get("x-kubernetes-preserve-unknown-fields", False)
    if converted.get("type") == "object" and "properties" in converted and not preserve \
            and "additionalProperties" not in converted:
        converted["additionalProperties"] = False
    return converted


def kubeconform(manifests: str, k8s: Path, crds: Path) -> list[str]:
    done = subprocess.run(
        [tool("kubeconform"), "-strict", "-summary", "-output", "json",
         "-schema-location", f"{k8s}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
         "-schema-location", f"{crds}/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json",
         "-"], input=manifests, capture_output=True, text=True)
    try:
        report = json.loads(done.stdout)
    except ValueError:
        return [f"kubeconform gave no report (exit {done.returncode}): {done.stderr or done.stdout}"]
    problems = [f"{r.get('kind')}/{r.get('name')}: {r.get('status')}: {r.get('msg')}"
                for r in report.get("resources", []) if r.get("status") not in ("statusValid", "valid")]
    summary = report.get("summary", {})
    if done.returncode != 0 and not problems:
        problems.append(f"kubeconform exited {done.returncode}: {summary} {done.stderr}")
    if summary.get("valid", 0) == 0:
        problems.append(f"kubeconform validated nothing: {summary}")
    return problems


def policy_problems(documents: list[dict[str, Any]]) -> list[str]:
    """Attain's rules for the workloads in ``documents`` (one built overlay)."""
    problems: list[str] = []
    accounts = {d["metadata"]["name"] for d in documents if d["kind"] == "ServiceAccount"}
    budgets = [d["spec"].get("selector", {}).get("matchLabels", {}) for d in documents
               if d["kind"] == "PodDisruptionBudget"]
    for doc in documents:
        if doc["kind"] not in (*WORKLOADS, "Job"):
            continue
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        pod = doc["spec"]["template"]["spec"]
        labels = doc["spec"]["template"]["metadata"].get("labels", {})
        if doc["kind"] in WORKLOADS and not any(b and b.items() <= labels.items() for b in budgets):
            problems.append(f"{name}: no PodDisruptionBudget selects its pods")
        if pod.get("serviceAccountName") not in accounts:
            problems.append(f"{name}: serviceAccountName {pod.get('serviceAccountName')!r} is no ServiceAccount here")
        if pod.get("securityContext", {}).get("runAsNonRoot") is not True:
            problems.append(f"{name}: the pod's securityContext lacks runAsNonRoot: true")
        for container in pod.get("initContainers", []) + pod["containers"]:
            problems += _container_problems(f"{name} container {container['name']}", container,
                                            probes=doc["kind"] in WORKLOADS and container in pod["containers"])
    return problems


def _container_problems(name: str, container: dict[str, Any], probes: bool) -> list[str]:
    problems = []
    if probes:
        problems += [f"{name}: no {probe}" for probe in PROBES if probe not in container]
    security = container.get("securityContext", {})
    if security.get("readOnlyRootFilesystem") is not True:
        problems.append(f"{name}: root filesystem not read-only")
    if security.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{name}: allowPrivilegeEscalation not false")
    resources = container.get("resources", {})
    for kind in ("requests", "limits"):
        missing = {"cpu", "memory"} - set(resources.get(kind, {}))
        if missing:
            problems.append(f"{name}: no {kind} for {', '.join(sorted(missing))}")
    problems += [f"{name}: Secret {ref} referenced as optional" for ref in _optional_secrets(container)]
    return problems


def _optional_secrets(container: dict[str, Any]) -> Iterator[str]:
    for source in container.get("envFrom", []):
        if source.get("secretRef", {}).get("optional"):
            yield source["secretRef"]["name"]
    for variable in container.get("env", []):
        ref = variable.get("valueFrom", {}).get("secretKeyRef", {})
        if ref.get("optional"):
            yield f"{ref['name']}/{ref.get('key')}"


def check() -> dict[str, list[str]]:
    """Every target's problems (an empty list: clean)."""
    results: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="attain-schemas-") as folder:
        crds, k8s = Path(folder, "crds"), Path(folder, "kubernetes")
        k8s.mkdir()
        if crd_schemas(crds) == 0:
            raise RuntimeError(f"no CRD schemas under {SCHEMAS}")
        for label, resources, components in targets():
            manifests = build(resources, components)
            documents = [d for d in yaml.safe_load_all(manifests) if d]
            kubernetes_kind_schemas(documents, k8s)
            results[label] = kubeconform(manifests, k8s, crds) + policy_problems(documents)
    return results


def main() -> int:
    try:
        results = check()
    except ToolMissing as error:
        print(f"deploy/k8s: {error}", file=sys.stderr)
        return 2
    failed = 0
    for label, problems in results.items():
        print(f"{label}: {'ok' if not problems else f'{len(problems)} problems'}")
        for problem in problems:
            print(f"  {problem}")
        failed += len(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    os.chdir(HERE)
    sys.exit(main())
