"""Write the upgrade test's fixture (tests/integration/test_upgrade.py) with the previous release's own code.

The previous release is the last landed main before this session changed the ledger schema: commit
``PREVIOUS`` (ledger migrations up to 0006). Run from the repository root with the tree's virtualenv::

    .venv/bin/python tests/integration/data/make_ledger_0006.py

It extracts that commit (``git archive``) into a temporary directory, runs itself again there (``--inside``)
on an embedded PostgreSQL migrated by that release, books a ledger the way that release did (snapshots of
two calculator lineages, a closing draw, late adjustments, a manual entry, a locked, an approved and a paid
period with payout lines and outbox rows, disputes, the audit chain) and writes beside this script:

- ``ledger_0006.sql``: the data, as ``pg_dump --data-only --inserts`` wrote it (no schema: the test builds
  the 0006 schema with the current tree's migrations, which are the same files up to 0006);
- ``ledger_0006.json``: what that release answered: totals, statements, periods, payout lines, disputes,
  lineage status; the earnings messages (v3, base64) and stage-1 credit messages (triggers without their
  record) that release's calculator wrote, and the totals its stage 2 made of them;
- ``upgrade_plans.yaml`` and ``upgrade_events.jsonl``: the plan book and the CRM events behind it all.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

PREVIOUS = "5c0b083"  # ledger schema at 0006; 0007 (source_changes) came with cf29093
HERE = Path(__file__).resolve().parent
PLANS = HERE / "upgrade_plans.yaml"
EVENTS = HERE / "upgrade_events.jsonl"
DEAL_REPS = ["u1", "u2", "u3", "d1", "d2"]  # d3 (draw plan) and p1 (paid plan) earn nothing in 2026-Q1
Q1_DEALS = 40


def main() -> None:
    if sys.argv[1:] == ["--inside"]:
        generate()
        return
    root = Path(subprocess.run(["git", "rev-parse", "--show-toplevel"], check=True, capture_output=True,
                               text=True, cwd=HERE).stdout.strip())
    with tempfile.TemporaryDirectory(prefix="attain-prev-") as old:
        archive = subprocess.run(["git", "archive", PREVIOUS], check=True, capture_output=True, cwd=root).stdout
        subprocess.run(["tar", "-x", "-C", old], input=archive, check=True)
        from attain.embedded.postgres import client_program  # this tree's: that release had no helper for it

        subprocess.run([sys.executable, str(Path(__file__).resolve()), "--inside"], check=True, cwd=old,
                       env={**os.environ, "PYTHONPATH": old, "PG_DUMP": str(client_program("pg_dump"))})


def events() -> list[dict[str, Any]]:
    """A quarter of deals for five reps, and a second quarter's for d1 (its draw is recovered there)."""
    from attain.sample import opportunity_events

    def shifted(event: dict[str, Any]) -> dict[str, Any]:
        fields = dict(event["fields"])
        if "close_date" in fields:
            fields["close_date"] = (date.fromisoformat(fields["close_date"]) + timedelta(days=91)).isoformat()
        stamp = datetime.fromisoformat(event["commit_timestamp"]) + timedelta(days=91)
        return {**event, "commit_timestamp": stamp.isoformat(), "fields": fields}

    q1 = opportunity_events(DEAL_REPS, Q1_DEALS, seed=16, prefix="006U")
    q2 = [shifted(event) for event in opportunity_events(["d1"], 20, seed=17, prefix="006V")]
    return sorted(q1 + q2, key=lambda event: event["commit_timestamp"])


def generate() -> None:
    from attain.embedded.postgres import EmbeddedPostgres

    PLANS.write_text(json.dumps({
        "plans": [
            {"id": "prev", "currency": "INR", "period": "quarter",
             "components": [{"id": "commission", "measure": "closed_won_amount", "rate": "0.05"}]},
            {"id": "prevdraw", "currency": "INR", "period": "quarter", "draw": {"amount": 170000, "recoverable": True},
             "components": [{"id": "commission", "measure": "closed_won_amount", "rate": "0.02"}]},
            {"id": "prevpaid", "currency": "INR", "period": "quarter",
             "components": [{"id": "commission", "measure": "closed_won_amount", "rate": "0.05"}]}],
        "participants": [
            *({"id": rep, "plan": "prev"} for rep in ("u1", "u2", "u3")),
            *({"id": rep, "plan": "prevdraw"} for rep in ("d1", "d2", "d3")),
            {"id": "p1", "plan": "prevpaid"}]}, indent=1) + "\n")
    all_events = events()
    EVENTS.write_text("".join(json.dumps(event, sort_keys=True) + "\n" for event in all_events))
    with tempfile.TemporaryDirectory(prefix="attain-pg-") as data, EmbeddedPostgres(Path(data) / "pg") as server:
        book_the_ledger(server.url, all_events)


