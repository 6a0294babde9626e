"""The ``attain`` command.

    attain run                 # the whole pipeline on embedded defaults, with a sample quarter
    attain serve --data DIR [--plans PATH]  # the whole pipeline for real on one machine, kept in DIR
    attain watch REP_ID        # live earnings notifications of one rep (gRPC)
    attain ingest file F.jsonl # publish canonical change events from a file (through ingest)
    attain ingest backfill F.csv|F.jsonl [--mapping M --object Opportunity]  # history, same validation
    attain dlq list|show P:O|replay  # inspect and re-drive dead letters (replay: through ingest)
      ingest's doors need a client-credentials token: --token (or $ATTAIN_TOKEN), or --client-id with
      --client-secret-file and --issuer (or $ATTAIN_AUTH_ISSUER); ingest's address: --url or $ATTAIN_INGEST_URL
    attain plans validate PATH...                # every error with file, line, field and a hint
    attain plans apply PATH... --user U --reason R [--hr-export hr.csv] [--dry-run]  # publish a version
    attain plans versions | rollback [--to V] --user U --reason R | show V|current [--out DIR]
    attain plans diff OLD NEW --events F.jsonl [--period P]   # whose pay changes (OLD/NEW: path, version:ID, current)
    attain simulate --plans DIR --org FILE --events F.jsonl --period 2026-Q1 [--format table|json|csv]
    attain explain  --plans DIR --org FILE --events F.jsonl --period 2026-Q1 --rep REP [--component C]
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from attain import cli_support
from attain.core.periods import period_bounds, period_of, period_type_of
from attain.core.plans import PlanBook
from attain.core.recompute import recompute
from attain.core.records import CrmChange
from attain.format import LocaleError, amount, percent, reader_locale
from cli import plans as plans_cli
from cli import serve as serve_cli
from services.ingest import commands as ingest_commands
from services.ledger import commands as ledger_commands
from services.notifier import commands as notifier_commands

if TYPE_CHECKING:
    from attain.embedded.stack import Stack

console = Console()
DEFAULT_PLANS = Path("examples/apac")
SERVICE_COMMANDS = (ledger_commands, notifier_commands, ingest_commands)  # each: register(commands), dispatch(args)


def main(argv: Sequence[str] | None = None) -> None:
    """The console script: parse, run, and turn any known error into one line and its exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    debug = cli_support.debug_requested(arguments)
    parser = build_parser()
    args = parser.parse_args(arguments)  # exits 2 with argparse's usage line on a usage error
    sys.exit(cli_support.run_guarded(lambda: dispatch(args), debug))


def build_parser() -> argparse.ArgumentParser:
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("attain")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        installed = "unknown"
    parser = argparse.ArgumentParser(prog="attain", description=__doc__, epilog=cli_support.EXIT_CODES_HELP,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"attain {installed}")
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of an error (also ATTAIN_DEBUG=1); allowed anywhere")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the whole pipeline on embedded defaults")
    run.add_argument("--plans", type=Path, default=DEFAULT_PLANS)
    run.add_argument("--workdir", type=Path, default=Path(".attain/demo"))
    run.add_argument("--deals", type=int, default=400,
                     help="opportunities to generate when the plan folder has no events.jsonl of its own")
    run.add_argument("--pace", type=float, default=0, metavar="EVENTS_PER_SECOND",
                     help="replay the sample quarter at this rate, to watch the portal move (default: at once)")
    run.add_argument("--exit-when-done", action="store_true",
                     help="stop after the summary instead of waiting for Ctrl-C")
    serve_cli.register(commands)
    notifier_commands.register(commands)
    ingest_commands.register(commands)

    plans_command = commands.add_parser("plans", help="plan book tools")
    plans_commands = plans_command.add_subparsers(dest="plans_command", required=True)
    validate = plans_commands.add_parser("validate", help="check plan files; non-zero exit on any error")
    validate.add_argument("paths", type=Path, nargs="+")
    cli_support.add_format(validate, ("text", "json"), "text")
    plans_cli.register(plans_commands)

    for name, help_text in (("simulate", "earnings of a period from files"),
                            ("explain", "the trace behind one participant's earnings")):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--plans", type=Path, required=True, help="plan file or directory")
        sub.add_argument("--org", type=Path, help="participants file (if not in --plans)")
        sub.add_argument("--events", type=Path, required=True, help="canonical change events, JSON lines")
        sub.add_argument("--period", required=True, help="e.g. 2026-Q1, 2026-02, 2026-H1, 2026")
        sub.add_argument("--locale", help="how amounts are grouped for the reader, e.g. en-IN for lakh and crore "
                         "(default $ATTAIN_LOCALE, else en)")
        if name == "simulate":
            sub.add_argument("--format", choices=("table", "json", "csv"), default="table")
        else:
            sub.add_argument("--rep", required=True)
            sub.add_argument("--component")
            cli_support.add_format(sub, ("text", "json"), "text")

    ledger_commands.register(commands)
    return parser


