"""Real Apache Kafka (single-node KRaft) for checking that behaviour seen on Tansu also holds on the reference broker.

The jars come straight from Maven Central via ``mvn`` (no distribution tarball is
needed), are cached under ``<repo>/.cache``, and the broker runs as a plain
``java -cp ... kafka.Kafka`` child process.
"""

from __future__ import annotations

import atexit
import base64
import fcntl
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from attain.embedded._process import ManagedServer, launch_until_ready, log_tail, spawn, terminate
from attain.embedded.ports import LOCALHOST, free_ports

KAFKA_VERSION = "4.1.2"
SCALA_BINARY_VERSION = "2.13"
# Kafka's POMs declare slf4j-api only; without a binding the broker logs nothing.
# These are the log4j2 artifacts the official Kafka 4.x distribution ships.
LOG4J_VERSION = "2.24.3"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

_REPO_ROOT = Path(__file__).resolve().parents[2]
_MARKER_NAME = "classpath.txt"
_MVN_TIMEOUT_SECONDS = 900.0
_FORMAT_TIMEOUT_SECONDS = 120.0
_STOP_GRACE_SECONDS = 30.0
_JVM_OPTIONS = ("-Xms128m", "-Xmx512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true")

_LOG4J2_PROPERTIES = """\
status = warn
appender.console.type = Console
appender.console.name = CONSOLE
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.console.ref = CONSOLE
logger.kafka_request.name = kafka.request.logger
logger.kafka_request.level = WARN
"""


def default_cache_dir(version: str = KAFKA_VERSION) -> Path:
    """Return the git-ignored per-version jar cache, ``<repo>/.cache/kafka-<version>``."""
    return _REPO_ROOT / ".cache" / f"kafka-{version}"


