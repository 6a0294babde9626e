"""The ledger's ``attain`` commands: audit, recompute, payroll export, periods, tokens, org.

    attain audit verify                         # check the audit hash chain
    attain audit export --period 2026-Q1        # audit-2026-Q1.zip (CSV + chain verification)
    attain recompute --period 2026-Q1 [--apply] # plan engine vs ledger, per rep and component
    attain ledger payroll --scope ae --period 2026-Q1 --format xlsx
    attain ledger period lock|approve|reject|paid SCOPE PERIOD --user U [--role R]
    attain ledger token USER --role comp_admin --region south [--issuer-dir DIR]  # the embedded issuer's key
    attain ledger access-log [--rep R] [--actor U] [--limit N] [--format json]  # who read whose pay
    attain ledger org FILE.yaml                 # participants' regions, managers (authorisation), HR ids (payroll)
    attain ledger lineage                       # the adopted calculator lineage, quarantined ones
    attain ledger adopt-lineage [LINEAGE] --user U [--post-differences] [--dry-run]
    attain ledger dispute raise ENTRY_ID --rep R --comment TEXT  # and the CRM changes behind the entry
    attain ledger dispute show DISPUTE_ID       # history, and the deals behind the line: event, origin, user
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Collection
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from attain import cli_support
from attain.cli_support import CliError, emit_json, print_table

console = Console()


def _database(parser: argparse.ArgumentParser, output: tuple[str, ...] = ("text", "json")) -> None:
    parser.add_argument("--database-url", default=None, help="default: ATTAIN_LEDGER_DATABASE_URL")
    if output:
        cli_support.add_format(parser, output, output[0])


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
    payroll = ledger_commands.add_parser(
        "payroll", help="export an approved period's payout lines (any other period is refused, exit 1)")
    payroll.add_argument("--scope", required=True)
    payroll.add_argument("--period", required=True)
    payroll.add_argument("--format", choices=("csv", "xlsx", "json"), default="csv",
                         help="csv or xlsx: a file (--out); json: the lines on stdout (or --out), amounts as text")
    payroll.add_argument("--out", type=Path, default=None)
    _database(payroll, output=())
    period = ledger_commands.add_parser("period", help="move a period: lock, approve, reject, paid")
    period.add_argument("action", choices=("lock", "approve", "reject", "paid", "show"))
    period.add_argument("scope")
    period.add_argument("period")
    period.add_argument("--user", required=True)
    period.add_argument("--role", action="append", default=[])
    period.add_argument("--comment", default="")
    period.add_argument("--plans", type=Path, default=None,
                        help="plan files: lock pays reps without credits their draw (ATTAIN_LEDGER_PLANS_FILE)")
    _database(period)
    token = ledger_commands.add_parser(
        "token", help="mint an API bearer token with the embedded issuer's signing key (needs its key files)")
    token.add_argument("user")
    token.add_argument("--role", action="append", default=[], help="rep, manager, comp_admin, finance, admin")
    token.add_argument("--region", action="append", default=[])
    token.add_argument("--hours", type=int, default=8)
    token.add_argument("--issuer-dir", type=Path, default=None,
                       help="the embedded issuer's folder (keys/); default: ATTAIN_ISSUER_DATA_DIR or .attain/issuer")
    token.add_argument("--issuer", default=None,
                       help="the issuer URL the services trust; default: ATTAIN_AUTH_ISSUER")
    access = ledger_commands.add_parser("access-log", help="who read whose pay through the ledger, newest first")
    access.add_argument("--rep", default=None, help="only reads of this rep's pay")
    access.add_argument("--actor", default=None, help="only reads by this person")
    access.add_argument("--limit", type=int, default=100)
    _database(access, ("table", "json"))
    org = ledger_commands.add_parser("org", help="load participants (region, manager, hr_id) from a plans YAML")
    org.add_argument("path", type=Path)
    _database(org)
    _database(ledger_commands.add_parser("lineage", help="the calculator lineage the ledger books; quarantined ones "
                                                         "(exit 3 when one is quarantined)"))
    adopt = ledger_commands.add_parser(
        "adopt-lineage", help="compare a quarantined (rebuilt) lineage with the ledger; adopt it when they agree")
    adopt.add_argument("lineage", nargs="?", default=None, help="default: the only quarantined lineage")
    adopt.add_argument("--user", required=True, help="who adopts (audited)")
    adopt.add_argument("--post-differences", action="store_true",
                       help="adopt even where the totals differ, posting the differences as audited adjustments")
    adopt.add_argument("--dry-run", action="store_true", help="compare only")
    _database(adopt)
    dispute = ledger_commands.add_parser(
        "dispute", help="raise or show a dispute on a ledger line, with the CRM changes behind it")
    dispute_commands = dispute.add_subparsers(dest="dispute_command", required=True)
    raised = dispute_commands.add_parser("raise", help="a rep disputes one of their entries")
    raised.add_argument("entry_id", type=int)
    raised.add_argument("--rep", required=True, help="the rep whose entry it is (who raises it, audited)")
    raised.add_argument("--comment", required=True, help="what is wrong with the entry")
    _database(raised)
    shown = dispute_commands.add_parser("show", help="a dispute's history and the CRM changes behind its entry")
    shown.add_argument("dispute_id", type=int)
    _database(shown)


def dispatch(args: argparse.Namespace) -> int | None:
    """Run the command if it is one of ours; None otherwise."""
    if args.command == "audit":
        return audit_verify(args) if args.audit_command == "verify" else audit_export(args)
    if args.command == "recompute":
        return recompute_period(args)
    if args.command == "ledger":
        handlers = {"payroll": payroll_export, "period": period_command, "token": issue, "org": load_org,
                    "lineage": lineage_show, "adopt-lineage": adopt_lineage, "access-log": access_log,
                    "dispute": dispute_command}
        return handlers[args.ledger_command](args)
    return None


def _ledger_period(period: str) -> None:
    """A period name the ledger keeps (a quarter or a month), else a usage error before any work."""
    from attain.ledger.periods import PeriodError, period_sort_key

    try:
        period_sort_key(period)
    except PeriodError:
        raise CliError(f"bad period {period!r}: the ledger's periods are quarters or months",
                       "write e.g. 2026-Q1 or 2026-03", cli_support.USAGE) from None


def _engine(args: argparse.Namespace) -> Any:
    from services.ledger.config import LedgerSettings, MissingDatabaseUrl
    from services.ledger.db import make_engine

    try:
        return make_engine(args.database_url or LedgerSettings().required_database_url())
    except MissingDatabaseUrl as error:
        raise CliError(str(error), "pass --database-url or set ATTAIN_LEDGER_DATABASE_URL", cli_support.USAGE) from None


def audit_verify(args: argparse.Namespace) -> int:
    from services.ledger.audit import verify_audit

    checked, breaks = verify_audit(_engine(args))
    return cli_support.report_check(
        console, breaks,
        {"intact": not breaks, "records": checked, "breaks": breaks} if args.format == "json" else None,
        (f"record {chain_break.sequence}: {chain_break.reason}" for chain_break in breaks),
        f"audit chain BROKEN: {len(breaks)} problem(s) in {checked} records",
        f"[green]audit chain intact: {checked} records[/]", line_style="red")


def audit_export(args: argparse.Namespace) -> int:
    from services.ledger.audit import export_period_zip

    _ledger_period(args.period)
    out = args.out or Path(f"audit-{args.period}.zip")
    data = export_period_zip(_engine(args), args.period)
    out.write_bytes(data)
    if args.format == "json":
        emit_json({"period": args.period, "file": str(out), "bytes": len(data)})
    else:
        console.print(f"wrote {out}")
    return 0


def recompute_period(args: argparse.Namespace) -> int:
    from attain.core.periods import period_type_of
    from attain.core.recompute import recompute
    from attain.planfiles import load_book
    from services.ledger.config import LedgerSettings
    from services.ledger.recompute_service import apply_differences, differences, ledger_components, with_closing_draws

    period_type_of(args.period)  # a bad period name fails before any work
    book = load_book([args.plans])
    engine = _engine(args)
    changes = _changes_from_file(args.events) if args.events else _changes_from_topic(args.bootstrap)
    expected = with_closing_draws(engine, book, recompute(book, changes).values(), args.period,
                                  LedgerSettings().period_scope)
    found = differences(expected, ledger_components(engine, args.period), args.period)
    posted = None
    if found and args.apply:
        if args.user in {difference.rep_id for difference in found}:  # the policy: nobody pays themselves
            console.print(f"[red]attain recompute: {args.user} is paid by these adjustments and may not apply them; "
                          "another person must (--user)[/]")
            return 1
        posted = apply_differences(engine, args.period, found, args.user, LedgerSettings().period_scope)
    if args.format == "json":
        emit_json({"period": args.period, "changes_replayed": len(changes), "differences": [
            {"rep_id": d.rep_id, "component_id": d.component_id, "kind": d.kind, "ledger_amount": d.ledger_amount,
             "expected_amount": d.expected_amount, "delta": d.delta} for d in found],
            "adjustments_posted": posted})
    else:
        table = Table(title=f"recompute {args.period}: {len(changes)} CRM changes replayed")
        for column in ("rep", "component", "ledger", "plan engine", "difference"):
            table.add_column(column, justify="right" if column in ("ledger", "plan engine", "difference") else "left")
        for difference in found:
            component = difference.component_id + ("" if difference.kind == "earned" else f" ({difference.kind})")
            table.add_row(difference.rep_id, component, str(difference.ledger_amount),
                          str(difference.expected_amount), str(difference.delta))
        print_table(console, table)
        if not found:
            console.print("[green]the ledger equals the plan engine for this period[/]")
        elif posted is not None:
            console.print(f"posted {posted} adjustment(s)")
    return cli_support.DIFFERENCES if found and posted is None else cli_support.OK


def _changes_from_file(path: Path) -> list[Any]:
    """The file's events as the calculator will see them (same normalisation as ingest)."""
    from attain.contracts.crm_changes import change_from_avro, normalise, parse_json

    if not path.is_file():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [change_from_avro(normalise(parse_json(json.dumps(e)), "sample", 0)) for e in events]


