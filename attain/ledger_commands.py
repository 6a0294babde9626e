"""Ledger commands of the ``attain`` CLI: audit, recompute, payroll export, periods, tokens, org.

    attain audit verify                         # check the audit hash chain
    attain audit export --period 2026-Q1        # audit-2026-Q1.zip (CSV + chain verification)
    attain recompute --period 2026-Q1 [--apply] # plan engine vs ledger, per rep and component
    attain ledger payroll --scope ae --period 2026-Q1 --format xlsx
    attain ledger period lock|approve|reject|paid SCOPE PERIOD --user U [--role R]
    attain ledger token USER --role comp_admin --region south
    attain ledger org FILE.yaml                 # participants' regions, managers (authorisation), HR ids (payroll)
    attain ledger lineage                       # the adopted calculator lineage, quarantined ones
    attain ledger adopt-lineage [LINEAGE] --user U [--post-differences] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()


def _database(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", default=None, help="default: ATTAIN_LEDGER_DATABASE_URL")


def register(commands: Any) -> None:
    """Add ``audit``, ``recompute`` and ``ledger`` to the CLI's subcommands."""
    audit = commands.add_parser("audit", help="verify or export the ledger's audit log")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    _database(audit_commands.add_parser("verify", help="check every record's hash chain"))
    export = audit_commands.add_parser("export", help="one period's audit records as a ZIP")
    export.add_argument("--period", required=True)
    export.add_argument("--out", type=Path, default=None)
    _database(export)

    recompute = commands.add_parser("recompute", help="replay CRM changes through the plan engine, diff the ledger")
    recompute.add_argument("--period", required=True)
    recompute.add_argument("--plans", type=Path, default=Path("examples/demo/plans.yaml"))
    recompute.add_argument("--events", type=Path, default=None,
                           help="JSONL of CRM events; default: read crm.changes from the broker")
    recompute.add_argument("--bootstrap", default=None)
    recompute.add_argument("--apply", action="store_true", help="post the differences as adjustments")
    recompute.add_argument("--user", default="recompute", help="who applies (audited)")
    _database(recompute)

    ledger = commands.add_parser("ledger", help="periods, payroll export, API tokens, org data")
    ledger_commands = ledger.add_subparsers(dest="ledger_command", required=True)
    payroll = ledger_commands.add_parser("payroll", help="export an approved period's payout lines")
    payroll.add_argument("--scope", required=True)
    payroll.add_argument("--period", required=True)
    payroll.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    payroll.add_argument("--out", type=Path, default=None)
    _database(payroll)
    period = ledger_commands.add_parser("period", help="move a period: lock, approve, reject, paid")
    period.add_argument("action", choices=("lock", "approve", "reject", "paid", "show"))
    period.add_argument("scope")
    period.add_argument("period")
    period.add_argument("--user", required=True)
    period.add_argument("--role", action="append", default=[])
    period.add_argument("--comment", default="")
    _database(period)
    token = ledger_commands.add_parser("token", help="issue an API bearer token (ATTAIN_LEDGER_JWT_SECRET)")
    token.add_argument("user")
    token.add_argument("--role", action="append", default=[])
    token.add_argument("--region", action="append", default=[])
    token.add_argument("--hours", type=int, default=8)
    org = ledger_commands.add_parser("org", help="load participants (region, manager, hr_id) from a plans YAML")
    org.add_argument("path", type=Path)
    _database(org)
    _database(ledger_commands.add_parser("lineage", help="the calculator lineage the ledger books; quarantined ones"))
    adopt = ledger_commands.add_parser(
        "adopt-lineage", help="compare a quarantined (rebuilt) lineage with the ledger; adopt it when they agree")
    adopt.add_argument("lineage", nargs="?", default=None, help="default: the only quarantined lineage")
    adopt.add_argument("--user", required=True, help="who adopts (audited)")
    adopt.add_argument("--post-differences", action="store_true",
                       help="adopt even where the totals differ, posting the differences as audited adjustments")
    adopt.add_argument("--dry-run", action="store_true", help="compare only")
    _database(adopt)