def dispatch(args: argparse.Namespace) -> int:
    if args.command == "plans":
        if args.plans_command != "validate":
            return plans_cli.dispatch(args)
        return validate_plans(args.paths, args.format)
    if args.command in ("simulate", "explain"):
        return simulate_period(args)
    if args.command == "run":
        return run_demo(args.plans, args.workdir, args.deals, args.exit_when_done, args.pace)
    if args.command == "serve":
        return serve_cli.serve(args)
    for service in SERVICE_COMMANDS:
        if (status := service.dispatch(args)) is not None:
            return status
    raise cli_support.CliError(f"unknown command {args.command!r}", "see `attain --help`", cli_support.USAGE)


def load_book(path: Path) -> PlanBook:
    from attain.planfiles import load_book as load_files

    return load_files([path])


def validate_plans(paths: Sequence[Path], output: str = "text") -> int:
    from attain.planfiles import plan_files, validate, warnings

    for path in paths:
        if not path.exists():
            raise FileNotFoundError(2, "No such file or directory", str(path))
    problems = validate(paths)
    cautions = [] if problems else warnings(paths)
    files = plan_files(paths)
    document = {"ok": not problems, "files": [str(f) for f in files], "problems": problems, "warnings": cautions}
    return cli_support.report_check(
        console, problems, document if output == "json" else None,
        [*problems, *cautions], f"{len(problems)} problem(s)", f"[green]ok[/]: {len(files)} file(s)")


def simulate_period(args: argparse.Namespace) -> int:
    from attain import simulate
    from attain.planfiles import validate

    paths = [args.plans] + ([args.org] if args.org else [])
    for path in [*paths, args.events]:
        if not path.exists():
            raise FileNotFoundError(2, "No such file or directory", str(path))
    period_type_of(args.period)  # a bad period name is a usage error before any work
    try:
        locale = reader_locale(args.locale)
    except LocaleError as error:
        raise cli_support.CliError(str(error), "--locale or ATTAIN_LOCALE", cli_support.USAGE) from error
    problems = validate(paths)
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        raise cli_support.CliError(f"{len(problems)} problem(s) in the plan files (listed above)",
                                   "fix them; `attain plans validate PATH` lists them again", cli_support.USAGE)
    book = load_files_book(paths)
    try:
        changes = simulate.read_changes(args.events)
    except ValueError as error:
        raise cli_support.CliError(f"bad event: {error}", "one canonical change event per line (docs/events.md)",
                                   cli_support.USAGE) from error
    results = simulate.simulate(book, changes, args.period)
    if args.command == "explain":
        chosen = [r for r in results if r.rep_id == args.rep]
        if not chosen:
            raise cli_support.CliError(f"{args.rep!r} has no plan in {args.period}",
                                       "check --rep and --period against the plan files")
        held = simulate.holds(book, changes, args.rep)
        if args.format == "json":
            cli_support.emit_json(simulate.explain_json(chosen[0], args.component, held))
        else:
            print(simulate.explain(chosen[0], args.component, held, locale))
        return 0
    if args.format == "json":
        print(simulate.dumps(simulate.to_json(book, args.period, results)))
    elif args.format == "csv":
        print(simulate.to_csv(book, args.period, results), end="")
    else:
        table = Table(title=f"Earnings {args.period}")
        for column in simulate.CSV_COLUMNS:
            table.add_column(column, justify="right" if column in simulate.AMOUNT_COLUMNS else "left")
        for row in simulate.rows(book, args.period, results, locale):
            table.add_row(*row)
        cli_support.print_table(console, table)
    return 0