def _changes_from_topic(bootstrap: str | None) -> list[Any]:
    """Every change on ``crm.changes`` up to its current end (a fresh consumer group, no commits)."""
    from confluent_kafka import Consumer, TopicPartition

    from attain.contracts.crm_changes import change_from_avro
    from attain.platform import topics
    from attain.platform.avro import contract
    from attain.platform.kafka import client_config
    from attain.platform.settings import KafkaSettings

    settings = KafkaSettings() if bootstrap is None else KafkaSettings(bootstrap=bootstrap)
    cli_support.check_broker(settings.bootstrap)
    consumer = Consumer(client_config(settings, **{"group.id": f"attain-recompute-{uuid.uuid4()}",
                                                   "enable.auto.commit": False, "auto.offset.reset": "earliest"}))
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


PAYABLE = ("approved", "paid")


def payroll_export(args: argparse.Namespace) -> int:
    """Only an approved (or paid) period has payout lines to export; anything else is refused, no file written."""
    from services.ledger.payouts import export_csv, export_xlsx, lines_of
    from services.ledger.period_service import period_view

    _ledger_period(args.period)
    engine = _engine(args)
    view = period_view(engine, args.scope, args.period)
    state = "open (never locked)" if view is None else str(view.state)
    if view is None or str(view.state) not in PAYABLE:
        raise CliError(f"{args.scope}/{args.period} is {state}, not approved: nothing to export and no file written",
                       f"lock and approve it first (`attain ledger period show {args.scope} {args.period}` "
                       "shows the next step)")
    lines = lines_of(engine, args.scope, args.period)
    if args.format == "json":
        data = {"scope": args.scope, "period": args.period, "state": state, "lines": lines}
        if args.out is None:
            emit_json(data)
            return 0
        args.out.write_text(json.dumps(cli_support.plain(data), indent=2) + "\n")
        console.print(f"wrote {len(lines)} payout line(s) to {args.out}")
        return 0
    out = args.out or Path(f"payroll-{args.scope}-{args.period}.{args.format}")
    if args.format == "xlsx":
        out.write_bytes(export_xlsx(lines))
    else:
        out.write_text(export_csv(lines))
    console.print(f"wrote {len(lines)} payout line(s) to {out}")
    return 0


