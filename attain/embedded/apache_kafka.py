"""Real Apache Kafka (single-node KRaft) for checking that behaviour seen on Tansu also holds on the reference broker.

The jars come straight from Maven Central via ``mvn`` (no distribution tarball is
needed), are cached under ``<repo>/.cache``, and the broker runs as a plain
``java -cp ... kafka.Kafka`` child process.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from attain.embedded import maven
from attain.embedded._process import ManagedBroker, launch_until_ready, log_tail, spawn
from attain.embedded.ports import LOCALHOST, free_ports

KAFKA_VERSION = "4.1.2"
SCALA_BINARY_VERSION = "2.13"
# Kafka's POMs declare slf4j-api only; without a binding the broker logs nothing.
# These are the log4j2 artifacts the official Kafka 4.x distribution ships.
LOG4J_VERSION = "2.24.3"

_FORMAT_TIMEOUT_SECONDS = 120.0
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
    return maven.cache_dir(f"kafka-{version}")


def ensure_kafka_classpath(cache_dir: Path, version: str = KAFKA_VERSION) -> list[Path]:
    """Resolve org.apache.kafka:kafka_2.13:<version> and its runtime deps from Maven Central into cache_dir,
    adding a log4j2 binding so the broker actually logs."""
    return maven.ensure_classpath(cache_dir, [
        ("org.apache.kafka", f"kafka_{SCALA_BINARY_VERSION}", version),
        ("org.apache.logging.log4j", "log4j-slf4j-impl", LOG4J_VERSION),
        ("org.apache.logging.log4j", "log4j-core", LOG4J_VERSION),
    ])


def _random_cluster_id() -> str:
    """Return a cluster id in Kafka's format: 16 random bytes, URL-safe base64, no padding.

    Generated here rather than via ``StorageTool random-uuid`` to save a JVM start.
    Kafka itself rejects ids starting with '-' (they look like CLI flags).
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode("ascii")
        if not cluster_id.startswith("-"):
            return cluster_id


@dataclass(frozen=True)
class SaslSslListener:
    """An extra SASL_SSL listener on 127.0.0.1 (SCRAM-SHA-512), for testing clients' TLS and SASL.

    ``keystore``: one PEM file holding the broker's certificate chain and its unencrypted PKCS#8
    private key (Kafka's ``ssl.keystore.type=PEM``); the certificate must name 127.0.0.1, the
    address the listener advertises. ``users``: SCRAM-SHA-512 credentials (name -> password),
    written into the storage at format time (``StorageTool format --add-scram``), so they exist
    only on a fresh workdir.
    """

    keystore: Path
    users: Mapping[str, str] = field(default_factory=dict)

    def properties(self) -> dict[str, str]:
        prefix = "listener.name.sasl_ssl."
        return {
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            f"{prefix}scram-sha-512.sasl.jaas.config":
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            f"{prefix}ssl.keystore.type": "PEM",
            f"{prefix}ssl.keystore.location": str(self.keystore),
        }

    def format_arguments(self) -> list[str]:
        return [argument for name, password in self.users.items()
                for argument in ("--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]")]


def _server_properties(
    data_dir: Path, broker_port: int, controller_port: int,
    sasl_ssl: SaslSslListener | None = None, sasl_ssl_port: int = 0, extra: Mapping[str, str] | None = None,
) -> str:
    """Return a combined broker+controller config tuned for a throwaway single-node test cluster."""
    extra_listener = "" if sasl_ssl is None else f",SASL_SSL://{LOCALHOST}:{sasl_ssl_port}"
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        # Static quorum: the controller address is read from config on every start,
        # so a restart on new free ports works with an already-formatted log dir.
        "controller.quorum.voters": f"1@{LOCALHOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{LOCALHOST}:{broker_port},CONTROLLER://{LOCALHOST}:{controller_port}"
                     + extra_listener,
        "advertised.listeners": f"PLAINTEXT://{LOCALHOST}:{broker_port}" + extra_listener,
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL",
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
        **({} if sasl_ssl is None else sasl_ssl.properties()),
        **(extra or {}),
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


