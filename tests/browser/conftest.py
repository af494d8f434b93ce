"""Browser fixtures: Debian's chromium driven by Playwright against a real local stack.

No browser is ever downloaded: without /usr/bin/chromium (`apt-get install -y chromium`) these tests skip.
Every request to a host other than the stack's loopback address is aborted and recorded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

from scripts.stack import LocalStack
from tests.integration.conftest import stack_model_dir  # noqa: F401  (a fixture this folder's stack uses)
from tests.integration.support import start_stack

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
API_KEY = "browser-test-key"
BROWSER_CHUNK_ROWS = 500
"""Rows per chunk in the browser stack: a few thousand rows make a job of several chunks."""


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium); the browser tests need it")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def ui_stack(browser: Browser, stack_model_dir: Path,  # noqa: F811
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """Redis, the API (with an API key) and two workers."""
    env = {"CHUNK_ROWS": str(BROWSER_CHUNK_ROWS), "API_KEYS": API_KEY}
    with start_stack(LocalStack(workers=2, env=env, model_dir=str(stack_model_dir),
                                log_dir=str(tmp_path_factory.mktemp("browser-stack-logs")))) as running:
        yield running


class OfflinePage:
    """A page whose requests may only reach loopback addresses; the others are aborted and listed."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.blocked: list[str] = []
        self.errors: list[str] = []
        page.route("**/*", self._guard)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def _guard(self, route: Route) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort("blockedbyclient")


@pytest.fixture
def offline_page(browser: Browser) -> Iterator[OfflinePage]:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    try:
        yield OfflinePage(context.new_page())
    finally:
        context.close()
