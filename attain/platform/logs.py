"""JSON logs, one line per event, with correlation ids passed as ``extra``.

    log.info("snapshot published", extra={"rep_id": rep_id, "event_id": event_id})
"""

from __future__ import annotations

import logging
import sys
from types import TracebackType

from pythonjsonlogger.json import JsonFormatter


def configure_logging(service: str, level: str = "INFO") -> logging.Logger:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"service": service},
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Frameworks log a lot at INFO: shown only when the service runs at DEBUG.
    framework_level = logging.INFO if root.level <= logging.DEBUG else max(logging.WARNING, root.level)
    for noisy in ("aiokafka", "faust", "mode", "kafka", "aiohttp.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(framework_level)
    logger = logging.getLogger(f"attain.{service}")

    def log_uncaught(kind: type[BaseException], error: BaseException, traceback: TracebackType | None) -> None:
        # A crash is one JSON line too (its traceback in the record's exc_info), not Python's plain text.
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, error, traceback)
            return
        logger.critical("exiting on an uncaught exception", exc_info=(kind, error, traceback))

    sys.excepthook = log_uncaught
    return logger
