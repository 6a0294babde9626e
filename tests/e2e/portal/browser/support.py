"""Reusable steps of the portal's browser tests (Playwright for Python on Debian's chromium, axe-core).

Import these from any browser test (``from tests.e2e.portal.browser.support import ...``): the fixtures in
``conftest.py`` beside this file give a launched browser and the artefact folder, these functions do the steps
every page needs: sign in at the issuer's form, check accessibility, walk the page with the keyboard, take a
screenshot, weigh the page. A new page (what-if, team, admin) gets its checks by calling them.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}

NO_BROWSER_ENV = "ATTAIN_TEST_NO_BROWSER"  # "1": skip the browser tests on a machine without chromium
ARTIFACTS_ENV = "ATTAIN_TEST_ARTIFACTS"  # where screenshots go (default: under pytest's basetemp)
SERIOUS = ("serious", "critical")

_axe = Axe()


def chromium() -> str:
    """The system chromium, or a failed test saying how to get it (skipped only when explicitly opted out)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get(NO_BROWSER_ENV) == "1":
        pytest.skip(f"{NO_BROWSER_ENV}=1: the browser tests are switched off on this machine")
    pytest.fail("chromium is not installed: the browser tests drive Debian's chromium (apt-get install chromium; "
                f".ci/run installs it when missing), or set {NO_BROWSER_ENV}=1 to skip them knowingly")


def new_page(browser: Browser, viewport: str, base_url: str, language: str = "en-IN",
             **options: Any) -> tuple[BrowserContext, Page]:
    """A fresh context (no cookies, no cache) at the ``phone`` or ``desktop`` size, reading ``language``."""
    context = browser.new_context(viewport=VIEWPORTS[viewport], base_url=base_url, locale=language,
                                  extra_http_headers={"Accept-Language": language}, accept_downloads=True,
                                  **options)
    context.set_default_timeout(15_000)
    return context, context.new_page()


def sign_in(page: Page, portal_url: str, user: str, password: str) -> None:
    """Through the real issuer's sign-in form, as a person would: the portal's /login, the form, back home."""
    page.goto(f"{portal_url}/login")
    page.get_by_label("User").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{portal_url}/**")
    assert page.url.startswith(portal_url), page.url


def accessibility_violations(page: Page, impacts: Sequence[str] = SERIOUS) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now, of the given impacts (default serious and critical)."""
    results = _axe.run(page)
    return [v for v in results.response["violations"] if v.get("impact") in impacts]


def describe(violations: list[dict[str, Any]]) -> str:
    return "\n".join(f"{v['impact']} {v['id']}: {v['help']} ({v['helpUrl']})\n    "
                     + "\n    ".join(str(node.get("target")) + " " + node.get("failureSummary", "").replace("\n", " ")
                                     for node in v["nodes"]) for v in violations)


def assert_accessible(page: Page, what: str) -> None:
    """No serious or critical axe-core violation on the page; each one printed on failure."""
    found = accessibility_violations(page)
    assert not found, f"axe-core on {what} ({page.url}):\n{describe(found)}"


def focused(page: Page) -> dict[str, Any]:
    """The focused element: its tag, id, name, href, text, and whether its focus shows (an outline or a shadow)."""
    described: dict[str, Any] = page.evaluate("""() => {
        const el = document.activeElement;
        const style = getComputedStyle(el);
        const visible = el.matches(':focus-visible') &&
            ((style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0) || style.boxShadow !== 'none');
        const box = el.getBoundingClientRect();
        return {tag: el.tagName.toLowerCase(), id: el.id, name: el.getAttribute('name') || '',
                href: el.getAttribute('href') || '', type: el.getAttribute('type') || '',
                text: (el.innerText || el.value || '').trim().slice(0, 60), visible: visible,
                on_screen: box.width > 0 && box.height > 0 && box.right > 0 && box.bottom > 0};
    }""")
    return described


def tab_walk(page: Page, stops: int) -> Iterator[dict[str, Any]]:
    """Press Tab ``stops`` times on a freshly loaded page, yielding the focused element after each press."""
    for _ in range(stops):
        page.keyboard.press("Tab")
        yield focused(page)


def tab_to(page: Page, matches: Any, limit: int = 60) -> dict[str, Any]:
    """Tab forward until ``matches(focused)`` holds; every element passed must show its focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = focused(page)
        assert now["visible"] and now["on_screen"], f"focus is not visible on {now}"
        if matches(now):
            return now
    raise AssertionError(f"Tab never reached the element wanted in {limit} presses (last: {now})")


def artifacts_dir(base: Path) -> Path:
    """Screenshots' folder: ``ATTAIN_TEST_ARTIFACTS`` if set, else ``base`` (under pytest's basetemp)."""
    folder = Path(os.environ.get(ARTIFACTS_ENV) or base) / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def screenshot(page: Page, folder: Path, name: str, full_page: bool = False) -> Path:
    """A PNG of the page kept as a test artefact (its path printed, for `pytest -s` or the failure report)."""
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    print(f"screenshot: {path}")
    return path


def no_horizontal_scroll(page: Page) -> None:
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways at {width[1]} px: {width[0]} px wide"


@dataclass
class Weight:
    """What a page load cost on the wire, per request (the response's encoded body plus its headers)."""
    sizes: dict[str, int] = field(default_factory=dict)
    encodings: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.sizes.values())

    def report(self) -> str:
        return json.dumps({url: [size, self.encodings.get(url, "identity")] for url, size in self.sizes.items()},
                          indent=1) + f"\ntotal {self.total} bytes"


def weigh(page: Page, url: str) -> Weight:
    """Load ``url`` in ``page`` (a fresh context, so nothing is cached) and add up the bytes of every response:
    the document and each subresource as transferred (compressed if the server compressed it), headers included.
    Long-lived streams (SSE) are left out: they are not part of loading the page."""
    weight, started, finished = Weight(), [], []
    page.on("request", lambda request: started.append(request))
    page.on("requestfinished", lambda request: finished.append(request))
    page.on("requestfailed", lambda request: finished.append(request))
    page.goto(url, wait_until="load")
    for _ in range(100):  # what the page asked for after "load" (the manifest, the icon) finishes too
        waiting = [r for r in started if r not in finished and not r.url.endswith("/events")]
        if not waiting:
            break
        page.wait_for_timeout(50)
    assert not waiting, f"still loading: {[r.url for r in waiting]}"
    for request in finished:
        response = request.response()
        if request.failure is not None or response is None or request.url.endswith("/events"):
            continue
        sizes = request.sizes()
        weight.sizes[request.url] = sizes["responseBodySize"] + sizes["responseHeadersSize"]
        weight.encodings[request.url] = response.headers.get("content-encoding", "identity")
    return weight
