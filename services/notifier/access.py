"""Who may watch whose pay on ``Subscribe``: the caller's token against the org, by the ledger's policy."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import date
from urllib.parse import quote

import grpc
import httpx

from attain.core.plans import PlanBook
from attain.ledger.access import Principal, RepFacts, can_read_rep
from attain.platform.identity import AuthError, Identity, TokenVerifier

MAX_MANAGER_LEVELS = 20


def rep_facts_from_book(book: PlanBook | None, rep_id: str, today: date) -> RepFacts:
    participant = book.participants.get(rep_id) if book else None
    if book is None or participant is None:
        return RepFacts(rep_id, None, None)
    managers = tuple(book.managers_of(rep_id, today, MAX_MANAGER_LEVELS))
    return RepFacts(rep_id, participant.attributes.get("region"), managers[0] if managers else None, managers)


class SubscribeGuard:
    """Authenticates a Subscribe call, authorises its rep id, and caps open streams per credential."""

    def __init__(self, verifier: TokenVerifier, book: PlanBook | None, max_streams: int,
                 today: Callable[[], date] = date.today) -> None:
        self._verifier = verifier
        self._book = book
        self._max_streams = max_streams
        self._today = today
        self._open: Counter[str] = Counter()

    async def admit(self, rep_id: str, context: grpc.aio.ServicerContext) -> Identity:
        """The caller, once it may watch ``rep_id``; aborts the call otherwise (and counts the stream open)."""
        header = dict(context.invocation_metadata() or ()).get("authorization")
        try:
            identity = await asyncio.to_thread(self._verifier.verify_header, header)
        except AuthError as error:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(error))
        who = Principal(identity.subject, identity.roles, identity.regions)
        if not can_read_rep(who, rep_facts_from_book(self._book, rep_id, self._today())):
            # the same answer whether the rep exists or not
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"{identity.subject} may not watch {rep_id}")
        if self._open[identity.subject] >= self._max_streams:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                f"{identity.subject} already holds {self._max_streams} open streams")
        self._open[identity.subject] += 1
        return identity

    def release(self, identity: Identity) -> None:
        self._open[identity.subject] -= 1
        if self._open[identity.subject] <= 0:
            del self._open[identity.subject]


class ReadRecorder:
    """Records each admitted stream in the ledger's access log before any pay is pushed.

    The notifier acts for the person: it calls the ledger's ``POST /v1/reps/{rep_id}/access`` with the
    caller's own token (never a stronger one), and the ledger applies its own policy again. A read the
    ledger cannot record (no ledger URL, the ledger down or refusing) ends the call with UNAVAILABLE:
    pay is never shown unlogged.
    """

    def __init__(self, ledger_url: str | None, timeout: float = 3.0) -> None:
        self._base = ledger_url.rstrip("/") if ledger_url else None
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None

    async def record(self, rep_id: str, context: grpc.aio.ServicerContext) -> None:
        """Append the stream's open to the access log, or abort the call with UNAVAILABLE and the reason."""
        reason = await self._refusal(rep_id, dict(context.invocation_metadata() or ()).get("authorization"))
        if reason is not None:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"the read of {rep_id}'s pay cannot be logged: {reason}")

    async def _refusal(self, rep_id: str, header: str | None) -> str | None:
        if self._base is None:
            return "no ledger to record it (ATTAIN_NOTIFIER_LEDGER_URL is not set)"
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout)
        try:
            answer = await self._client.post(f"{self._base}/v1/reps/{quote(rep_id, safe='')}/access",
                                             json={"what": "stream.open"},
                                             headers={"Authorization": header or ""})
        except httpx.HTTPError as error:
            return f"the ledger is unreachable ({type(error).__name__})"
        if answer.status_code != 201:
            try:
                detail = str(answer.json().get("error", ""))
            except ValueError:
                detail = ""
            return f"the ledger refused to record it ({answer.status_code}{': ' + detail if detail else ''})"
        return None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
