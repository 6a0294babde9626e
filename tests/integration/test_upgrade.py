"""The upgrade test (issue 16 item 11): the previous release's schema and data, migrated forward.

The previous release is the last landed main before the ledger schema moved on (commit 5c0b083, migrations
up to 0006). tests/integration/data/make_ledger_0006.py ran that release's own code to book a ledger and
recorded what it answered (ledger_0006.sql, ledger_0006.json). Here a fresh database gets the 0006 schema,
that data, and then the newest migrations; the new release must answer the same, verify the audit chain,
agree with a recompute, read the messages the old calculator wrote, book on, publish the old outbox, and
take the schema back to 0006 when a rollback asks it to (docs/operations.md, "Upgrade and rollback").
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from alembic.util import CommandError
from confluent_kafka import Producer
from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import Engine, make_url

from attain.contracts.earnings import EarningsSnapshot, SourceChange
from attain.core.recompute import recompute
from attain.ledger.approvals import DEFAULT_CHAIN, Actor
from attain.planfiles import load_book
from attain.platform import topics
from attain.platform.avro import contract
from attain.platform.kafka import ensure_topics, producer_config
from attain.platform.settings import KafkaSettings
from cli.main import changes_of, main
from services.calculator.earnings_stage import apply_rep_messages, group_by_rep
from services.ledger.db import apply_snapshots, downgrade, ledger_totals, make_engine, migrate
from services.ledger.disputes import disputes_of
from services.ledger.lineage import status
from services.ledger.payouts import OutboxRelay, lines_of
from services.ledger.period_service import decide, list_periods, lock_period
from services.ledger.schema import entries, ledger_events, source_changes
from services.ledger.statements import statement
from tests.integration.payroll_examples import run_python

DATA = Path(__file__).with_name("data")
PLANS, EVENTS = DATA / "upgrade_plans.yaml", DATA / "upgrade_events.jsonl"
PREVIOUS_HEAD = "0006"
OLD = json.loads((DATA / "ledger_0006.json").read_text())


def as_json(value: Any) -> Any:
    """A value as the generator recorded the old release's answers (JSON, datetimes and decimals as text)."""
    return json.loads(json.dumps(value, default=str, sort_keys=True))


def keeps(new: Any, old: Any, where: str = "") -> None:
    """Everything the old release answered is answered the same; the new release may add fields."""
    if isinstance(old, dict):
        assert isinstance(new, dict), where
        for key, value in old.items():
            assert key in new, f"{where}.{key} is gone"
            keeps(new[key], value, f"{where}.{key}")
    elif isinstance(old, list):
        assert isinstance(new, list) and len(new) == len(old), where
        for index, (a, b) in enumerate(zip(new, old, strict=True)):
            keeps(a, b, f"{where}[{index}]")
    else:
        assert new == old, f"{where}: {new!r} != {old!r}"


def attain(*argv: str) -> int:
    with pytest.raises(SystemExit) as stopped:
        main(list(argv))
    return int(stopped.value.code or 0)


def revision(engine: Engine) -> str:
    with engine.connect() as connection:
        return str(connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one())


@pytest.fixture
def old_database(postgres_server_url: str) -> Iterator[str]:
    """A database at the previous release's schema (0006, this tree's migration files) holding its data."""
    name = f"attain_upgrade_{uuid.uuid4().hex[:12]}"
    server = make_url(postgres_server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        url = make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False)
        try:
            migrate(url, PREVIOUS_HEAD)
            with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(
                    hide_password=False)) as connection:
                connection.execute((DATA / "ledger_0006.sql").read_text())  # no parameters: one simple query
            yield url
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def upgraded(old_database: str) -> Iterator[Engine]:
    engine = make_engine(old_database)
    assert revision(engine) == PREVIOUS_HEAD
    migrate(old_database)
    yield engine
    engine.dispose()


