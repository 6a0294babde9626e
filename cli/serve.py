"""``attain serve --data DIR [--plans PATH] [--port NAME=N ...]``: the whole pipeline on one machine, durable.

Everything is kept in DIR (attain/embedded/durable.py says what and where); a second start resumes.
No demo is replayed: it serves until Ctrl-C (or SIGTERM), then stops every process it started.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from attain import cli_support

console = Console()


def register(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the whole pipeline on this machine, kept in --data across restarts")
    serve.add_argument("--data", type=Path, required=True,
                       help="the folder that keeps everything (Kafka's log, PostgreSQL's data, keys, secrets, logs)")
    serve.add_argument("--plans", type=Path,
                       help="publish these plan files as the current version (needed on the first start only)")
    serve.add_argument("--port", action="append", default=[], metavar="NAME=N", type=_port,
                       help="a port other than the usual or the kept one (kept for later starts); names: "
                            "kafka, kafka-controller, ingest, calculator, ledger, notifier, notifier-grpc, issuer")
    serve.add_argument("--timeout", type=float, default=180, help="seconds each part may take to start")


def _port(text: str) -> tuple[str, int]:
    name, _, number = text.partition("=")
    if not number.isdigit() or not 0 < int(number) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=PORT (e.g. ledger=9083)")
    return name.strip(), int(number)


def serve(args: argparse.Namespace) -> int:
    from attain.embedded.durable import DurableStack, ServeError

    durable = DurableStack(data_dir=args.data, plans=args.plans, port_overrides=dict(args.port),
                           notify=lambda message: console.print(f"[yellow]{message}[/]"), timeout=args.timeout)
    # While starting, Ctrl-C or SIGTERM interrupts the start; once serving, it asks the loop below to stop.
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    stopping = threading.Event()
    try:
        with console.status(f"starting Apache Kafka, PostgreSQL and the services on {args.data}..."):
            started = time.monotonic()
            try:
                durable.start()
            except ServeError as error:
                raise cli_support.CliError(str(error), error.hint) from None
            if args.plans is not None:
                load_org(durable.plans_dir, _url(durable))
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signal_number, lambda *_: stopping.set())
        durable.announce()
        for note in durable.notes:
            console.print(f"[yellow]{note}[/]")
        console.print(f"[green]serving[/] in {time.monotonic() - started:.1f}s, everything kept in {durable.data_dir}")
        console.print(describe(durable.addresses()), highlight=False, soft_wrap=True)
        console.print("[bold]Ctrl-C to stop[/] (a later `attain serve --data "
                      f"{args.data}` goes on where this one stopped).")
        while not stopping.wait(0.5):
            pass
        console.print("\nstopping...")
        return 0
    except KeyboardInterrupt:
        console.print("\ninterrupted while starting: stopping...")
        return 130
    finally:
        started_any = durable.kafka is not None
        durable.stop()
        if started_any:
            console.print("stopped")


def load_org(plans: Path, url: str) -> None:
    """The participants of the plan files (regions, managers, HR ids) into the ledger, for its access policy."""
    import yaml

    from attain.planfiles import plan_files
    from services.ledger import commands as ledger_commands

    for path in plan_files([plans]):
        content = yaml.safe_load(path.read_text())
        if isinstance(content, dict) and content.get("participants"):
            ledger_commands.load_org(argparse.Namespace(path=path, database_url=url, format="text"))


def _url(durable: Any) -> str:
    from attain.embedded.durable import database_url

    return database_url(durable.addresses())


def describe(addresses: dict[str, Any]) -> str:
    """The addresses and where the credentials are, as the operator reads them."""
    services = addresses["services"]
    grpc = addresses["notifier_grpc"]
    lines = [f"  ingest      {services['ingest']}/v1/events  (client attain-ingest-client, scope ingest:write)",
             f"  ledger API  {services['ledger']}/v1/...",
             f"  notifier    gRPC {grpc}  (attain watch REP --target {grpc})",
             f"  issuer      {addresses['issuer']}  (token endpoint {addresses['issuer']}/token)"]
    known = {"ingest", "ledger", "notifier"}
    lines += [f"  {name:<11} {url}" for name, url in services.items() if name not in known]
    postgres = addresses["postgres"]
    lines += [f"  Kafka       {addresses['kafka']}",
              f"  PostgreSQL  database {postgres['database']}, user {postgres['user']}, unix socket in "
              f"{postgres['socket_dir']}, password in {postgres['password_file']}",
              f"Credentials: sign-in users and client secrets in {addresses['credentials']}; the webhook secret "
              f"in {addresses['secrets']}. Every service has /health/ready and /metrics. "
              f"All of this is in {addresses['data']}/running.json."]
    return "\n".join(lines)
