"""Run a service with a fault hook installed (tests only): ``python -m tests.integration.faulty_service
POINT SECONDS MODULE [ARGS...]`` sleeps ``SECONDS`` each time the service reaches fault point ``POINT``
(``attain/platform/faults.py``), then runs ``python -m MODULE ARGS...`` in this process. The fault tests
use it to SIGKILL a service inside a window that is otherwise too short to hit."""

from __future__ import annotations

import runpy
import sys
import time

from attain.platform import faults


def main(argv: list[str]) -> None:
    if len(argv) < 3:
        raise SystemExit("usage: python -m tests.integration.faulty_service POINT SECONDS MODULE [ARGS...]")
    point, seconds, module, *args = argv
    pause = float(seconds)
    faults.install(point, lambda: time.sleep(pause))
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
