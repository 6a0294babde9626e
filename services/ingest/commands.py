"""Ingest's ``attain`` commands.

    attain ingest file F.jsonl # publish canonical change events from a file (through ingest)
    attain ingest backfill F.csv|F.jsonl [--mapping M --object Opportunity]  # history, same validation
    attain dlq list|show P:O|replay  # inspect and re-drive dead letters (replay: through ingest)
      ingest's doors need a client-credentials token: --token (or $ATTAIN_TOKEN), or --client-id with
      --client-secret-file and --issuer (or $ATTAIN_AUTH_ISSUER); ingest's address: --url or $ATTAIN_INGEST_URL
"""

from __future__ import annotations

import argparse
import base64
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from rich.console import Console

from attain import cli_support

if TYPE_CHECKING:
    from services.ingest.dead_letters import StoredLetter

console = Console()


def register(commands: Any) -> None:
    """Add ``ingest`` and ``dlq`` to the CLI's subcommands."""
    ingest = commands.add_parser("ingest", help="ingest tools")
    ingest_commands = ingest.add_subparsers(dest="ingest_command", required=True)
    ingest_file = ingest_commands.add_parser("file", help="publish events from a JSONL file (through ingest)")
    ingest_file.add_argument("path", type=Path)
    _ingest_credentials(ingest_file)
    backfill = ingest_commands.add_parser("backfill", help="publish history from a CSV or JSONL file")
    backfill.add_argument("path", type=Path)
    _ingest_credentials(backfill)
    backfill.add_argument("--mapping", type=Path, default=None,
                          help="Salesforce field mapping, for a Salesforce report/Bulk API export")
    backfill.add_argument("--object", default=None, help="the Salesforce object of the export, e.g. Opportunity")

    dlq = commands.add_parser("dlq", help="inspect and re-drive dead letters")
    dlq.add_argument("--topic", default="crm.changes.dlq")
    dlq.add_argument("--bootstrap", default=None, help="Kafka bootstrap servers")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True)
    dlq_list = dlq_commands.add_parser("list", help="one line per dead letter")
    dlq_list.add_argument("--error-code", default=None)
    dlq_list.add_argument("--source-prefix", default=None)
    dlq_list.add_argument("--limit", type=int, default=200)
    cli_support.add_format(dlq_list, ("text", "json"), "text")
    dlq_show = dlq_commands.add_parser("show", help="one dead letter in full")
    dlq_show.add_argument("position", help="PARTITION:OFFSET as printed by list")
    cli_support.add_format(dlq_show, ("text", "json"), "text")
    dlq_replay = dlq_commands.add_parser("replay", help="re-run dead letters through validation after a fix")
    dlq_replay.add_argument("positions", nargs="*", help="PARTITION:OFFSET ... (default: all selected)")
    dlq_replay.add_argument("--error-code", default=None)
    dlq_replay.add_argument("--source-prefix", default=None)
    dlq_replay.add_argument("--all", action="store_true", help="replay every dead letter on the topic")
    dlq_replay.add_argument("--dry-run", action="store_true")
    _ingest_credentials(dlq_replay, "dlq:replay")



def dispatch(args: argparse.Namespace) -> int | None:
    """Run the command if it is one of ours; None otherwise."""
    if args.command == "ingest" and args.ingest_command == "file":
        return ingest_backfill(args.path, args.url, _token(args), None, None)
    if args.command == "ingest" and args.ingest_command == "backfill":
        return ingest_backfill(args.path, args.url, _token(args), args.mapping, args.object)
    if args.command == "dlq":
        return dlq_command(args)
    return None


