"""What the portal puts on the wire: text compressed (pages, styles, scripts), the SSE stream not, and the CSRF
token masked afresh in every page so a compressed page cannot leak it; and the browser tests' chromium rule."""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from attain.platform.identity import Identity
from services.portal.auth import Session
from services.portal.web import HERE, compress
from tests.e2e.portal.browser.support import NO_BROWSER_ENV, chromium

PAGE = "<main>" + "<p>₹30,000.00 on Acme Corp</p>" * 100 + "</main>"


async def fetch(path: str, accept: str) -> tuple[dict[str, str], bytes]:
    async def page(_: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: " + PAGE.encode() + b"\n\n")
        return response

    app = web.Application(middlewares=[compress])
    app.router.add_get("/page", page)
    app.router.add_get("/events", stream)
    app.router.add_static("/static", HERE / "static")
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        response = await client.get(path, headers={"Accept-Encoding": accept}, auto_decompress=False)
        return dict(response.headers), await response.read()
    finally:
        await client.close()


@pytest.mark.parametrize("path", ["/page", "/static/app.css", "/static/vendor/htmx.org-2.0.11/htmx.min.js"])
def test_pages_styles_and_scripts_are_sent_gzip_compressed(path: str) -> None:
    headers, body = asyncio.run(fetch(path, "gzip, deflate, br"))
    assert headers["Content-Encoding"] == "gzip" and headers["Vary"] == "Accept-Encoding"
    plain = gzip.decompress(body)
    assert len(body) < len(plain)
    if path != "/page":
        assert plain == (HERE / path.removeprefix("/")).read_bytes()


def test_nothing_is_compressed_for_a_client_that_does_not_ask_nor_the_live_stream() -> None:
    headers, body = asyncio.run(fetch("/page", "identity"))
    assert "Content-Encoding" not in headers and body.decode() == PAGE
    headers, body = asyncio.run(fetch("/events", "gzip"))
    assert "Content-Encoding" not in headers and body.startswith(b"data: <main>")


def test_the_csrf_token_is_masked_afresh_each_time_and_only_this_sessions_unmasks() -> None:
    identity = Identity(subject="ae-in-01", roles=frozenset({"rep"}))
    session, other = (Session(identity, "token", 0.0) for _ in range(2))
    first, second = session.csrf, session.csrf
    assert first != second  # no byte of the secret repeats from page to page
    assert session.csrf_matches(first) and session.csrf_matches(second)
    assert not other.csrf_matches(first)
    tampered = first[:10] + ("B" if first[10] == "A" else "A") + first[11:]
    assert not session.csrf_matches(tampered)
    assert not session.csrf_matches("") and not session.csrf_matches("not base64 at all!")


def test_without_chromium_the_browser_tests_fail_saying_how_to_get_it(monkeypatch: Any, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(NO_BROWSER_ENV, raising=False)
    with pytest.raises(pytest.fail.Exception, match="chromium is not installed.*apt-get install chromium"):
        chromium()
    monkeypatch.setenv(NO_BROWSER_ENV, "1")  # skipped only when someone said so
    with pytest.raises(pytest.skip.Exception, match=NO_BROWSER_ENV):
        chromium()