def load_files_book(paths: Sequence[Path]) -> PlanBook:
    from attain.planfiles import load_book as load_files

    return load_files(paths)


def changes_of(events: Sequence[dict[str, Any]]) -> list[CrmChange]:
    """The events as the calculator will see them (same normalisation as ingest)."""
    from attain.contracts.crm_changes import change_from_avro, normalise, parse_json

    return [change_from_avro(normalise(parse_json(json.dumps(e)), "sample", 0)) for e in events]


def run_demo(plans: Path, workdir: Path, deals: int, exit_when_done: bool, pace: float = 0) -> int:
    from attain.embedded.stack import Stack, start_fresh_demo
    from attain.sample import demo_events
    from services.ledger.db import ledger_totals, make_engine

    book = load_book(plans)
    if note := start_fresh_demo(workdir.resolve()):
        console.print(f"[yellow]{note}[/]")
    stack = Stack(workdir=workdir.resolve(), plans_file=plans, supervise=True, mail_sink=True,
                  notify=lambda message: console.print(f"[yellow]{message}[/]"))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with console.status("starting broker (Tansu), PostgreSQL and the five services..."):
            started = time.monotonic()
            stack.start()
        console.print(f"[green]pipeline up[/] in {time.monotonic() - started:.1f}s: "
                      f"broker {stack.kafka_bootstrap}, ingest {stack.ingest_url}, "
                      f"notifier gRPC {stack.notifier_target}; logs in {stack.workdir}; API and webhook "
                      f"secrets in {stack.workdir / 'secrets.env'}; a service that exits is restarted")
        console.print(portal_note(stack.portal_url, stack.workdir / "issuer" / "credentials.json"),
                      highlight=False, soft_wrap=True)
        load_demo_org(plans, stack.database_url or "")
        events = demo_events(plans, book, deals)
        assert stack.issuer is not None  # machine callers post with a client-credentials token
        replay(stack.ingest_url, events, stack.issuer.client_token("attain-ingest-client"), pace=pace)
        # A period that earns nothing has no entries in the ledger: compare what is non-zero.
        expected = {key: e.total_earned for key, e in recompute(book, changes_of(events)).items() if e.total_earned}
        engine = make_engine(stack.database_url or "")
        totals = wait_for_ledger(engine, expected, ledger_totals)
        print_summary(book, recompute(book, changes_of(events)), totals)
        if stack.plans_version is not None:
            console.print(plans_version_note(stack.plans_version.version_id, stack.kafka_bootstrap or "", plans),
                          highlight=False, soft_wrap=True)
        # The sample's quarter is closed; a longer period (a half-year) is not over yet and stays open.
        first_day = min((period_bounds(period)[0] for _, period in expected), default=None)
        quarter_end = period_bounds(period_of(first_day, "quarter"))[1] if first_day else None
        closing = {period for _, period in expected if quarter_end and period_bounds(period)[1] <= quarter_end}
        ledger_commands.demo_period_close(engine, closing, book=book)
        for period in sorted({period for _, period in expected} - closing):
            console.print(f"{period} stays open: it ends after the sample quarter")
        rep = "ae-in-01" if "ae-in-01" in book.participants else min(book.participants)
        token_file = write_demo_token(stack, rep, ["rep"])
        ledger_api = f"http://127.0.0.1:{stack.services['ledger'].port}"
        if "mgr-in" in book.participants:
            manager_file = write_demo_token(stack, "mgr-in", ["manager"])
            console.print(
                f"\nSigned in as the manager mgr-in, you see your team's pay and nobody else's:\n"
                f"  curl -H \"Authorization: Bearer $(cat {manager_file})\" {ledger_api}/v1/reps/ae-in-02/entries"
                f"   (200)\n  curl -H \"Authorization: Bearer $(cat {manager_file})\" "
                f"{ledger_api}/v1/reps/ae-sg-01/entries   (404)")
        console.print(
            f"\nSign-in: sample users' passwords are in {stack.workdir / 'issuer' / 'credentials.json'} "
            f"(token endpoint {stack.issuer.url if stack.issuer else '-'}/token). As {rep}: "
            f"curl -H \"Authorization: Bearer $(cat {token_file})\" {ledger_api}/v1/reps/{rep}/entries"
            f"\nWatch live notifications as {rep}: [bold]ATTAIN_TOKEN=$(cat {token_file}) .venv/bin/attain watch "
            f"{rep} --target {stack.notifier_target}[/]\nPost more events (client attain-ingest-client, its secret in "
            f"credentials.json): curl -XPOST -H \"Authorization: Bearer $TOKEN\" {stack.ingest_url}/v1/events "
            f"-d @event.json   Metrics: http://127.0.0.1:{stack.services['ingest'].port}/metrics"
        )
        console.print(portal_note(stack.portal_url, stack.workdir / "issuer" / "credentials.json"),
                      highlight=False, soft_wrap=True)
        console.print(mail_sink_note(stack, rep, token_file), highlight=False, soft_wrap=True)
        if exit_when_done:
            return 0 if totals == expected else 1
        console.print("[bold]Ctrl-C to stop.[/]")
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        console.print("\nstopping...")
        return 0
    finally:
        stack.stop()
        console.print("stopped cleanly")


