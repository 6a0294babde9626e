"""How often one address may start a sign-in.

``GET /login`` is open to anyone and writes a row (``portal.sign_ins``, kept 10 minutes) before the browser
even reaches the issuer, so without a limit an anonymous loop fills that table and keeps the database busy for
every page and stream. The limit counts per client address, with the ``limits`` library's moving window (as
ingest and the ledger count theirs). Behind a reverse proxy the socket's peer is the proxy, which would make
one count for everybody (and let one flooder lock everyone out of signing in): ``proxy_hops`` names how many
trusted proxies append to ``X-Forwarded-For``, and the address is the entry the outermost of them appended.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

# A person starts a sign-in or two an hour; a shared office address, a few a minute at the start of the day.
LOGIN_RATE = "20/minute"


def client_address(peer: str | None, forwarded_for: str | None, proxy_hops: int) -> str:
    """The address a request came from: the peer, or with ``proxy_hops`` trusted proxies in front, the entry of
    ``X-Forwarded-For`` the outermost one wrote (entries to its left are the client's to choose, so not used)."""
    entries = [entry.strip() for entry in (forwarded_for or "").split(",") if entry.strip()]
    if proxy_hops > 0 and len(entries) >= proxy_hops:
        return entries[-proxy_hops]
    return peer or "unknown"


class PerAddress:
    """At most ``rate`` (``"20/minute"``; empty: no limit) per address, counted in this process."""

    def __init__(self, rate: str) -> None:
        self._item: RateLimitItem | None = parse(rate) if rate.strip() else None
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def retry_after(self, address: str) -> int | None:
        """None if ``address`` may go on (and count it), else the seconds until its window has room again."""
        if self._item is None or self._limiter.hit(self._item, "portal-login", address):
            return None
        reset = self._limiter.get_window_stats(self._item, "portal-login", address).reset_time
        return max(1, math.ceil(reset - time.time()))