def book_the_ledger(url: str, all_events: list[dict[str, Any]]) -> None:
    from attain.contracts.earnings import EarningsSnapshot
    from attain.core.recompute import recompute
    from attain.ledger.approvals import DEFAULT_CHAIN, Actor
    from attain.planfiles import load_book
    from cli.main import changes_of
    from services.ledger.db import apply_snapshots, ledger_totals, make_engine, migrate
    from services.ledger.disputes import disputes_of, raise_dispute, resolve_dispute
    from services.ledger.lineage import status
    from services.ledger.payouts import lines_of
    from services.ledger.period_service import decide, list_periods, lock_period, mark_paid
    from services.ledger.postings import post_manual
    from services.ledger.statements import statement

    migrate(url)  # that release's head: 0006
    engine = make_engine(url)
    book = load_book([PLANS])
    changes = changes_of(all_events)

    def snapshots(version: int, upto: int, lineage: str) -> list[EarningsSnapshot]:
        earned = recompute(book, changes[:upto])
        return [EarningsSnapshot.of(e, version, 1_700_000_000_000 + version, [f"gen-{version}"], None, lineage)
                for _, e in sorted(earned.items())]

    first = snapshots(1, len(changes) // 2, "calc/2026/1")
    apply_snapshots(engine, first)
    lock_period(engine, "prevdraw", "2026-Q1", "admin-1", book)  # pays d3's draw: no credits in the period
    final = snapshots(2, len(changes), "calc/2026/1")
    apply_snapshots(engine, final)  # prevdraw 2026-Q1 is locked: its changes book as adjustments in 2026-Q2
    apply_snapshots(engine, snapshots(3, len(changes), "calc/2026/2")[:2])  # another lineage: quarantined
    post_manual(engine, actor_id="admin-1", rep_id="p1", scope="prevpaid", period="2026-Q1",
                component_id="spiff", kind="manual", amount="2500.00", currency="INR",
                reason="launch spiff", idempotency_key="manual:p1:spiff")
    post_manual(engine, actor_id="admin-1", rep_id="u3", scope="prev", period="2026-Q2", component_id="commission",
                kind="clawback", amount="-1000.00", currency="INR", reason="deal cancelled after payout",
                idempotency_key="manual:u3:clawback")

    for scope in ("prev", "prevpaid"):
        lock_period(engine, scope, "2026-Q1", "admin-1", book)
        for step, user in zip(DEFAULT_CHAIN, ("mgr-1", "cadmin-1", "fin-1"), strict=True):
            decide(engine, scope, "2026-Q1", Actor(user, frozenset({step})), True, f"{step} ok")
    mark_paid(engine, "prevpaid", "2026-Q1", "payroll-1")

    with engine.connect() as connection:
        from sqlalchemy import text

        ids = connection.execute(text("SELECT entry_id FROM ledger_entries WHERE rep_id = 'u1' "
                                      "ORDER BY entry_id LIMIT 2")).scalars().all()
    rejected = raise_dispute(engine, ids[0], "u1", "a deal is missing")
    resolve_dispute(engine, rejected, "cadmin-1", "the deal closed in April", adjustment=None)
    raise_dispute(engine, ids[1], "u1", "the rate looks low")

    keys = sorted({*ledger_totals(engine), ("u3", "2026-Q2"), ("p1", "2026-Q1")})  # and manual-only statements
    answers = {
        "release": PREVIOUS,
        "totals": [[rep, period, str(total)] for (rep, period), total in sorted(ledger_totals(engine).items())],
        "statements": {f"{rep}/{period}": statement(engine, rep, period) for rep, period in keys},
        "periods": list_periods(engine),
        "payout_lines": {scope: lines_of(engine, scope, "2026-Q1") for scope in ("prev", "prevpaid")},
        "disputes": disputes_of(engine),
        "lineage": status(engine),
        **calculator_messages(book, changes, final),
    }
    (HERE / "ledger_0006.json").write_text(json.dumps(answers, indent=1, sort_keys=True, default=str) + "\n")
    engine.dispose()
    dump(url)


def calculator_messages(book: Any, changes: list[Any], booked: list[Any]) -> dict[str, Any]:
    """What that release's calculator wrote: its earnings messages (the v3 contract) for the snapshots
    booked, and stage 1's credit messages for all the changes with the totals its stage 2 made of them."""
    import orjson

    from attain.platform.avro import contract
    from services.calculator.credit_stage import credit_touched, encode_credit_messages, merge_changes
    from services.calculator.earnings_stage import apply_rep_messages, group_by_rep

    codec = contract("earnings")
    earnings = [base64.b64encode(codec.encode(snapshot.to_avro())).decode() for snapshot in booked]
    touched = merge_changes(lambda record_id: None, [(change, 1_700_000_000_000) for change in changes])
    parts = [part for body in credit_touched(touched, book).messages_by_rep.values()
             for part in encode_credit_messages(body)]
    totals = {}
    for rep_id, messages in group_by_rep([orjson.loads(part) for part in parts]).items():
        update = apply_rep_messages(rep_id, messages, book, 1, lambda month: None, lambda period: None)
        totals.update({f"{rep_id}/{s.earnings.period}": str(s.earnings.total_earned) for s in update.snapshots})
    return {"earnings_v3": earnings, "credit_messages": [part.decode() for part in parts],
            "stage2_totals": totals}


def dump(url: str) -> None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    libpq = parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    sql = subprocess.run(
        [os.environ["PG_DUMP"], "--data-only", "--inserts", "--column-inserts", "--no-owner",
         "--exclude-table=alembic_version", "--dbname", libpq],
        check=True, capture_output=True, text=True, env={**os.environ, "PGPASSWORD": parsed.password or ""},
    ).stdout
    lines = [line for line in sql.splitlines() if not line.startswith(("\\restrict", "\\unrestrict"))]
    (HERE / "ledger_0006.sql").write_text(
        f"-- The ledger as release {PREVIOUS} (schema 0006) booked it: written by make_ledger_0006.py\n"
        + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