def dispatch(args: argparse.Namespace) -> int | None:
    """Run the command if it is one of ours; None otherwise."""
    if args.command == "audit":
        return audit_verify(args) if args.audit_command == "verify" else audit_export(args)
    if args.command == "recompute":
        return recompute_period(args)
    if args.command == "ledger":
        handlers = {"payroll": payroll_export, "period": period_command, "token": issue, "org": load_org,
                    "lineage": lineage_show, "adopt-lineage": adopt_lineage}
        return handlers[args.ledger_command](args)
    return None


def _engine(args: argparse.Namespace) -> Any:
    from services.ledger.config import LedgerSettings
    from services.ledger.db import make_engine

    return make_engine(args.database_url or LedgerSettings().database_url)


def audit_verify(args: argparse.Namespace) -> int:
    from services.ledger.audit import verify_audit

    checked, breaks = verify_audit(_engine(args))
    for chain_break in breaks:
        console.print(f"[red]record {chain_break.sequence}: {chain_break.reason}[/]")
    if breaks:
        console.print(f"[red]audit chain BROKEN: {len(breaks)} problem(s) in {checked} records[/]")
        return 1
    console.print(f"[green]audit chain intact: {checked} records[/]")
    return 0


def audit_export(args: argparse.Namespace) -> int:
    from services.ledger.audit import export_period_zip

    out = args.out or Path(f"audit-{args.period}.zip")
    out.write_bytes(export_period_zip(_engine(args), args.period))
    console.print(f"wrote {out}")
    return 0


def recompute_period(args: argparse.Namespace) -> int:
    from attain.cli import load_book
    from attain.core.recompute import recompute
    from services.ledger.recompute_service import apply_differences, differences, ledger_components

    engine = _engine(args)
    changes = _changes_from_file(args.events) if args.events else _changes_from_topic(args.bootstrap)
    expected = recompute(load_book(args.plans), changes).values()
    found = differences(expected, ledger_components(engine, args.period), args.period)
    table = Table(title=f"recompute {args.period}: {len(changes)} CRM changes replayed")
    for column in ("rep", "component", "ledger", "plan engine", "difference"):
        table.add_column(column)
    for difference in found:
        table.add_row(difference.rep_id, difference.component_id, str(difference.ledger_amount),
                      str(difference.expected_amount), str(difference.delta))
    console.print(table)
    if not found:
        console.print("[green]the ledger equals the plan engine for this period[/]")
        return 0
    if args.apply:
        from services.ledger.config import LedgerSettings

        posted = apply_differences(engine, args.period, found, args.user, LedgerSettings().period_scope)
        console.print(f"posted {posted} adjustment(s)")
        return 0
    return 3


def _changes_from_file(path: Path) -> list[Any]:
    from attain.cli import changes_of

    return changes_of([json.loads(line) for line in path.read_text().splitlines() if line.strip()])


def _changes_from_topic(bootstrap: str | None) -> list[Any]:
    """Every change on ``crm.changes`` up to its current end (a fresh consumer group, no commits)."""
    from confluent_kafka import Consumer, TopicPartition

    from attain.platform import topics
    from attain.platform.avro import contract
    from attain.platform.settings import KafkaSettings
    from services.calculator.convert import change_from_avro

    settings = KafkaSettings() if bootstrap is None else KafkaSettings(bootstrap=bootstrap)
    consumer = Consumer({"bootstrap.servers": settings.bootstrap, "group.id": f"attain-recompute-{uuid.uuid4()}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    partitions = consumer.list_topics(topics.CRM_CHANGES, timeout=30).topics[topics.CRM_CHANGES].partitions
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topics.CRM_CHANGES, p), timeout=30)[1]
            for p in partitions}
    consumer.assign([TopicPartition(topics.CRM_CHANGES, p, 0) for p in partitions if ends[p] > 0])
    decoder = contract(topics.CRM_CHANGES)
    changes, done = [], {p for p, end in ends.items() if end == 0}
    deadline = time.monotonic() + 300
    while len(done) < len(ends) and time.monotonic() < deadline:
        for message in consumer.consume(1000, 1.0):
            if message.error():
                continue
            changes.append(change_from_avro(decoder.decode(message.value() or b"")))
            partition, offset = message.partition() or 0, message.offset() or 0
            if offset + 1 >= ends[partition]:
                done.add(partition)
    consumer.close()
    return changes


