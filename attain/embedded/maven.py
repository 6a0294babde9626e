"""Java classpaths resolved from Maven Central with ``mvn`` and cached under ``<repo>/.cache``.

Used for the real Apache Kafka broker and for the Apache Avro Java interop
tooling: each gets a folder with a throwaway POM, the runtime dependency
closure in ``libs/`` and a marker file listing the jars, written last, so a
second call (or a call after an interrupted download) is either instant or a
clean redo.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
REPO_ROOT = Path(__file__).resolve().parents[2]
_MARKER_NAME = "classpath.txt"
_MVN_TIMEOUT_SECONDS = 900.0

Artifact = tuple[str, str, str]  # group id, artifact id, version


def cache_dir(name: str) -> Path:
    """The git-ignored cache folder ``<repo>/.cache/<name>``."""
    return REPO_ROOT / ".cache" / name


def pom_xml(artifact_id: str, artifacts: Sequence[Artifact]) -> str:
    """A POM whose only purpose is to make Maven resolve ``artifacts``' runtime classpath."""
    dependency_xml = "\n".join(
        f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>"
        for g, a, v in artifacts
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.attain</groupId>
  <artifactId>{artifact_id}</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
{dependency_xml}
  </dependencies>
</project>
"""


def _read_marker(folder: Path) -> list[Path] | None:
    """The cached classpath if a previous resolution completed and every jar is still there."""
    marker = folder / _MARKER_NAME
    if not marker.is_file():
        return None
    jars = [folder / "libs" / name for name in marker.read_text().split()]
    if not jars or not all(jar.is_file() for jar in jars):
        return None
    return jars


@contextmanager
def exclusive_lock(lock_path: Path) -> Iterator[None]:
    """Hold an inter-process lock so parallel test workers do not run Maven into the same folder."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run_maven(folder: Path, artifacts: Sequence[Artifact]) -> list[Path]:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError("Apache Maven ('mvn') is required to fetch Java jars but is not on PATH")
    pom = folder / "pom.xml"
    pom.write_text(pom_xml(folder.name, artifacts))
    libs = folder / "libs"
    shutil.rmtree(libs, ignore_errors=True)
    command = [
        mvn, "-B", "-q", "-f", str(pom), f"{DEPENDENCY_PLUGIN}:copy-dependencies",
        f"-DoutputDirectory={libs}", "-DincludeScope=runtime",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=_MVN_TIMEOUT_SECONDS, check=False)
    names = ", ".join(f"{g}:{a}:{v}" for g, a, v in artifacts)
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-4000:]
        raise RuntimeError(f"Maven could not resolve {names} (exit {result.returncode}):\n{output}")
    jars = sorted(libs.glob("*.jar"))
    missing = [f"{a}-{v}.jar" for _, a, v in artifacts if not (libs / f"{a}-{v}.jar").is_file()]
    if missing:
        raise RuntimeError(f"Maven finished but {', '.join(missing)} is missing from {libs}")
    return jars


def ensure_classpath(folder: Path, artifacts: Sequence[Artifact]) -> list[Path]:
    """Resolve ``artifacts`` and their runtime dependencies from Maven Central into ``folder/libs``."""
    cached = _read_marker(folder)
    if cached is not None:
        return cached
    with exclusive_lock(folder / ".lock"):
        cached = _read_marker(folder)  # another process may have finished while we waited
        if cached is not None:
            return cached
        jars = _run_maven(folder, artifacts)
        marker_tmp = folder / f"{_MARKER_NAME}.tmp"
        marker_tmp.write_text("\n".join(jar.name for jar in jars) + "\n")
        os.replace(marker_tmp, folder / _MARKER_NAME)
        return jars