def old_earnings() -> list[EarningsSnapshot]:
    """The earnings messages the old calculator wrote (contract v3), read by the new release's codec."""
    codec = contract(topics.EARNINGS)
    return [EarningsSnapshot.from_avro(codec.decode(base64.b64decode(m))) for m in OLD["earnings_v3"]]


def test_the_upgraded_ledger_answers_as_the_previous_release_did(upgraded, old_database):
    assert revision(upgraded) != PREVIOUS_HEAD and "source_changes" in inspect(upgraded).get_table_names()
    assert [[rep, period, str(total)] for (rep, period), total in sorted(ledger_totals(upgraded).items())] \
        == OLD["totals"]
    for key, old in OLD["statements"].items():
        keeps(as_json(statement(upgraded, *key.split("/"))), old, key)
    assert as_json(list_periods(upgraded)) == OLD["periods"]
    for scope, lines in OLD["payout_lines"].items():
        keeps(as_json(lines_of(upgraded, scope, "2026-Q1")), lines, scope)
    keeps(as_json(disputes_of(upgraded)), OLD["disputes"], "disputes")
    assert as_json(status(upgraded)) == OLD["lineage"]
    with upgraded.connect() as connection:
        kinds = set(connection.execute(select(entries.c.kind)).scalars())
    assert kinds == {"earned", "adjustment", "draw", "draw_recovery", "manual", "clawback", "payment"}

    assert attain("audit", "verify", "--database-url", old_database) == 0
    for period in ("2026-Q1", "2026-Q2"):  # with the closing draw the old release paid at lock
        assert attain("recompute", "--period", period, "--plans", str(PLANS), "--events", str(EVENTS),
                      "--database-url", old_database) == 0


def test_the_old_calculators_messages_are_read_by_the_new_release(upgraded):
    # earnings v3, replayed from the topic after the upgrade: already booked, nothing is booked twice
    replayed = old_earnings()
    before = ledger_totals(upgraded)
    result = apply_snapshots(upgraded, replayed)
    assert (result.applied, result.entries, result.stale) == (0, 0, len(replayed))
    assert ledger_totals(upgraded) == before

    # stage 1's credit messages (triggers without their record) on calculator.credits: stage 2 earns the same
    messages = [orjson.loads(part) for part in OLD["credit_messages"]]
    assert any(len(trigger) == 2 for message in messages for trigger in message["triggers"])  # the old format
    totals = {}
    for rep_id, rep_messages in group_by_rep(messages).items():
        update = apply_rep_messages(rep_id, rep_messages, load_book([PLANS]), 1, lambda month: None,
                                    lambda period: None)
        totals |= {f"{rep_id}/{s.earnings.period}": str(s.earnings.total_earned) for s in update.snapshots}
    assert totals == OLD["stage2_totals"]
    engine = recompute(load_book([PLANS]), changes_of([json.loads(line) for line in EVENTS.read_text().splitlines()]))
    assert totals == {f"{rep}/{period}": str(e.total_earned) for (rep, period), e in engine.items()
                      if f"{rep}/{period}" in totals}