def payroll_export(args: argparse.Namespace) -> int:
    from services.ledger.payouts import PayrollNotReady, approved_lines, export_csv, export_xlsx

    try:
        lines = approved_lines(_engine(args), args.scope, args.period)
    except PayrollNotReady as error:
        console.print(f"[red]nothing exported: {error}[/]")
        return 1
    out = args.out or Path(f"payroll-{args.scope}-{args.period}.{args.format}")
    if args.format == "xlsx":
        out.write_bytes(export_xlsx(lines))
    else:
        out.write_text(export_csv(lines))
    console.print(f"wrote {len(lines)} payout line(s) to {out}")
    return 0


def period_command(args: argparse.Namespace) -> int:
    from attain.ledger.approvals import Actor, ApprovalError
    from attain.ledger.periods import PeriodError
    from services.ledger.config import LedgerSettings
    from services.ledger.period_service import decide, lock_period, mark_paid, period_view

    engine = _engine(args)
    try:
        if args.action == "lock":
            console.print(f"{args.scope}/{args.period}: {lock_period(engine, args.scope, args.period, args.user)}")
        elif args.action == "paid":
            console.print(f"{args.scope}/{args.period}: {mark_paid(engine, args.scope, args.period, args.user)}")
        elif args.action in ("approve", "reject"):
            view = decide(engine, args.scope, args.period, Actor(args.user, frozenset(args.role)),
                          args.action == "approve", args.comment, LedgerSettings().chain)
            console.print(f"{args.scope}/{args.period}: {view.state}; next step: {view.next_step or '-'}")
        else:
            console.print(period_view(engine, args.scope, args.period, LedgerSettings().chain))
    except (ApprovalError, PeriodError) as error:
        console.print(f"[red]{error}[/]")
        return 2
    return 0


def issue(args: argparse.Namespace) -> int:
    from services.ledger.auth import issue_token
    from services.ledger.config import LedgerSettings

    settings = LedgerSettings()
    if settings.jwt_secret is None:
        console.print("[red]set ATTAIN_LEDGER_JWT_SECRET (the same value the ledger service uses)[/]")
        return 2
    print(issue_token(settings.jwt_secret.get_secret_value(), settings.jwt_audience, args.user, args.role,
                      args.region, args.hours * 3600))
    return 0


def load_org(args: argparse.Namespace) -> int:
    import yaml
    from sqlalchemy.dialects.postgresql import insert

    from services.ledger.schema import participants

    raw = yaml.safe_load(args.path.read_text())
    rows = [{"rep_id": p.get("rep_id") or p["id"], "region": p.get("region", ""), "manager_id": p.get("manager"),
             "hr_id": None if p.get("hr_id") is None else str(p["hr_id"])}
            for p in raw.get("participants", [])]
    statement = insert(participants)
    with _engine(args).begin() as connection:
        if rows:
            connection.execute(statement.on_conflict_do_update(
                index_elements=["rep_id"],
                set_={"region": statement.excluded.region, "manager_id": statement.excluded.manager_id,
                      "hr_id": statement.excluded.hr_id}), rows)
    console.print(f"loaded {len(rows)} participant(s)")
    return 0


DEMO_APPROVERS = (("demo-manager", "manager"), ("demo-comp-admin", "comp_admin"), ("demo-finance", "finance"))