def portal_note(portal_url: str, credentials: Path) -> str:
    """The portal's address and a sign-in link per sample user (their passwords in ``credentials``)."""
    links = "\n".join(f"  {who:<12} {portal_url}/login?login_hint={user}"
                      for who, user in (("rep", "ae-in-01"), ("manager", "mgr-in"), ("comp admin", "comp-admin")))
    return (f"\n[bold]Portal: {portal_url}[/] (open it on a phone-sized window and watch the numbers move)\n"
            f"Sign in (passwords in {credentials}):\n{links}")


def plans_version_note(version_id: str, bootstrap: str, plans: Path) -> str:
    """The summary's lines on the published plan version, and how to change a rate live."""
    def attain(command: str) -> str:
        return f".venv/bin/attain plans {command} --bootstrap {bootstrap}"

    events = plans / "events.jsonl" if plans.is_dir() and (plans / "events.jsonl").exists() else Path("EVENTS.jsonl")
    apply = attain('apply /tmp/p --user you --reason "raise the SG accelerator"')
    return (f'\nPlans: version [bold]{version_id}[/] is current (published by attain-demo, "demo start"). '
            f"Change a rate live:\n  {attain('show current --out /tmp/p')}\n"
            f"  edit a rate in /tmp/p/plans-ae.yaml; see whose pay moves:\n  "
            f"{attain(f'diff current /tmp/p --events {events}')}\n  {apply}\n"
            f"  history: {attain('versions')}; undo: {attain('rollback --user you --reason undo')}")


def load_demo_org(plans: Path, database_url: str) -> None:
    """The org's participants (regions, managers, HR ids) into the ledger, so its policy knows who manages whom."""
    import yaml

    files = sorted(plans.glob("*.yaml")) if plans.is_dir() else [plans]
    for path in files:
        if isinstance(data := yaml.safe_load(path.read_text()), dict) and data.get("participants"):
            ledger_commands.load_org(argparse.Namespace(path=path, database_url=database_url, format="text"))


