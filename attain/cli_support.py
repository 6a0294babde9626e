"""What every ``attain`` command shares: exit codes, the one error path, JSON output and tables.

It is part of the library (service-free) because both the ``cli`` package and each service's ``commands.py``
use it, and services may not import ``cli``.

Exit codes (docs/cli.md):

    0  ok
    1  failure: the command could not do its work (an unreachable broker, database or notifier, a refusal)
    2  usage: what was asked is wrong (a bad argument, a missing file, a bad period name, an invalid plan)
    3  differences found (recompute, lineage comparison)
    4  partly rejected (some events were dead-lettered; the others went through)

A user error is one line on stderr: what went wrong, where, and what to do. ``--debug`` or
``ATTAIN_DEBUG=1`` adds the Python traceback.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import socket
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

OK = 0
FAILURE = 1
USAGE = 2
DIFFERENCES = 3
PARTLY_REJECTED = 4

EXIT_CODES_HELP = """exit codes:
  0  ok
  1  failure (unreachable broker, database or notifier; a refused action)
  2  usage (bad argument, missing file, bad period name, invalid plan)
  3  differences found (recompute, lineage comparison)
  4  partly rejected (some events dead-lettered, the rest accepted)

--debug (or ATTAIN_DEBUG=1) shows the Python traceback of an error. More: docs/cli.md."""


class CliError(Exception):
    """A problem the user can fix: ``what`` happened, ``hint`` says what to do, ``code`` is the exit code."""

    def __init__(self, what: str, hint: str = "", code: int = FAILURE) -> None:
        super().__init__(what)
        self.what = what
        self.hint = hint
        self.code = code

    def line(self) -> str:
        return f"attain: error: {self.what}" + (f"; {self.hint}" if self.hint else "")


def debug_requested(argv: list[str]) -> bool:
    """``--debug`` anywhere on the command line (removed from ``argv``) or ``ATTAIN_DEBUG`` set to a true value."""
    found = "--debug" in argv
    while "--debug" in argv:
        argv.remove("--debug")
    return found or os.environ.get("ATTAIN_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def run_guarded(command: Callable[[], int | None], debug: bool) -> int:
    """Run ``command``; turn a known error into one line on stderr and its exit code."""
    try:
        return command() or OK
    except KeyboardInterrupt:
        print("attain: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the one place errors become exit codes
        known = describe(error)
        if debug:
            traceback.print_exc()
        if known is None:
            known = CliError(f"unexpected {type(error).__name__}: {_first_line(error)}",
                             "this may be a bug in attain: run again with --debug and report the traceback")
        print(known.line(), file=sys.stderr)
        return known.code


def describe(error: BaseException) -> CliError | None:
    """The user-facing line for an exception attain knows; None for a bug."""
    if isinstance(error, CliError):
        return error
    for kind, explain in _explainers():
        if isinstance(error, kind):
            return explain(error)
    return None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _file_error(error: OSError) -> CliError:
    where = error.filename if error.filename is not None else "?"
    reason = error.strerror or _first_line(error)
    if isinstance(error, FileNotFoundError):
        return CliError(f"{where}: no such file or directory", "check the path", USAGE)
    if isinstance(error, IsADirectoryError):
        return CliError(f"{where}: is a directory, a file was expected", "name a file", USAGE)
    if isinstance(error, PermissionError):
        return CliError(f"{where}: permission denied", "check the file's permissions", USAGE)
    return CliError(f"{where}: {reason}", "check the path", USAGE)


def _plan_error(error: Any) -> CliError:
    problems = getattr(error, "problems", [])
    first = str(problems[0]) if problems else _first_line(error)
    more = f" and {len(problems) - 1} more problem(s)" if len(problems) > 1 else ""
    return CliError(f"invalid plan book: {first}{more}", "run `attain plans validate PATH` for every problem", USAGE)


def _value_error(kind: str, hint: str) -> Callable[[BaseException], CliError]:
    return lambda error: CliError(f"{kind}: {_first_line(error)}", hint, USAGE)


def _database_error(error: Any) -> CliError:
    detail = _first_line(getattr(error, "orig", None) or error)
    return CliError(f"cannot reach the ledger database: {detail}",
                    "is PostgreSQL running? set --database-url or ATTAIN_LEDGER_DATABASE_URL")


def _kafka_error(error: Any) -> CliError:
    return CliError(f"Kafka: {_first_line(error)}",
                    "is the broker running? set --bootstrap or ATTAIN_KAFKA_BOOTSTRAP")


def _grpc_error(error: Any) -> CliError:
    import grpc

    code = error.code() if callable(getattr(error, "code", None)) else None
    detail = error.details() if callable(getattr(error, "details", None)) else _first_line(error)
    if code == grpc.StatusCode.UNAVAILABLE:
        return CliError(f"cannot reach the notifier: {detail}", "is it running? check --target")
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return CliError(f"the notifier refused the token: {detail}", "pass a valid --token or set ATTAIN_TOKEN")
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return CliError(f"the notifier refused: {detail}", "this token may not watch this rep")
    name = code.name if code is not None else "error"
    return CliError(f"the notifier answered {name}: {detail}", "run again with --debug for details")


def _http_error(error: Any) -> CliError:
    request = getattr(error, "_request", None)
    where = f" {request.url}" if request is not None else ""
    return CliError(f"cannot reach{where}: {_first_line(error)}", "is the service running? check its URL")


def _http_status(error: Any) -> CliError:
    status = error.response.status_code
    hint = {401: "the service wants a valid token: check the token or its ATTAIN_* setting",
            403: "this token may not do that: ask for a token with the needed role or scope",
            404: "check the names in the command", 409: "the resource is not in a state that allows this",
            429: "rate limited: wait and retry"}.get(status, "run again with --debug for the details")
    detail = error.response.text.strip().splitlines()[0][:300] if error.response.text.strip() else ""
    return CliError(f"{error.request.method} {error.request.url} answered {status}"
                    + (f": {detail}" if detail else ""), hint)


def _explainers() -> list[tuple[type[BaseException] | tuple[type[BaseException], ...], Callable[[Any], CliError]]]:
    """Known exceptions, most specific first; optional libraries are looked up lazily."""
    from attain.core.money import MoneyError
    from attain.core.periods import PeriodError as PeriodNameError
    from attain.core.plan_parser import PlanError
    from attain.ledger.periods import PeriodError

    found: list[tuple[Any, Callable[[Any], CliError]]] = [
        (PlanError, _plan_error),
        (PeriodNameError, lambda e: CliError(f"bad period: {_first_line(e)}", code=USAGE)),
        (PeriodError, lambda e: CliError(f"period: {_first_line(e)}", "see `attain ledger period show SCOPE PERIOD`")),
        (MoneyError, _value_error("bad amount", "amounts are decimal text with an ISO 4217 currency")),
    ]
    optional: list[tuple[str, str, Callable[[Any], CliError]]] = [  # (module, exception, explainer)
        ("attain.ledger.approvals", "ApprovalError",
         lambda e: CliError(f"approval refused: {_first_line(e)}", "see `attain ledger period show SCOPE PERIOD`")),
        ("attain.ledger.lineage", "LineageError",
         lambda e: CliError(f"lineage: {_first_line(e)}", "see docs/ledger.md (Lineage)", DIFFERENCES)),
        ("sqlalchemy.exc", "OperationalError", _database_error),
        ("sqlalchemy.exc", "ArgumentError",
         lambda e: CliError(f"bad database URL: {_first_line(e)}", "e.g. postgresql+psycopg://user@host:5432/attain",
                            USAGE)),
        ("psycopg", "OperationalError", _database_error),
        ("confluent_kafka", "KafkaException", _kafka_error),
        ("grpc", "RpcError", _grpc_error),
        ("httpx", "TransportError", _http_error),
        ("httpx", "HTTPStatusError", _http_status),
        ("yaml", "YAMLError", _value_error("bad YAML", "fix the file's syntax")),
        ("pydantic", "ValidationError", _settings_error),
    ]
    for module, name, explain in optional:
        with contextlib.suppress(ImportError):  # an optional library that is not installed explains nothing
            found.append((getattr(importlib.import_module(module), name), explain))
    found.append((json.JSONDecodeError, _value_error("bad JSON", "one JSON object per line")))
    found.append((UnicodeDecodeError, _value_error("not UTF-8 text", "save the file as UTF-8")))
    found.append((OSError, _file_error))
    found.append((ValueError, _value_error("invalid input", "run again with --debug for the details")))
    return found


def _settings_error(error: Any) -> CliError:
    """Invalid ``ATTAIN_*`` settings: the fields and reasons, never the values (they may be secrets)."""
    problems = [f"{'.'.join(str(part) for part in e.get('loc', ())) or '?'}: {e.get('msg', '')}"
                for e in error.errors(include_input=False)]
    return CliError(f"invalid settings: {'; '.join(problems) or _first_line(error)}",
                    "check the ATTAIN_* environment variables (docs/cli.md)", USAGE)


def check_broker(bootstrap: str, timeout: float = 3.0) -> None:
    """Fail fast with a clear line when no bootstrap server answers (librdkafka would retry for its whole timeout)."""
    tried = []
    for server in (s.strip() for s in bootstrap.split(",") if s.strip()):
        host, _, port = server.rpartition(":")
        host = host.strip("[]") or "localhost"
        try:
            with socket.create_connection((host, int(port or 9092)), timeout=timeout):
                return
        except (OSError, ValueError) as error:
            tried.append(f"{server} ({getattr(error, 'strerror', None) or error})")
    raise CliError(f"cannot reach the Kafka broker at {', '.join(tried) or repr(bootstrap)}",
                   "is it running? set --bootstrap or ATTAIN_KAFKA_BOOTSTRAP")


# -- output ----------------------------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """JSON-ready data: money and every Decimal as text (never a float), dates as ISO 8601."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if is_dataclass(value) and not isinstance(value, type):
        return plain(asdict(value))
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [plain(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, float):  # pragma: no cover - attain keeps money in Decimal
        return repr(value)
    return value


def emit_json(data: Any) -> None:
    print(json.dumps(plain(data), indent=2, ensure_ascii=False))


def report_check(console: Console, findings: Sequence[Any], as_json: dict[str, Any] | None, lines: Iterable[str],
                 failed: str, passed: str, line_style: str | None = None) -> int:
    """The outcome of a check (plan validation, the audit chain): the ``as_json`` document when given, else
    ``lines`` (one per finding, printed as they are) and then ``failed`` (red) or ``passed`` (markup);
    exit 1 when there are findings, 0 otherwise."""
    if as_json is not None:
        emit_json(as_json)
    else:
        for line in lines:
            console.print(line, style=line_style, markup=False, highlight=False, soft_wrap=True)
        console.print(f"[red]{failed}[/]" if findings else passed, highlight=False)
    return 1 if findings else 0


def add_format(parser: Any, choices: Sequence[str] = ("table", "json"), default: str = "table") -> None:
    parser.add_argument("--format", choices=tuple(choices), default=default,
                        help="json: machine-readable, every amount as decimal text")


def print_table(console: Console, table: Table) -> None:
    """Print ``table`` without ever cutting a word: no ``…``, no amount split or cropped.

    A table that fits is printed as it is. Otherwise every column gets a width of its own: a column of
    unbreakable cells (amounts, ids) keeps its widest cell, the others wrap at spaces, never narrower than their
    longest word; when even that does not fit the terminal, the table is printed wider than the terminal.
    """
    wide = console.options.update(max_width=100_000)
    natural = Measurement.get(console, wide, table).maximum
    if natural <= console.width:
        console.print(table)
        return
    minimums, maximums, unbreakable = [], [], []
    for column in table.columns:
        cells = [Measurement.get(console, wide, cell) for cell in column.cells]
        header = Measurement.get(console, wide, column.header)
        minimums.append(max([header.minimum, *(c.minimum for c in cells)]))
        maximums.append(max([header.minimum, *(c.maximum for c in cells)]))
        unbreakable.append(all(c.minimum == c.maximum for c in cells))
    extra = natural - sum(max(header, cell) for header, cell in zip(
        [Measurement.get(console, wide, column.header).maximum for column in table.columns],
        [max([0, *(Measurement.get(console, wide, cell).maximum for cell in column.cells)])
         for column in table.columns], strict=True))  # borders and padding
    widths = [maximum if whole else minimum for minimum, maximum, whole in zip(minimums, maximums, unbreakable,
                                                                                  strict=True)]
    spare = console.width - extra - sum(widths)
    growth = [0 if whole else maximum - width for maximum, width, whole in zip(maximums, widths, unbreakable,
                                                                                 strict=True)]
    if spare > 0 and sum(growth):
        share = [spare * grow // sum(growth) for grow in growth]
        widths = [width + min(part, grow) for width, part, grow in zip(widths, share, growth, strict=True)]
    for column, width in zip(table.columns, widths, strict=True):
        column.width = width
        column.overflow = "fold"
    total = sum(widths) + extra
    if total <= console.width:
        console.print(table)
        return
    # Rich caps a print's width at the console's: print on a wider console writing to the same stream.
    wider = Console(file=console.file, width=total, force_terminal=console.is_terminal,
                    color_system=console.color_system, no_color=console.no_color,  # type: ignore[arg-type]
                    highlight=False)
    wider.print(table, crop=False)