def test_the_upgraded_ledger_books_on_approves_the_old_lock_and_publishes_the_old_outbox(upgraded, kafka_bootstrap):
    # a v4 snapshot naming its CRM change, after the v3 ones: prev 2026-Q1 was approved, so an adjustment
    (u1,) = [s for s in old_earnings() if (s.rep_id, s.period) == ("u1", "2026-Q1")]
    component = replace(u1.components[0], earned_amount=str(Decimal(u1.components[0].earned_amount) + 40))
    newer = replace(u1, snapshot_version=u1.snapshot_version + 1, components=(component,),
                    total_earned=str(Decimal(u1.total_earned) + 40), trigger_event_ids=("e-new",),
                    changes=(SourceChange("e-new", "006NEW", "client=UI", "005U9"),))
    codec = contract(topics.EARNINGS)
    assert apply_snapshots(upgraded, [EarningsSnapshot.from_avro(codec.decode(codec.encode(newer.to_avro())))]
                           ).entries == 1
    assert ledger_totals(upgraded)[("u1", "2026-Q1")] == Decimal(u1.total_earned) + 40
    with upgraded.connect() as connection:
        assert connection.execute(select(entries.c.kind, entries.c.corrects_period)
                                  .where(entries.c.source_event_ids.contains(["e-new"]))).one() \
            == ("adjustment", "2026-Q1")
        assert connection.execute(select(source_changes.c.record_id, source_changes.c.commit_user)
                                  .where(source_changes.c.event_id == "e-new")).one() == ("006NEW", "005U9")

    # the period the old release locked is approved by the new one: payout lines with the old closing draw
    for step, user in zip(DEFAULT_CHAIN, ("mgr-2", "cadmin-2", "fin-2"), strict=True):
        view = decide(upgraded, "prevdraw", "2026-Q1", Actor(user, frozenset({step})), True, "after the upgrade")
    assert view.state.value == "approved"
    paid = {line["rep_id"]: Decimal(line["amount"]) for line in lines_of(upgraded, "prevdraw", "2026-Q1")}
    assert paid["d3"] == Decimal("170000.00")  # the draw the old release paid at lock, nothing twice
    assert lock_period(upgraded, "prevdraw", "2026-Q2", "admin-2").value == "locked"

    # the outbox rows the old release wrote (and this approval's) go out; payroll's consumer reads them whole
    ensure_topics(KafkaSettings(bootstrap=kafka_bootstrap), [topics.PAYOUTS, topics.PAYOUTS_CONTROL,
                                                             topics.LEDGER_EVENTS])
    relay = OutboxRelay(upgraded, Producer(producer_config(KafkaSettings(bootstrap=kafka_bootstrap))))
    with upgraded.connect() as connection:  # the new release's facts: u1's changed statement, Q2's issued ones
        facts = connection.execute(select(ledger_events.c.kind, func.count()).group_by(ledger_events.c.kind)).all()
    assert dict(facts)["statement_changed"] == 1 and dict(facts)["statement_ready"] >= 1
    assert relay.publish_pending() == 6 + len(paid) + 1 + sum(count for _, count in facts)
    result = run_python(kafka_bootstrap, "prev", "2026-Q1", timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert result.stdout.splitlines()[:-1] == [
        f"PAY - {line['rep_id']} INR {part['earning_code']} {part['amount']}"
        for line in OLD["payout_lines"]["prev"] for part in line["earnings"]]
    assert attain("audit", "verify", "--database-url", str(upgraded.url.render_as_string(hide_password=False))) == 0


def test_a_rollback_takes_the_schema_back_to_the_previous_release(upgraded, old_database):
    apply_snapshots(upgraded, [replace(old_earnings()[0], snapshot_version=9, trigger_event_ids=("e-9",),
                                       changes=(SourceChange("e-9", "006X"),))])
    before = ledger_totals(upgraded)
    rollback = subprocess.run([sys.executable, "-m", "services.ledger", "downgrade", PREVIOUS_HEAD],
                              env={**os.environ, "ATTAIN_LEDGER_DATABASE_URL": old_database},
                              capture_output=True, text=True, timeout=120)  # `attain-service ledger downgrade`
    assert rollback.returncode == 0, rollback.stderr[-3000:]
    assert revision(upgraded) == PREVIOUS_HEAD
    assert "source_changes" not in inspect(upgraded).get_table_names()  # 0007's table, the one thing it drops
    assert ledger_totals(upgraded) == before
    assert attain("audit", "verify", "--database-url", old_database) == 0
    with pytest.raises(CommandError, match="Can't locate revision"):
        downgrade(old_database, "0099")  # a revision this release does not know: refused, nothing changed
    migrate(old_database)  # and forward again
    assert "source_changes" in inspect(upgraded).get_table_names() and ledger_totals(upgraded) == before
