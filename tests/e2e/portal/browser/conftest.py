"""The browser tests' fixtures: the portal package's stack (tests/e2e/portal/conftest.py),
one chromium per module, and the folder the screenshots are kept in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from attain.embedded.stack import Stack
from tests.e2e.portal.browser.support import artifacts_dir, chromium, new_page


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian chromium through Playwright (Playwright's own browser download is never needed)."""
    executable = chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def passwords(stack: Stack) -> dict[str, str]:
    assert stack.issuer is not None
    return stack.issuer.init()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = artifacts_dir(tmp_path_factory.getbasetemp() / "artifacts")
    print(f"browser test screenshots: {folder}")
    return folder


@pytest.fixture
def page_for(browser: Browser, stack: Stack) -> Iterator[Any]:
    """``page_for(viewport)``: a fresh page (own cookies and cache); every context is closed after the test."""
    contexts = []

    def make(viewport: str, **options: Any) -> Page:
        context, page = new_page(browser, viewport, stack.portal_url, **options)
        contexts.append(context)
        return page

    yield make
    for context in contexts:
        context.close()
