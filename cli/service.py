"""``attain-service NAME [ARGS...]``: the container image's entrypoint, one image for every service.

    attain-service calculator          # python -m services.calculator
    attain-service ledger migrate      # python -m services.ledger migrate (the migration Job)
    attain-service ingest-salesforce   # python -m services.ingest.salesforce

It replaces itself (``exec``) with ``python -P -m services.<module> ARGS...``, so the service is
the container's process and gets the kubelet's SIGTERM itself (``run_service`` stops in order on
it). ``-P`` keeps the working directory off ``sys.path``: only the installed packages are imported.
An unknown name exits 2 and lists the names; ``attain-service --list`` prints them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

# name -> module: every package under services/ with a __main__.py (tests/unit/test_image.py checks both ways)
SERVICES: dict[str, str] = {
    "calculator": "services.calculator",
    "ingest": "services.ingest",
    "ingest-salesforce": "services.ingest.salesforce",
    "issuer": "services.issuer",
    "ledger": "services.ledger",
    "notifier": "services.notifier",
    "portal": "services.portal",
}
USAGE = f"usage: attain-service {{{','.join(SERVICES)}}} [ARGS...]"


def command_for(argv: Sequence[str]) -> list[str]:
    """The command line that runs the service ``argv`` names; ValueError (with the names) for any other."""
    if not argv or argv[0] not in SERVICES:
        got = f"unknown service {argv[0]!r}" if argv else "no service named"
        raise ValueError(f"{got}; the services are: {', '.join(SERVICES)}")
    return [sys.executable, "-P", "-m", SERVICES[argv[0]], *argv[1:]]


def main(argv: Sequence[str] | None = None) -> None:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments in (["--list"], ["-h"], ["--help"]):
        print(USAGE if arguments != ["--list"] else "\n".join(SERVICES))
        return
    try:
        command = command_for(arguments)
    except ValueError as error:
        print(f"{USAGE}\nattain-service: {error}", file=sys.stderr)
        sys.exit(2)
    sys.stdout.flush()
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
