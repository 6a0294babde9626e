"""The ledger API, called with the signed-in person's own token: the ledger decides what they may see.

The portal never decides access itself. Before it shows a rep's page or opens their live stream it asks the
ledger for the rep's entries (or records the stream's read), with the person's token; the ledger answers by
its one policy (attain/ledger/access.py) and logs the read. Anything but 2xx is passed on as :class:`Refused`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def segment(value: object) -> str:
    """``value`` as exactly one path segment of a ledger URL.

    Rep ids, scopes and periods come from the address bar and from forms: a ``/``, ``?``, ``#`` or ``%`` left
    as it is would reshape the ledger's path (another endpoint, a query), so each is percent-encoded. Dots are
    too when the segment is nothing else: httpx resolves a literal ``.`` or ``..`` as a step up the path (the
    ledger would be asked ``/v1/entries``), while ``%2E%2E`` reaches it as the value ``..``, which names nobody.
    """
    text = str(value)
    return text.replace(".", "%2E") if text and not text.strip(".") else quote(text, safe="")


def period_path(scope: str, period: str) -> str:
    """The ledger's path of a period of a scope (its lock, approvals, payment)."""
    return f"/v1/periods/{segment(scope)}/{segment(period)}"


class Ledger:
    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)

    async def close(self) -> None:
        await self._client.aclose()

    async def _call(self, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._client.request(method, path, headers={"Authorization": f"Bearer {token}"},
                                                  **kwargs)
        except httpx.HTTPError as error:
            raise Refused(503, f"the ledger cannot be reached: {type(error).__name__}") from None
        if response.status_code >= 300:
            try:
                reason = str(response.json().get("error") or response.text)
            except ValueError:
                reason = response.text
            raise Refused(response.status_code, reason[:300])
        return response

    async def entries(self, token: str, rep_id: str) -> list[dict[str, Any]]:
        """The rep's entries (every period): 404 for a rep the person may not see, as for one nobody knows."""
        response = await self._call("GET", f"/v1/reps/{segment(rep_id)}/entries", token)
        rows: list[dict[str, Any]] = response.json()
        return rows

    async def record_stream(self, token: str, rep_id: str) -> None:
        """Ask the ledger to admit and log a live stream of the rep's pay (door ``portal`` in its access log)."""
        await self._call("POST", f"/v1/reps/{segment(rep_id)}/access", token,
                         json={"what": "stream.open", "door": "portal"})

    async def statement_pdf(self, token: str, rep_id: str, period: str) -> bytes:
        return (await self._call("GET", f"/v1/reps/{segment(rep_id)}/statements/{segment(period)}.pdf", token)).content

    async def raise_dispute(self, token: str, entry_id: int, comment: str) -> dict[str, Any]:
        response = await self._call("POST", "/v1/disputes", token, json={"entry_id": entry_id, "comment": comment})
        created: dict[str, Any] = response.json()
        return created

    async def dispute(self, token: str, dispute_id: int) -> dict[str, Any]:
        found: dict[str, Any] = (await self._call("GET", f"/v1/disputes/{dispute_id}", token)).json()
        return found

    # The comp admin's and finance's calls (services/portal/admin.py): the ledger decides each one by its policy
    # (an admin of the period's regions; separation of duties; never an entry that pays the caller) and audits it.

    async def json_of(self, method: str, path: str, token: str, **kwargs: Any) -> Any:
        """Any ledger call's JSON answer, refused as :class:`Refused` like every call here."""
        return (await self._call(method, path, token, **kwargs)).json()

    async def export(self, token: str, path: str) -> httpx.Response:
        """An export (payouts CSV/XLSX/JSON, the audit ZIP) as the ledger answered it, to stream on."""
        return await self._call("GET", path, token)
    async def team(self, token: str) -> list[dict[str, Any]]:
        """The reps the person may see besides themselves (a manager's network), by the ledger's policy; logged."""
        reps: list[dict[str, Any]] = (await self._call("GET", "/v1/team", token)).json()
        return reps

    async def waiting_approvals(self, token: str) -> list[dict[str, Any]]:
        """The locked periods whose next approval step the person may take."""
        waiting: list[dict[str, Any]] = (await self._call("GET", "/v1/approvals/waiting", token)).json()
        return waiting

    async def decide(self, token: str, scope: str, period: str, approve: bool, comment: str) -> dict[str, Any]:
        """Approve or reject the waiting step of a period as the person (the ledger audits it)."""
        response = await self._call("POST", f"{period_path(scope, period)}/approvals", token,
                                    json={"approve": approve, "comment": comment})
        decided: dict[str, Any] = response.json()
        return decided

    async def disputes(self, token: str, status: str | None = None) -> list[dict[str, Any]]:
        """The disputes of the reps the person may see, newest first."""
        params = {"status": status} if status else {}
        found: list[dict[str, Any]] = (await self._call("GET", "/v1/disputes", token, params=params)).json()
        return found