def period_command(args: argparse.Namespace) -> int:
    from attain.ledger.approvals import Actor
    from services.ledger.config import LedgerSettings
    from services.ledger.period_close import plan_book
    from services.ledger.period_service import decide, lock_period, mark_paid, period_view

    _ledger_period(args.period)
    engine = _engine(args)
    settings = LedgerSettings()
    chain = settings.chain
    if args.action == "lock":
        lock_period(engine, args.scope, args.period, args.user, plan_book(args.plans or settings.plans_file),
                    settings.period_scope)
    elif args.action == "paid":
        mark_paid(engine, args.scope, args.period, args.user)
    elif args.action in ("approve", "reject"):
        decide(engine, args.scope, args.period, Actor(args.user, frozenset(args.role)),
               args.action == "approve", args.comment, chain)
    view = period_view(engine, args.scope, args.period, chain)
    if args.format == "json":
        emit_json({"scope": args.scope, "period": args.period, "state": "open", "prepared_by": None,
                   "approval_round": 0, "next_step": None} if view is None else view)
    elif view is None:
        console.print(f"{args.scope}/{args.period}: open (never locked)")
    else:
        console.print(f"{args.scope}/{args.period}: {view.state}; next step: {view.next_step or '-'}"
                      + (f"; prepared by {view.prepared_by}" if view.prepared_by else ""), highlight=False)
    return 0