def _ingest_credentials(parser: argparse.ArgumentParser, scope: str = "ingest:write") -> None:
    from services.ingest.client import default_url

    parser.add_argument("--url", default=default_url(), help="ingest's address (default: $ATTAIN_INGEST_URL or "
                        "%(default)s)")
    parser.add_argument("--token", default=None,
                        help=f"client-credentials token with the {scope} scope (default: $ATTAIN_TOKEN)")
    parser.add_argument("--client-id", default=None, help="fetch a token for this client from --issuer")
    parser.add_argument("--client-secret-file", type=Path, default=None, help="the client's secret, in a file")
    parser.add_argument("--issuer", default=None, help="OpenID issuer URL (default: $ATTAIN_AUTH_ISSUER)")


def _token(args: argparse.Namespace) -> str:
    from services.ingest.client import CredentialError, resolve_token

    try:  # the environment is read here, at call time (tests and wrappers set it after import)
        return resolve_token(args.token or (None if args.client_id else os.environ.get("ATTAIN_TOKEN")),
                             args.client_id, args.client_secret_file,
                             args.issuer or os.environ.get("ATTAIN_AUTH_ISSUER"))
    except CredentialError as error:
        raise cli_support.CliError(str(error), "pass --token, set ATTAIN_TOKEN, or give --client-id with "
                                   "--client-secret-file and --issuer", cli_support.USAGE) from None



def _kafka(bootstrap: str | None) -> Any:
    """Kafka settings (``--bootstrap`` over ``ATTAIN_KAFKA_*``), once a bootstrap server answers."""
    from attain.platform.settings import KafkaSettings

    settings = KafkaSettings() if bootstrap is None else KafkaSettings(bootstrap=bootstrap)
    cli_support.check_broker(settings.bootstrap)
    return settings


def ingest_backfill(path: Path, url: str, token: str, mapping_path: Path | None, salesforce_object: str | None,
                    chunk: int = 1000) -> int:
    """CSV or JSONL history through ingest's ``/v1/backfill`` door (same validation and normalisation as
    every door); rejected rows are dead-lettered with their line number."""
    from services.ingest.backfill import csv_rows, jsonl_rows
    from services.ingest.client import IngestClient
    from services.ingest.salesforce.mapping import load_mapping

    if path.suffix.lower() not in (".csv", ".jsonl"):
        console.print(f"[red]{path}: expected a .csv or .jsonl file")
        return 2
    if (mapping_path is None) != (salesforce_object is None):
        console.print("[red]--mapping and --object go together (a Salesforce export)")
        return 2
    mapping = load_mapping(mapping_path) if mapping_path is not None else None
    data = path.read_bytes()
    rows = list(csv_rows(data.decode("utf-8-sig"), mapping, salesforce_object) if path.suffix.lower() == ".csv"
                else jsonl_rows(data))
    client = IngestClient(url, token)
    accepted = rejected = 0
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        try:
            response = client.post("/v1/backfill", {"file": path.name, "rows": [
                {"line": row.line, "item": row.item, "original_b64": base64.b64encode(row.original).decode()}
                for row in part]})
        except httpx.HTTPError as error:
            console.print(f"[red]cannot reach ingest at {url}: {error}", highlight=False)
            return 1
        if response.status_code not in (202, 207, 422):
            console.print(f"[red]ingest refused the backfill ({response.status_code}): {response.text[:500]}",
                          highlight=False, markup=False)
            console.print(f"{accepted} accepted, {rejected} rejected before that")
            return 1
        for row, result in zip(part, response.json()["results"], strict=True):
            if result["status"] == 202:
                accepted += 1
            else:
                rejected += 1
                console.print(f"{path}:{row.line}: {result['error']} (dead-lettered)",
                              soft_wrap=True, markup=False, highlight=False)
    console.print(f"{accepted} accepted, {rejected} rejected")
    return cli_support.OK if rejected == 0 else cli_support.PARTLY_REJECTED


