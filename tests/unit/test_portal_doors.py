"""The portal's doors, pure parts: SSE framing of CRM text, ledger path segments, the sign-in limit per address."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.portal import page
from services.portal.i18n import translator
from services.portal.ledger_client import Ledger, period_path, segment
from services.portal.readmodel import Delta
from services.portal.throttle import PerAddress, client_address
from services.portal.web import sse_event, templates


def parsed(stream: bytes) -> list[tuple[str, str]]:
    """The (event, data) of each event in ``stream``, read as a browser's EventSource reads it (the SSE
    specification: a line ends at CRLF, LF or CR; data lines of one event join with LF)."""
    events: list[tuple[str, str]] = []
    kind, data = "message", []
    for line in re.split(r"\r\n|\r|\n", stream.decode()):
        if not line:
            if data:
                events.append((kind, "\n".join(data)))
            kind, data = "message", []
        elif line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    return events


@pytest.mark.parametrize("deal", ["Acme\revent: milestone\rdata: Your pay was reversed",
                                  "Acme\r\nevent: milestone\r\ndata: Your pay was reversed",
                                  "Acme\r\n\r\nevent: milestone\ndata: Your pay was reversed"])
def test_a_deal_name_with_carriage_returns_stays_inside_its_one_delta_event(deal: str) -> None:
    _ = translator("en")
    delta = Delta("r-1", "2026-Q1", 7, "INR", Decimal(42000), Decimal(90000), deal, 2, 3, 1767225600000)
    html = templates().get_template("delta.html").render(delta=page.delta_view(delta, "en-IN", _), _=_)
    events = parsed(sse_event("delta", html, 7))
    assert len(events) == 1 and events[0][0] == "delta"
    assert "on Acmeevent: milestonedata: Your pay was reversed, tier 2 → 3" in events[0][1]
    assert b"id: 7\nevent: delta\ndata: <li" in sse_event("delta", html, 7)


def test_a_milestone_event_has_no_id_and_one_data_line() -> None:
    assert sse_event("milestone", "<li>\r\nPaid\r</li>\n") == b"event: milestone\ndata: <li>Paid</li>\n\n"


@pytest.mark.parametrize(("value", "sent"), [
    ("rep-01", "rep-01"), ("a/b", "a%2Fb"), ("x?role=admin", "x%3Frole%3Dadmin"), ("x#y", "x%23y"),
    ("50%", "50%25"), ("a b", "a%20b"), ("2026-Q1", "2026-Q1"), ("..x", "..x"), ("..", "%2E%2E"), (".", "%2E")])
def test_each_value_is_one_ledger_path_segment(value: str, sent: str) -> None:
    assert segment(value) == sent


@pytest.mark.parametrize("rep_id", ["..", ".", "a/../..", "x?y=1", "a#b", "%2F", "r 1"])
def test_the_ledger_is_asked_for_the_rep_named_whatever_the_name(rep_id: str) -> None:
    """What reaches an aiohttp router like the ledger's: the entries of the rep named so, not another endpoint,
    query or fragment."""
    asked: list[tuple[str, str | None]] = []

    async def answer(request: web.Request) -> web.Response:
        asked.append((request.match_info.get("tail", "entries"), request.match_info.get("rep_id")))
        return web.json_response([])

    async def ask() -> None:
        app = web.Application()
        app.router.add_get("/v1/reps/{rep_id}/entries", answer)
        app.router.add_route("*", "/{tail:.*}", answer)
        async with TestServer(app) as server:
            ledger = Ledger(str(server.make_url("")))
            await ledger.entries("token", rep_id)
            await ledger.close()

    asyncio.run(ask())
    assert asked == [("entries", rep_id)]


def test_a_period_path_escapes_scope_and_period() -> None:
    assert period_path("IN/south", "2026-Q1?x=1") == "/v1/periods/IN%2Fsouth/2026-Q1%3Fx%3D1"


def test_sign_ins_are_limited_per_address() -> None:
    limit = PerAddress("3/minute")
    assert [limit.retry_after("10.0.0.1") for _ in range(3)] == [None, None, None]
    retry = limit.retry_after("10.0.0.1")
    assert retry is not None and 1 <= retry <= 60
    assert limit.retry_after("10.0.0.2") is None  # another address has its own count
    unlimited = PerAddress("")
    assert all(unlimited.retry_after("10.0.0.1") is None for _ in range(100))


@pytest.mark.parametrize(("peer", "forwarded", "hops", "address"), [
    ("10.1.0.5", None, 0, "10.1.0.5"),
    ("10.1.0.5", "203.0.113.9", 0, "10.1.0.5"),  # no proxy trusted: the header is the client's own text
    ("10.1.0.5", "203.0.113.9", 1, "203.0.113.9"),
    ("10.1.0.5", "1.2.3.4, 203.0.113.9", 1, "203.0.113.9"),  # the left entry is what the client sent
    ("10.1.0.5", "1.2.3.4, 203.0.113.9, 10.0.0.7", 2, "203.0.113.9"),
    ("10.1.0.5", None, 1, "10.1.0.5"),  # no header (a probe inside the cluster): the peer
    (None, None, 0, "unknown"),
])
def test_the_client_address_behind_trusted_proxies(peer: str | None, forwarded: str | None, hops: int,
                                                   address: str) -> None:
    assert client_address(peer, forwarded, hops) == address