def replay(ingest_url: str, events: Sequence[dict[str, Any]], token: str, batch: int = 50, pace: float = 0) -> None:
    """Post ``events`` to ingest in batches; ``pace`` > 0: at most that many events a second (the demo's --pace)."""
    if pace > 0:
        batch = max(1, min(batch, int(pace)))
    started = time.monotonic()
    with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {token}"}) as client, \
            Progress(console=console) as progress:
        task = progress.add_task("replaying CRM events", total=len(events))
        for start in range(0, len(events), batch):
            if pace > 0:  # hold each batch until its time at the chosen rate
                time.sleep(max(0.0, started + start / pace - time.monotonic()))
            chunk = events[start:start + batch]
            response = client.post(f"{ingest_url}/v1/events", json=chunk)
            if response.status_code != 202:
                console.print(f"[red]ingest answered {response.status_code}: {response.text[:500]}")
            progress.advance(task, len(chunk))
        bad = client.post(f"{ingest_url}/v1/events", content=b'{"record_id": 42}')
        console.print(f"a malformed event was sent on purpose: ingest answered {bad.status_code}, "
                      "and it is in crm.changes.dlq")


def wait_for_ledger(engine: Any, expected: dict[tuple[str, str], Decimal], totals_of: Any,
                    timeout: float = 120) -> dict[tuple[str, str], Decimal]:
    deadline = time.monotonic() + timeout
    totals: dict[tuple[str, str], Decimal] = {}
    with console.status("waiting for the ledger to match a batch recompute..."):
        while time.monotonic() < deadline:
            totals = {key: total for key, total in totals_of(engine).items() if total}
            if totals == expected:
                console.print("[green]ledger totals equal the batch recompute, to the minor unit[/]")
                return totals
            time.sleep(0.5)
    console.print("[red]ledger did not converge to the batch recompute in time[/]")
    return totals


def print_summary(book: PlanBook, earnings: dict[tuple[str, str], Any],
                  totals: dict[tuple[str, str], Decimal]) -> None:
    from attain.simulate import credited as credited_text
    from attain.simulate import headline

    table = Table(title="Earnings per rep (ledger)")
    for column in ("rep", "name", "period", "credited", "attainment", "earned", "currency"):
        table.add_column(column, justify="right" if column in ("credited", "attainment", "earned")
                         else "left")
    for (rep_id, period), result in sorted(earnings.items()):
        credited, quota = headline(result)
        shown = amount(credited, result.currency) if quota else credited_text(result.components[0], result.currency)
        table.add_row(rep_id, book.participants[rep_id].name, period, shown,
                      "" if not quota else percent(credited / quota),
                      amount(totals.get((rep_id, period), Decimal(0)), result.currency), result.currency)
    cli_support.print_table(console, table)


def mail_sink_note(stack: Any, rep: str, token_file: Path) -> str:
    """Where the demo's notification e-mails land, and how the rep asks for them (docs/notifications.md)."""
    preferences = (f"http://127.0.0.1:{stack.services['notifier'].port}/v1/people/{rep}/notification-preferences")
    return (f"\nMail sink: notification e-mails land in {stack.mailbox} (a Maildir; SMTP 127.0.0.1:{stack.smtp_port})."
            f" Ask for them as {rep}: curl -XPUT -H \"Authorization: Bearer $(cat {token_file})\" {preferences} "
            f"-d '{{\"channels\": [\"email\"], \"email\": \"{rep}@example.com\"}}'")


def write_demo_token(stack: Stack, subject: str, roles: list[str]) -> Path:
    """A one-hour token for a demo user, in a file only its owner can read (tokens stay out of logs)."""
    assert stack.issuer is not None
    path = stack.workdir / "tokens" / f"{subject}.jwt"
    path.parent.mkdir(mode=0o700, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(stack.issuer.mint(subject, roles=roles) + "\n")
    return path