def issue(args: argparse.Namespace) -> int:
    """A token signed with the embedded issuer's current key; the roles must be Attain's (no "wizard")."""
    from attain.platform.identity import AuthError, AuthSettings, check_roles
    from services.issuer.config import IssuerSettings
    from services.issuer.directory import mint_token

    try:
        check_roles(args.role)
    except AuthError as error:
        console.print(f"[red]attain ledger token: {error}[/]")
        return 2
    if not args.role:
        console.print("[red]attain ledger token: name at least one --role (the ledger serves people by role)[/]")
        return 2
    issuer_settings = IssuerSettings()
    data_dir = args.issuer_dir or issuer_settings.data_dir
    if not list((data_dir / "keys").glob("*.pem")):
        console.print(f"[red]attain ledger token: no signing key in {data_dir / 'keys'}; point --issuer-dir at the "
                      "embedded issuer's folder (e.g. .attain/demo/issuer)[/]")
        return 1
    auth = AuthSettings()
    issuer = args.issuer or auth.issuer or issuer_settings.public_url()
    claims: dict[str, Any] = {"roles": sorted(set(args.role))}
    if args.region:
        claims["regions"] = sorted(set(args.region))
    print(mint_token(data_dir, issuer, auth.audience, args.user, args.hours * 3600, **claims))
    return 0


def access_log(args: argparse.Namespace) -> int:
    from services.ledger.queries import access_rows

    rows = access_rows(_engine(args), None, args.rep, args.actor, args.limit)
    if args.format == "json":
        print(json.dumps(rows, default=str, indent=2))
        return 0
    table = Table(title=f"access log: {len(rows)} read(s), newest first")
    for column in ("when", "who", "whose", "region", "what", "resource", "door"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["occurred_at"].isoformat(timespec="seconds"), row["actor_id"], row["rep_id"],
                      row["region"] or "-", row["action"], row["resource"], row["door"])
    console.print(table)
    return 0


def dispute_command(args: argparse.Namespace) -> int:
    """``dispute raise`` or ``dispute show``: the dispute and, per CRM change behind its entry, the deal, the
    event id and who changed it (change origin, commit user)."""
    from services.ledger.disputes import DisputeError, dispute_history, raise_dispute

    engine = _engine(args)
    try:
        if args.dispute_command == "raise":
            dispute_id = raise_dispute(engine, args.entry_id, args.rep, args.comment)
        else:
            dispute_id = args.dispute_id
        dispute = dispute_history(engine, dispute_id)
    except DisputeError as error:
        raise CliError(str(error), "check the entry or dispute id (and the rep)") from None
    if args.format == "json":
        print(json.dumps(dispute, default=str, indent=2))
        return 0
    console.print(f"dispute {dispute['dispute_id']} on entry {dispute['entry_id']} of {dispute['rep_id']}: "
                  f"{dispute['status']}")
    for event in dispute["history"]:
        console.print(f"  {event['action']} by {event['actor_id']}: {event['comment']}")
    table = Table(title=f"CRM changes behind entry {dispute['entry_id']}")
    for column in ("deal", "event", "change origin", "commit user"):
        table.add_column(column, overflow="fold")
    for change in dispute["changes"]:
        table.add_row(change["record_id"] or "(not recorded)", change["event_id"], change["change_origin"] or "-",
                      change["commit_user"] or "-")
    print_table(console, table)
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
    if args.format == "json":
        emit_json({"loaded": len(rows), "participants": rows})
    else:
        console.print(f"loaded {len(rows)} participant(s)")
    return 0