def demo_period_close(engine: Any, timeout: float = 60) -> None:
    """The demo's last act: every period with entries goes open -> locked -> approved -> paid,
    and the payout lines reach the ``payouts`` topic through the running ledger's outbox relay."""
    from sqlalchemy import func, select

    from attain.ledger.approvals import Actor
    from services.ledger.payouts import lines_of
    from services.ledger.period_service import decide, list_periods, lock_period, mark_paid
    from services.ledger.schema import outbox

    table = Table(title="Periods closed: open -> locked -> approved -> paid")
    for column in ("scope", "period", "payout lines", "total", "published on payouts"):
        table.add_column(column)
    for row in list_periods(engine):
        if row["state"] != "open":
            continue
        scope, period = row["scope"], row["period"]
        lock_period(engine, scope, period, "demo-preparer")
        for user, role in DEMO_APPROVERS:
            decide(engine, scope, period, Actor(user, frozenset({role})), True, f"{role}: checked against the CRM")
        deadline = time.monotonic() + timeout
        pending = 1
        while pending and time.monotonic() < deadline:
            with engine.connect() as connection:
                pending = connection.execute(select(func.count()).select_from(outbox).where(
                    outbox.c.published_at.is_(None))).scalar_one()
            time.sleep(0.2)
        mark_paid(engine, scope, period, "demo-finance")
        lines = lines_of(engine, scope, period)
        totals = sorted({line["currency"] for line in lines})
        total = ", ".join(f"{sum(line['amount'] for line in lines if line['currency'] == c):,} {c}" for c in totals)
        table.add_row(scope, period, str(len(lines)), total, "yes" if not pending else "not yet")
    console.print(table)


def lineage_show(args: argparse.Namespace) -> int:
    from services.ledger.lineage import status

    state = status(_engine(args))
    console.print(f"adopted lineage: {state['adopted'] or '(none yet)'}; "
                  f"history booked: {'yes' if state['history'] else 'no'}")
    if not state["quarantined"]:
        console.print("nothing quarantined")
        return 0
    table = Table(title="quarantined lineages (snapshots held, not booked)")
    for column in ("lineage", "(rep, period)s", "snapshots received", "first seen", "last seen"):
        table.add_column(column)
    for held in state["quarantined"]:
        table.add_row(held["lineage"], str(held["keys"]), str(held["received"]), held["first_seen"],
                      held["last_seen"])
    console.print(table)
    console.print("recover: docs/ledger.md (Lineage), then `attain ledger adopt-lineage --user YOU`")
    return 3


def adopt_lineage(args: argparse.Namespace) -> int:
    from attain.ledger.lineage import LineageError
    from services.ledger.config import LedgerSettings
    from services.ledger.lineage import adopt, pending_lineages

    engine = _engine(args)
    lineage = args.lineage
    if lineage is None:
        pending = pending_lineages(engine)
        if len(pending) != 1:
            console.print(f"[red]{len(pending)} lineages are quarantined ({', '.join(pending) or 'none'}): "
                          "name the one to adopt[/]")
            return 2
        lineage = pending[0]
    try:
        result = adopt(engine, lineage, args.user, args.post_differences, args.dry_run,
                       LedgerSettings().period_scope)
    except LineageError as error:
        console.print(f"[red]{error}[/]")
        return 3
    table = Table(title=f"lineage {lineage} (rebuilt) against the ledger ({result.previous or 'no lineage'}): "
                        f"{result.compared} (rep, period)s compared")
    for column in ("rep", "period", "component", "booked", "rebuilt", "difference"):
        table.add_column(column)
    for d in result.differences:
        table.add_row(d.rep_id, d.period, d.component_id, str(d.booked),
                      str(d.rebuilt) if d.rebuilt_has_key else "(not rebuilt)", str(d.delta))
    console.print(table)
    if args.dry_run:
        console.print("dry run: nothing changed")
        return 0 if not result.differences else 3
    console.print(f"[green]adopted lineage {lineage}[/]"
                  + (f", {result.adjustments} difference(s) posted as adjustments" if result.adjustments else
                     ": the rebuilt totals equal the ledger's"))
    return 0