class ApacheKafka(ManagedBroker):
    """Single-node KRaft Apache Kafka (broker+controller) run as ``java -cp ... kafka.Kafka server.properties``.

    Storage is formatted with ``kafka.tools.StorageTool`` (random cluster id,
    static ``controller.quorum.voters``) on first start; a restart on the same
    workdir keeps its topics. Everything, including ``kafka.log``, lives in workdir.
    :meth:`stop` is Kafka's controlled shutdown (SIGTERM), SIGKILL after 30 s.
    """

    stop_grace = 30.0

    def __init__(self, workdir: Path, cache_dir: Path | None = None, version: str = KAFKA_VERSION,
                 sasl_ssl: SaslSslListener | None = None, ports: tuple[int, int] | None = None,
                 properties: Mapping[str, str] | None = None, jvm_options: Sequence[str] = ()) -> None:
        """Record where the broker keeps its data/logs and where the jars are cached; ``sasl_ssl``
        adds a SASL_SSL listener beside the PLAINTEXT one (:attr:`sasl_ssl_bootstrap`). ``ports``
        (broker, controller) fixes the addresses (else free ports each launch); ``properties`` are
        added to (or override) server.properties; ``jvm_options`` are added to the JVM's."""
        self._workdir = workdir
        self._sasl_ssl = sasl_ssl
        self._fixed_ports = ports
        self._properties = dict(properties or {})
        self._jvm_options = list(jvm_options)
        self._sasl_ssl_port: int | None = None
        self._cache_dir = cache_dir if cache_dir is not None else default_cache_dir(version)
        self._version = version
        super().__init__()

    @property
    def sasl_ssl_bootstrap(self) -> str:
        """``host:port`` of the SASL_SSL listener; only valid while running with one."""
        if self._sasl_ssl_port is None or not self._running():
            raise RuntimeError("Apache Kafka is not running with a SASL_SSL listener")
        return f"{LOCALHOST}:{self._sasl_ssl_port}"

    @property
    def log_path(self) -> Path:
        """Broker and storage-format output (the place to look when start-up fails)."""
        return self._workdir / "kafka.log"

    def start(self, timeout: float = 90.0) -> str:
        """Fetch jars if needed, format storage, launch the broker; return bootstrap once metadata works.

        ``timeout`` covers broker start-up only; the one-off Maven download is not counted.
        """
        if self._running():
            return self.bootstrap
        classpath = os.pathsep.join(str(jar) for jar in ensure_kafka_classpath(self._cache_dir, self._version))
        java = _find_java()
        self._workdir.mkdir(parents=True, exist_ok=True)
        log4j_config = self._workdir / "log4j2.properties"
        log4j_config.write_text(_LOG4J2_PROPERTIES)
        base_command = [java, *_JVM_OPTIONS, *self._jvm_options, f"-Dlog4j2.configurationFile={log4j_config}",
                        "-cp", classpath]

        def launch() -> tuple[subprocess.Popen[bytes], str]:
            broker_port, controller_port, self._sasl_ssl_port = free_ports(3)
            if self._fixed_ports is not None:
                broker_port, controller_port = self._fixed_ports
            config = self._write_config(broker_port, controller_port)
            self._format_storage(base_command, config)
            process = spawn([*base_command, "kafka.Kafka", str(config)], self.log_path, cwd=self._workdir)
            return process, f"{LOCALHOST}:{broker_port}"

        return self._started(*launch_until_ready(
            launch, name="Apache Kafka", log_path=self.log_path, timeout=timeout, grace=self.stop_grace,
            attempts=1 if self._fixed_ports else 3,  # new ports are no cure for a fixed port's clash
        ))

    def _write_config(self, broker_port: int, controller_port: int) -> Path:
        """Write server.properties for this launch's ports and return its path."""
        config = self._workdir / "server.properties"
        config.write_text(_server_properties(self._workdir / "data", broker_port, controller_port,
                                             self._sasl_ssl, self._sasl_ssl_port or 0, self._properties))
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
            *(self._sasl_ssl.format_arguments() if self._sasl_ssl else ()),
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