DEMO_APPROVERS = (("demo-manager", "manager"), ("demo-comp-admin", "comp_admin"), ("demo-finance", "finance"))


def demo_period_close(engine: Any, periods: Collection[str] | None = None, timeout: float = 60,
                      book: Any = None) -> None:
    """The demo's last act: every period with entries (of ``periods``, when given: the sample's, never
    an empty later one) goes open -> locked -> approved -> paid, and the payout lines reach the
    ``payouts`` topic through the running ledger's outbox relay. One closed before is shown as such.
    With the plan ``book``, locking pays the draws of reps without credits."""
    from sqlalchemy import func, select

    from attain.ledger.approvals import Actor
    from services.ledger.payouts import lines_of
    from services.ledger.period_service import decide, list_periods, lock_period, mark_paid
    from services.ledger.schema import outbox

    table = Table(title="Periods closed: open -> locked -> approved -> paid")
    for column in ("scope", "period", "payout lines", "total", "published on payouts"):
        table.add_column(column)
    for row in list_periods(engine):
        if periods is not None and row["period"] not in periods:
            continue
        scope, period = row["scope"], row["period"]
        if row["state"] != "open":
            table.add_row(scope, period, "-", f"closed before: {row['state']}", "-")
            continue
        lock_period(engine, scope, period, "demo-preparer", book)
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
    print_table(console, table)


def lineage_show(args: argparse.Namespace) -> int:
    from services.ledger.lineage import status

    state = status(_engine(args))
    if args.format == "json":
        emit_json(state)
        return cli_support.DIFFERENCES if state["quarantined"] else cli_support.OK
    console.print(f"adopted lineage: {state['adopted'] or '(none yet)'}; "
                  f"history booked: {'yes' if state['history'] else 'no'}")
    if not state["quarantined"]:
        console.print("nothing quarantined")
        return 0
    table = Table(title="quarantined lineages (snapshots held, not booked)")
    for column in ("lineage", "(rep, period)s", "snapshots received", "first seen", "last seen"):
        table.add_column(column)
    for held in state["quarantined"]:
        table.add_row(held["lineage"], str(held["keys"]), str(held["received"]), str(held["first_seen"]),
                      str(held["last_seen"]))
    print_table(console, table)
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
            raise CliError(f"{len(pending)} lineages are quarantined ({', '.join(pending) or 'none'})",
                           "name the one to adopt: `attain ledger adopt-lineage LINEAGE`", cli_support.USAGE)
        lineage = pending[0]
    try:
        result = adopt(engine, lineage, args.user, args.post_differences, args.dry_run,
                       LedgerSettings().period_scope)
    except LineageError as error:
        raise CliError(str(error), "see docs/ledger.md (Lineage)", cli_support.DIFFERENCES) from error
    if args.format == "json":
        emit_json({"lineage": lineage, "previous": result.previous, "compared": result.compared,
                   "dry_run": args.dry_run, "adopted": not args.dry_run, "adjustments": result.adjustments,
                   "differences": [{"rep_id": d.rep_id, "period": d.period, "component_id": d.component_id,
                                    "booked": d.booked, "rebuilt": d.rebuilt if d.rebuilt_has_key else None,
                                    "delta": d.delta} for d in result.differences]})
        return cli_support.DIFFERENCES if args.dry_run and result.differences else cli_support.OK
    table = Table(title=f"lineage {lineage} (rebuilt) against the ledger ({result.previous or 'no lineage'}): "
                        f"{result.compared} (rep, period)s compared")
    for column in ("rep", "period", "component", "booked", "rebuilt", "difference"):
        table.add_column(column)
    for d in result.differences:
        table.add_row(d.rep_id, d.period, d.component_id, str(d.booked),
                      str(d.rebuilt) if d.rebuilt_has_key else "(not rebuilt)", str(d.delta))
    print_table(console, table)
    if args.dry_run:
        console.print("dry run: nothing changed")
        return 0 if not result.differences else 3
    console.print(f"[green]adopted lineage {lineage}[/]"
                  + (f", {result.adjustments} difference(s) posted as adjustments" if result.adjustments else
                     ": the rebuilt totals equal the ledger's"))
    return 0