def dlq_command(args: argparse.Namespace) -> int:
    from services.ingest.dead_letters import printable, read_dead_letters, select

    kafka = _kafka(args.bootstrap)
    letters = list(read_dead_letters(kafka, args.topic))
    if args.dlq_command == "list":
        chosen = select(letters, error_code=args.error_code, source_prefix=args.source_prefix)
        if args.format == "json":
            cli_support.emit_json({"topic": args.topic, "total": len(letters), "selected": len(chosen),
                                   "dead_letters": [_letter_json(letter, full=False)
                                                    for letter in chosen[-args.limit:]]})
            return 0
        # One tab-separated line per letter (grep- and cut-friendly): position, time, code, source, reason.
        print(f"# {args.topic}: {len(chosen)} of {len(letters)} dead letters")
        for letter in chosen[-args.limit:]:
            dead = letter.letter
            print("\t".join((letter.position, _iso(dead.rejected_at), dead.error_code, dead.source,
                             dead.reason[:300].replace("\n", " "))))
        return 0
    if args.dlq_command == "show":
        found = select(letters, positions=[args.position])
        if not found:
            raise cli_support.CliError(f"no dead letter at {args.position} on {args.topic}",
                                       "`attain dlq list` prints the positions (PARTITION:OFFSET)")
        dead = found[0].letter
        if args.format == "json":
            cli_support.emit_json(_letter_json(found[0], full=True))
            return 0
        for name, value in (("error_code", dead.error_code), ("reason", dead.reason), ("source", dead.source),
                            ("service", dead.service)):
            console.print(f"[bold]{name}:[/] {value}", highlight=False)
        console.print(f"[bold]rejected_at:[/] {_iso(dead.rejected_at)}")
        console.print(f"[bold]original ({len(dead.original)} bytes):[/]")
        console.print(printable(dead.original), markup=False, highlight=False, soft_wrap=True)
        return 0
    return _dlq_replay(args, letters)


def _dlq_replay(args: argparse.Namespace, letters: list[StoredLetter]) -> int:
    """The dead letters chosen here (read-only), re-driven by ingest (``/v1/dlq/replay``, scope dlq:replay)."""
    from services.ingest.client import ReplayRefused, request_replay
    from services.ingest.dead_letters import select

    if not (args.positions or args.error_code or args.source_prefix or args.all):
        console.print("[red]say what to replay: PARTITION:OFFSET ..., --error-code, --source-prefix or --all")
        return 2
    chosen = select(letters, error_code=args.error_code, source_prefix=args.source_prefix,
                    positions=args.positions)
    if args.dry_run:
        console.print(f"would replay {len(chosen)} dead letters")
        return 0
    if not chosen:
        console.print("0 replayed into crm.changes, 0 rejected again, 0 skipped")
        return 0
    try:
        outcome = request_replay(args.url, _token(args), args.topic, [letter.position for letter in chosen])
    except httpx.HTTPError as error:
        console.print(f"[red]cannot reach ingest at {args.url}: {error}", highlight=False)
        return 1
    except ReplayRefused as refused:
        console.print(f"[red]ingest refused the replay ({refused.status}): {refused}", highlight=False, markup=False)
        return 1
    for skipped in outcome["skipped"]:
        console.print(f"{skipped['position']}: skipped: {skipped['reason']}", soft_wrap=True, markup=False)
    for result in outcome["results"]:
        if result["status"] != 202:
            console.print(f"{result['position']}: still rejected: {result['error']} (dead-lettered again)",
                          soft_wrap=True, markup=False)
    console.print(f"{outcome['replayed']} replayed into crm.changes, {outcome['rejected']} rejected again, "
                  f"{len(outcome['skipped'])} skipped")
    return cli_support.OK if not outcome["rejected"] and not outcome["skipped"] else cli_support.PARTLY_REJECTED


def _letter_json(stored: StoredLetter, full: bool) -> dict[str, Any]:
    dead = stored.letter
    data = {"position": stored.position, "rejected_at": _iso(dead.rejected_at),
            "error_code": dead.error_code, "source": dead.source, "reason": dead.reason}
    if full:
        from services.ingest.dead_letters import printable

        data["service"] = dead.service
        data["original"] = printable(dead.original)
    return data


def _iso(millis: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(millis / 1000, UTC).isoformat()
