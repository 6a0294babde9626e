"""The ledger's start-up rules: no database URL, no start (no fallback to a local database); migrations
run one at a time under a PostgreSQL advisory lock."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import psycopg
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from services.ledger.config import LedgerSettings
from services.ledger.db import MIGRATION_LOCK, migrate
from tests.conftest import REPO
from tests.polling import budget, wait_until


def test_the_ledger_and_its_migrations_refuse_to_start_without_a_database_url(monkeypatch):
    monkeypatch.delenv("ATTAIN_LEDGER_DATABASE_URL", raising=False)
    assert LedgerSettings().database_url == ""  # no localhost default to fall back on
    env = {name: value for name, value in os.environ.items() if name != "ATTAIN_LEDGER_DATABASE_URL"}
    for argv in (["services.ledger"], ["services.ledger", "migrate"]):
        done = subprocess.run([sys.executable, "-m", *argv], env=env, cwd=REPO, capture_output=True, text=True,
                              timeout=budget(60))
        output = done.stdout + done.stderr
        assert done.returncode == 2, output[-2000:]
        assert "refusing to start" in output and "ATTAIN_LEDGER_DATABASE_URL is not set" in output, output[-2000:]


def _waiting_on_the_migration_lock(libpq: str) -> bool:
    with psycopg.connect(libpq, autocommit=True) as connection:
        waiting = connection.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND classid::text::bigint = %s AND objid::text::bigint = %s",  # a bigint key's high and low halves
            ((MIGRATION_LOCK >> 32) & 0xFFFFFFFF, MIGRATION_LOCK & 0xFFFFFFFF)).fetchone()
    return bool(waiting and waiting[0])


def test_a_second_migration_waits_for_the_first(database_url):
    libpq = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    engine = create_engine(database_url)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            migrate(database_url)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            failures.append(error)

    with psycopg.connect(libpq, autocommit=True) as holder:  # another migration, mid-way
        holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        second = threading.Thread(target=run)
        second.start()
        wait_until(lambda: _waiting_on_the_migration_lock(libpq), timeout=30, what="the migration to wait on the lock")
        assert second.is_alive() and "alembic_version" not in inspect(engine).get_table_names()
        holder.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
    second.join(budget(60))
    assert not second.is_alive() and not failures, failures
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
        assert connection.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")).scalar_one() == 0
    engine.dispose()