def _pom_xml(version: str) -> str:
    """Return a throwaway POM whose only purpose is to make Maven resolve the broker's runtime classpath."""
    deps = [
        ("org.apache.kafka", f"kafka_{SCALA_BINARY_VERSION}", version),
        ("org.apache.logging.log4j", "log4j-slf4j-impl", LOG4J_VERSION),
        ("org.apache.logging.log4j", "log4j-core", LOG4J_VERSION),
    ]
    dependency_xml = "\n".join(
        f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>"
        for g, a, v in deps
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.attain</groupId>
  <artifactId>kafka-broker-classpath</artifactId>
  <version>{version}</version>
  <packaging>pom</packaging>
  <dependencies>
{dependency_xml}
  </dependencies>
</project>
"""


def _read_marker(cache_dir: Path) -> list[Path] | None:
    """Return the cached classpath if a previous resolution completed and every jar is still there."""
    marker = cache_dir / _MARKER_NAME
    if not marker.is_file():
        return None
    jars = [cache_dir / "libs" / name for name in marker.read_text().split()]
    if not jars or not all(jar.is_file() for jar in jars):
        return None
    return jars


@contextmanager
def _exclusive_lock(lock_path: Path) -> Iterator[None]:
    """Hold an inter-process lock so parallel test workers do not run Maven into the same folder."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run_maven(cache_dir: Path, version: str) -> list[Path]:
    """Copy the runtime dependency closure of kafka_2.13 into ``cache_dir/libs`` and return the jars."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError("Apache Maven ('mvn') is required to fetch the Kafka jars but is not on PATH")
    pom = cache_dir / "pom.xml"
    pom.write_text(_pom_xml(version))
    libs = cache_dir / "libs"
    shutil.rmtree(libs, ignore_errors=True)
    command = [
        mvn, "-B", "-q", "-f", str(pom), f"{DEPENDENCY_PLUGIN}:copy-dependencies",
        f"-DoutputDirectory={libs}", "-DincludeScope=runtime",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=_MVN_TIMEOUT_SECONDS, check=False)
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-4000:]
        raise RuntimeError(f"Maven could not resolve Kafka {version} (exit {result.returncode}):\n{output}")
    jars = sorted(libs.glob("*.jar"))
    if not any(jar.name == f"kafka_{SCALA_BINARY_VERSION}-{version}.jar" for jar in jars):
        raise RuntimeError(f"Maven finished but kafka_{SCALA_BINARY_VERSION}-{version}.jar is missing from {libs}")
    return jars


def ensure_kafka_classpath(cache_dir: Path, version: str = KAFKA_VERSION) -> list[Path]:
    """Resolve org.apache.kafka:kafka_2.13:<version> and its runtime deps from Maven Central into cache_dir.

    Uses ``mvn dependency:copy-dependencies`` on a generated POM, adding a log4j2
    binding so the broker actually logs. A marker file listing the jars is written
    last, so a second call (or a call after an interrupted download) is either
    instant or a clean redo.
    """
    cached = _read_marker(cache_dir)
    if cached is not None:
        return cached
    with _exclusive_lock(cache_dir / ".lock"):
        cached = _read_marker(cache_dir)  # another process may have finished while we waited
        if cached is not None:
            return cached
        jars = _run_maven(cache_dir, version)
        marker_tmp = cache_dir / f"{_MARKER_NAME}.tmp"
        marker_tmp.write_text("\n".join(jar.name for jar in jars) + "\n")
        os.replace(marker_tmp, cache_dir / _MARKER_NAME)
        return jars


def _random_cluster_id() -> str:
    """Return a cluster id in Kafka's format: 16 random bytes, URL-safe base64, no padding.

    Generated here rather than via ``StorageTool random-uuid`` to save a JVM start.
    Kafka itself rejects ids starting with '-' (they look like CLI flags).
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode("ascii")
        if not cluster_id.startswith("-"):
            return cluster_id


def _server_properties(data_dir: Path, broker_port: int, controller_port: int) -> str:
    """Return a combined broker+controller config tuned for a throwaway single-node test cluster."""
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        # Static quorum: the controller address is read from config on every start,
        # so a restart on new free ports works with an already-formatted log dir.
        "controller.quorum.voters": f"1@{LOCALHOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{LOCALHOST}:{broker_port},CONTROLLER://{LOCALHOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{LOCALHOST}:{broker_port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        "auto.create.topics.enable": "true",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",  # default 50 makes the first group join slow
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


class ApacheKafka(ManagedServer):
    """Single-node KRaft Apache Kafka (broker+controller) run as ``java -cp ... kafka.Kafka server.properties``.

    Storage is formatted with ``kafka.tools.StorageTool`` (random cluster id,
    static ``controller.quorum.voters``) on first start; a restart on the same
    workdir keeps its topics. Everything, including ``kafka.log``, lives in workdir.
    """

    def __init__(self, workdir: Path, cache_dir: Path | None = None, version: str = KAFKA_VERSION) -> None:
        """Record where the broker keeps its data/logs and where the jars are cached."""
        self._workdir = workdir
        self._cache_dir = cache_dir if cache_dir is not None else default_cache_dir(version)
        self._version = version
        self._process: subprocess.Popen[bytes] | None = None
        self._bootstrap: str | None = None

    @property
    def bootstrap(self) -> str:
        """The ``host:port`` to use as ``bootstrap.servers``; only valid while running."""
        if self._bootstrap is None:
            raise RuntimeError("ApacheKafka is not running; call start() first")
        return self._bootstrap

    @property
    def log_path(self) -> Path:
        """Broker and storage-format output (the place to look when start-up fails)."""
        return self._workdir / "kafka.log"

    def start(self, timeout: float = 90.0) -> str:
        """Fetch jars if needed, format storage, launch the broker; return bootstrap once metadata works.

        ``timeout`` covers broker start-up only; the one-off Maven download is not counted.
        """
        if self._process is not None and self._process.poll() is None:
            return self.bootstrap
        classpath = os.pathsep.join(str(jar) for jar in ensure_kafka_classpath(self._cache_dir, self._version))
        java = _find_java()
        self._workdir.mkdir(parents=True, exist_ok=True)
        log4j_config = self._workdir / "log4j2.properties"
        log4j_config.write_text(_LOG4J2_PROPERTIES)
        base_command = [java, *_JVM_OPTIONS, f"-Dlog4j2.configurationFile={log4j_config}", "-cp", classpath]

        def launch() -> tuple[subprocess.Popen[bytes], str]:
            broker_port, controller_port = free_ports(2)
            config = self._write_config(broker_port, controller_port)
            self._format_storage(base_command, config)
            process = spawn([*base_command, "kafka.Kafka", str(config)], self.log_path, cwd=self._workdir)
            return process, f"{LOCALHOST}:{broker_port}"

        self._process, self._bootstrap = launch_until_ready(
            launch, name="Apache Kafka", log_path=self.log_path, timeout=timeout, grace=_STOP_GRACE_SECONDS
        )
        atexit.register(self.stop)
        return self._bootstrap

    def stop(self) -> None:
        """Shut down cleanly via SIGTERM (Kafka's controlled shutdown), SIGKILL after 30 s. Idempotent."""
        atexit.unregister(self.stop)
        if self._process is not None:
            terminate(self._process, _STOP_GRACE_SECONDS)
        self._process = None
        self._bootstrap = None

    def _write_config(self, broker_port: int, controller_port: int) -> Path:
        """Write server.properties for this launch's ports and return its path."""
        config = self._workdir / "server.properties"
        config.write_text(_server_properties(self._workdir / "data", broker_port, controller_port))
        return config

    def _format_storage(self, base_command: list[str], config: Path) -> None:
        """Format the KRaft log dir on first use only; a formatted dir keeps its cluster id and topics.

        ``--ignore-formatted`` alone is not enough on a re-run: the tool still
        compares the (new, random) cluster id with meta.properties and fails.
        """
        if (self._workdir / "data" / "meta.properties").is_file():
            return
        command = [
            *base_command, "kafka.tools.StorageTool", "format",
            "--config", str(config), "--cluster-id", _random_cluster_id(), "--ignore-formatted",
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            result = subprocess.run(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                timeout=_FORMAT_TIMEOUT_SECONDS, check=False,
            )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(
                f"Kafka StorageTool format failed (exit {result.returncode}); log tail:\n{log_tail(self.log_path)}"
            )



def _find_java() -> str:
    """Locate a ``java`` executable, preferring $JAVA_HOME like Kafka's own scripts do."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("java")
    if found is None:
        raise RuntimeError("Apache Kafka needs Java 17+, but no 'java' is on PATH and JAVA_HOME is unset")
    return found
