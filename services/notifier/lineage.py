"""Push only what the ledger books: snapshots of the lineage it has adopted.

A calculator rebuilt from nothing publishes snapshots whose totals are only as
complete as what was re-ingested; the ledger quarantines them, and reps must not
be told their pay dropped. The gate asks the ledger's ``/ops/lineage`` every few
seconds (``ATTAIN_NOTIFIER_LEDGER_URL``); without it, or before the ledger has
adopted a lineage, every snapshot passes.
"""

from __future__ import annotations

import logging
import threading

import httpx

log = logging.getLogger("attain.notifier")


class LineageGate:
    def __init__(self, ledger_url: str | None, interval: float = 3.0) -> None:
        self._url = ledger_url.rstrip("/") + "/ops/lineage" if ledger_url else None
        self._interval = interval
        self.adopted: str | None = None

    def allows(self, lineage: str) -> bool:
        """
        >>> gate = LineageGate(None)
        >>> gate.allows("k/t/e2")
        True
        >>> gate.adopted = "k/t/e1"
        >>> gate.allows("k/t/e1"), gate.allows("k/t/e2")
        (True, False)
        """
        return self.adopted is None or lineage == self.adopted

    def refresh(self) -> None:
        if self._url is None:
            return
        try:
            answer = httpx.get(self._url, timeout=2).json()
        except (httpx.HTTPError, ValueError) as error:
            log.info("ledger lineage not refreshed", extra={"error": str(error)})
            return
        if answer.get("adopted") != self.adopted:
            log.info("ledger lineage", extra={"adopted": answer.get("adopted"), "was": self.adopted})
        self.adopted = answer.get("adopted")

    def run(self, stopping: threading.Event) -> None:
        """Refresh until ``stopping`` is set (a daemon thread)."""
        while not stopping.is_set():
            self.refresh()
            stopping.wait(self._interval)
