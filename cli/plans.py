"""``attain plans apply|versions|rollback|show|diff``: publishing the plan book as versions (docs/plans.md,
"Publishing plans"). ``attain plans validate`` is in cli/main.py.

    attain plans apply PATH... --user U --reason "..." [--hr-export hr.csv] [--dry-run]
    attain plans versions
    attain plans rollback [--to VERSION] --user U --reason "..."
    attain plans show VERSION|current [--out DIR]
    attain plans diff OLD NEW --events F.jsonl [--period P] [--format table|json|csv]

The broker: ``--bootstrap`` or ``ATTAIN_KAFKA_BOOTSTRAP`` (and the other ``ATTAIN_KAFKA_*`` settings).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console
from rich.table import Table

from attain import cli_support
from attain.contracts.reference import Publication, ReferenceVersion
from attain.platform import topics

if TYPE_CHECKING:
    from attain.core.plans import PlanBook
    from attain.platform.reference import ReferenceState, ReferenceTopics
    from attain.platform.settings import KafkaSettings

console = Console()
T = TypeVar("T")
BROKER_HINT = "is it running? set --bootstrap or ATTAIN_KAFKA_BOOTSTRAP"


def register(plans_commands: Any) -> None:
    """Add apply, versions, rollback, show and diff to the ``attain plans`` subcommands."""
    apply = plans_commands.add_parser("apply", help="validate plan files and publish them as the current version")
    apply.add_argument("paths", type=Path, nargs="+", help="plan files or directories (the whole book)")
    _who(apply)
    apply.add_argument("--hr-export", type=Path, help="an HR export (CSV): joiners, leavers, manager changes")
    apply.add_argument("--dry-run", action="store_true", help="validate and show the version; publish nothing")
    _broker(apply)

    versions = plans_commands.add_parser("versions", help="the publication history, the current version marked")
    _broker(versions)
    cli_support.add_format(versions)

    rollback = plans_commands.add_parser("rollback", help="publish the previous (or a named) version again")
    rollback.add_argument("--to", metavar="VERSION", help="the version to make current (default: the previous)")
    _who(rollback)
    _broker(rollback)

    show = plans_commands.add_parser("show", help="a version's files, to read or to edit and apply")
    show.add_argument("version", help="a version id (rv-...) or current")
    show.add_argument("--out", type=Path, help="write the files into this directory (default: print them)")
    _broker(show)

    diff = plans_commands.add_parser("diff", help="whose pay changes between two plan books, from events")
    diff.add_argument("old", help="plan file or directory, version:ID or current")
    diff.add_argument("new", help="plan file or directory, version:ID or current")
    diff.add_argument("--events", type=Path, required=True, help="canonical change events, JSON lines")
    diff.add_argument("--period", help="only this period, e.g. 2026-Q1 (default: every period with credits)")
    diff.add_argument("--format", choices=("table", "json", "csv"), default="table")
    diff.add_argument("--locale", help="how amounts are grouped for the reader (default $ATTAIN_LOCALE, else en)")
    _broker(diff)


def _who(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", required=True, help="who publishes (kept in the audit record)")
    parser.add_argument("--reason", required=True, help="why (kept in the audit record)")


def _broker(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default $ATTAIN_KAFKA_BOOTSTRAP)")
    parser.add_argument("--timeout", type=float, default=15, help="seconds to wait for the broker (default 15)")
    parser.add_argument("--versions-topic", default=topics.REFERENCE_VERSIONS, help=argparse.SUPPRESS)
    parser.add_argument("--publications-topic", default=topics.REFERENCE_PUBLICATIONS, help=argparse.SUPPRESS)


def dispatch(args: argparse.Namespace) -> int:
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "apply": apply_plans, "versions": list_versions, "rollback": rollback, "show": show_version,
        "diff": diff_plans}
    return commands[args.plans_command](args)


# -- the broker --------------------------------------------------------------------------------------------------


def _kafka(args: argparse.Namespace) -> KafkaSettings:
    from attain.platform.settings import KafkaSettings

    settings = KafkaSettings() if args.bootstrap is None else KafkaSettings(bootstrap=args.bootstrap)
    cli_support.check_broker(settings.bootstrap, timeout=min(args.timeout, 3.0))
    return settings


def _names(args: argparse.Namespace) -> ReferenceTopics:
    from attain.platform.reference import ReferenceTopics

    return ReferenceTopics(args.versions_topic, args.publications_topic)


def _on_broker(kafka: KafkaSettings, timeout: float, work: Callable[[], T]) -> T:
    """``work`` against the broker; a broker that does not answer in time is one line naming it."""
    from confluent_kafka import KafkaException

    try:
        return work()
    except (TimeoutError, KafkaException, RuntimeError) as error:
        detail = (str(error).strip() or type(error).__name__).splitlines()[0]
        raise cli_support.CliError(f"the Kafka broker at {kafka.bootstrap} did not answer within {timeout:g}s "
                                   f"({detail})", BROKER_HINT) from error


def _state(args: argparse.Namespace) -> tuple[KafkaSettings, ReferenceState]:
    from attain.platform.reference import read_state

    kafka = _kafka(args)
    return kafka, _on_broker(kafka, args.timeout, lambda: read_state(kafka, _names(args), args.timeout))


def _current(state: ReferenceState) -> ReferenceVersion | None:
    try:
        return state.current
    except LookupError as error:
        raise cli_support.CliError(f"the current version cannot be read: {error}",
                                   "publish a good version with `attain plans apply` or `attain plans rollback --to`"
                                   ) from error


def _version(state: ReferenceState, name: str) -> ReferenceVersion:
    """``name`` (``current``, ``rv-...`` or ``version:rv-...``) in ``state``, or a clear error."""
    wanted = name.removeprefix("version:")
    if wanted == "current":
        current = _current(state)
        if current is None:
            raise cli_support.CliError("no version has been published yet", "publish one with `attain plans apply`")
        return current
    if wanted in state.versions:
        return state.versions[wanted]
    if wanted in state.rejected:
        raise cli_support.CliError(f"version {wanted}'s record fails verification: {state.rejected[wanted]}",
                                   "it cannot be used; publish the files again with `attain plans apply`")
    raise cli_support.CliError(f"unknown version {wanted!r}", "`attain plans versions` lists the published ones",
                               cli_support.USAGE)


# -- apply -------------------------------------------------------------------------------------------------------


def apply_plans(args: argparse.Namespace) -> int:
    version = build_version(args.paths, args.user, args.hr_export)
    print(f"version {version.version_id}  content hash {version.content_hash}  ({len(version.files)} file(s): "
          f"{', '.join(name for name, _ in version.files)})")
    if args.dry_run:
        print("dry run: valid, nothing published")
        return cli_support.OK
    kafka, state = _state(args)
    current = _current(state)
    if current is not None and current.version_id == version.version_id:
        last = state.publications[-1]
        print(f"already current (since {_when(last.published_at)}, by {last.published_by}): nothing published")
        return cli_support.OK
    return _publish(args, kafka, version)


def build_version(paths: Sequence[Path], user: str, hr_export: Path | None = None) -> ReferenceVersion:
    """The version the files (and the HR export) are, once every problem is ruled out (else a usage error,
    each problem on stderr with its file and line)."""
    from attain import hr_export as hr
    from attain.planfiles import (
        load_texts,
        plan_files,
        read_files,
        validate,
        validate_located,
        warnings,
        with_hr_overrides,
    )

    for path in [*paths, *([hr_export] if hr_export else [])]:
        if not path.exists():
            raise FileNotFoundError(2, "No such file or directory", str(path))
    if not plan_files(paths):
        raise cli_support.CliError(f"no plan files (*.yaml, *.yml) in {', '.join(map(str, paths))}: nothing "
                                   "published", "name the plan book's files or folder", cli_support.USAGE)
    problems = validate(paths)
    files = read_files(paths) if not problems else {}
    if hr_export is not None and not problems:
        files.pop(hr.HR_FILE, None)  # a new export replaces the version's earlier one
        org = hr.org_of(with_hr_overrides(load_texts(files)).data)
        try:
            entries = hr.read_export(hr_export.read_text(encoding="utf-8"), org, str(hr_export))
        except hr.HrExportError as error:
            problems = error.problems
        else:
            files[hr.HR_FILE] = hr.to_yaml(entries, hr_export.name)
            problems = validate_located(load_texts(files))
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        raise cli_support.CliError(f"{len(problems)} problem(s) (listed above): nothing published",
                                   "fix them and apply again", cli_support.USAGE)
    for caution in warnings(paths):
        print(caution, file=sys.stderr)
    source = ", ".join(str(path) for path in paths) + (f" + HR export {hr_export.name}" if hr_export else "")
    return ReferenceVersion.of_files(files, user, source=source)


def _publish(args: argparse.Namespace, kafka: KafkaSettings, version: ReferenceVersion) -> int:
    """Make ``version`` current as ``--user`` for ``--reason``, and say what happened."""
    from attain.platform.reference import publish

    _published(_on_broker(kafka, args.timeout, lambda: publish(kafka, version, args.user, args.reason,
                                                               _names(args), args.timeout)), version)
    return cli_support.OK


def _published(publication: Publication | None, version: ReferenceVersion) -> None:
    if publication is None:  # another admin made it current between our read and the publish
        print("already current: nothing published")
        return
    previous = publication.previous_version_id or "none"
    if publication.action.value == "PUBLISH":
        print(f"published a new version: {version.version_id} is current (previous: {previous})")
    else:
        print(f"rolled back to a version published before: {version.version_id} is current again "
              f"(previous: {previous})")


def _when(at: datetime) -> str:
    return f"{at:%Y-%m-%dT%H:%M:%S}Z"


# -- versions, rollback, show ---------------------------------------------------------------------------------


def list_versions(args: argparse.Namespace) -> int:
    _, state = _state(args)
    last = len(state.publications) - 1
    if args.format == "json":
        cli_support.emit_json({"publications": [
            {**cli_support.plain(p.to_avro()), "published_at": p.published_at.isoformat(), "current": i == last}
            for i, p in enumerate(state.publications)]})
        return cli_support.OK
    if not state.publications:
        print("no version has been published yet")
        return cli_support.OK
    table = Table(title="Plan book publications")
    for column in ("", "when (UTC)", "who", "action", "version", "previous", "reason"):
        table.add_column(column)
    for index, p in enumerate(state.publications):
        table.add_row("*" if index == last else "", _when(p.published_at), p.published_by, p.action.value,
                      p.version_id, p.previous_version_id or "", p.reason)
    cli_support.print_table(console, table)
    print("* current")
    return cli_support.OK


def rollback(args: argparse.Namespace) -> int:
    kafka, state = _state(args)
    current = _current(state)
    if current is None:
        raise cli_support.CliError("no version has been published yet: nothing to roll back",
                                   "publish one with `attain plans apply`")
    if args.to is None:
        previous = state.publications[-1].previous_version_id
        if previous is None:
            raise cli_support.CliError(f"{current.version_id} is the first version published: nothing before it",
                                       "name a version with --to, or apply corrected files")
        target = _version(state, previous)
    else:
        target = _version(state, args.to)
    if target.version_id == current.version_id:
        print(f"{target.version_id} is current already: nothing published")
        return cli_support.OK
    return _publish(args, kafka, target)


def show_version(args: argparse.Namespace) -> int:
    _, state = _state(args)
    version = _version(state, args.version)
    if args.out is None:
        print(f"# version {version.version_id}, created {_when(version.created_at)} by {version.created_by}"
              + (f" from {version.source}" if version.source else ""))
        for name, text in version.files:
            print(f"# --- {name} ---")
            print(text, end="" if text.endswith("\n") else "\n")
        return cli_support.OK
    write_files(version, args.out)
    print(f"wrote {len(version.files)} file(s) of {version.version_id} to {args.out}: edit them, then "
          f"`attain plans apply {args.out} --user YOU --reason \"...\"`")
    return cli_support.OK


def write_files(version: ReferenceVersion, out: Path) -> None:
    """The version's files under ``out``; refused when ``out`` holds other plan files (applying ``out`` later
    would publish them too) or a name would leave ``out``."""
    from attain.planfiles import plan_files

    names = dict(version.files)
    for name in names:
        pure = PurePosixPath(name)
        if pure.is_absolute() or ".." in pure.parts:
            raise cli_support.CliError(f"version {version.version_id} has a file named {name!r}, outside any folder",
                                       "it cannot be written; apply the files again from their source")
    if out.exists():
        others = [str(f) for f in plan_files([out]) if f.relative_to(out).as_posix() not in names]
        if others:
            raise cli_support.CliError(f"{out} already holds other plan files ({', '.join(others[:3])})",
                                       "choose an empty or new directory", cli_support.USAGE)
    for name, text in names.items():
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


# -- diff --------------------------------------------------------------------------------------------------------


def diff_plans(args: argparse.Namespace) -> int:
    from attain import plan_diff, simulate
    from attain.core.periods import period_type_of
    from attain.format import LocaleError, reader_locale

    if not args.events.exists():
        raise FileNotFoundError(2, "No such file or directory", str(args.events))
    if args.period is not None:
        period_type_of(args.period)
    try:
        locale = reader_locale(args.locale)
    except LocaleError as error:
        raise cli_support.CliError(str(error), "--locale or ATTAIN_LOCALE", cli_support.USAGE) from error
    state: list[ReferenceState] = []  # read once, if either side names the broker
    old, new = _book(args, args.old, state), _book(args, args.new, state)
    try:
        changes = simulate.read_changes(args.events)
    except ValueError as error:
        raise cli_support.CliError(f"bad event: {error}", "one canonical change event per line (docs/events.md)",
                                   cli_support.USAGE) from error
    rows = plan_diff.diff(old, new, changes, args.period)
    if args.format == "json":
        cli_support.emit_json(plan_diff.to_json(args.old, args.new, args.period, rows))
    elif args.format == "csv":
        print(plan_diff.to_csv(rows), end="")
    else:
        table = Table(title=f"Pay changes {args.old} -> {args.new}" + (f", {args.period}" if args.period else ""))
        for column in plan_diff.COLUMNS:
            table.add_column(column, justify="right" if column.endswith(("earned", "delta")) else "left")
        for row in plan_diff.table_rows(rows, locale):
            table.add_row(*row)
        cli_support.print_table(console, table)
        print(f"{len(rows)} rep period(s) change" if rows else "no rep's pay changes")
    return cli_support.OK


def _book(args: argparse.Namespace, name: str, state: list[ReferenceState]) -> PlanBook:
    from attain.planfiles import load_book, load_book_texts, validate

    if name == "current" or name.startswith("version:"):
        if not state:
            state.append(_state(args)[1])
        return load_book_texts(_version(state[0], name).file_map)
    path = Path(name)
    if not path.exists():
        raise FileNotFoundError(2, "No such file or directory", name)
    problems = validate([path])
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        raise cli_support.CliError(f"{len(problems)} problem(s) in {name} (listed above)",
                                   f"`attain plans validate {name}` lists them again", cli_support.USAGE)
    return load_book([path])
