"""Browser-test fixtures: one real Chromium for the session (Debian's `chromium`, driven by Playwright's
sync API), a real Eddy process on a temporary data dir, and a customer's site on another loopback port.

These tests are plain sync functions: Playwright's sync API runs its own event loop, so they must not
request an async fixture (the in-process app: `ctx`, `api`, `http_server`). Every test in this folder is
marked `browser`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Playwright, sync_playwright

from tests.support.customer_site import CustomerSite
from tests.support.eddy_process import EddyProcess
from tests.support.sync_api import SyncApi
from tests.support.user_agents import DESKTOP_USER_AGENT

CHROMIUM = os.environ.get("EDDY_CHROMIUM", "/usr/bin/chromium")
# Playwright cannot download its own browsers here: it drives the system Chromium with these flags. The
# user agent is set on the browser too, not only per context: requests that outlive their page (keepalive
# fetches sent while a page unloads) go out with the browser's own.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    f"--user-agent={DESKTOP_USER_AGENT}",
]
BROWSER_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under tests/browser as `browser` (select or skip them with -m)."""
    for item in items:
        if BROWSER_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    """Playwright's sync driver, shared by the package's browsers.

    Scoped to this package, not the session: between its sync calls Playwright leaves its own event loop
    marked as running in this thread, which would break every IOLoop test that ran while it was open."""
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not found: install it with scripts/system-deps.sh (Debian package chromium)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """One headless Chromium for all the browser tests; each test gets its own context (fresh storage)."""
    instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield instance
    instance.close()


@pytest.fixture(scope="package")
def unflagged_browser(playwright: Playwright) -> Iterator[Browser]:
    """A headless Chromium that does not say it is automated: `navigator.webdriver` is false.

    Other analytics' trackers (Plausible's) skip browsers whose navigator.webdriver is true, and only
    their unmodified files may run in the compatibility tests. Chromium sets the flag when the Blink
    feature AutomationControlled is on (Playwright's `--enable-automation` turns it on); the documented
    switch `--disable-blink-features=AutomationControlled` turns that feature off. With the desktop
    user agent above (not "HeadlessChrome"), the page sees an ordinary Chrome."""
    args = [*CHROMIUM_ARGS, "--disable-blink-features=AutomationControlled"]
    instance = playwright.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
    yield instance
    instance.close()


@pytest.fixture
def browser_context(browser: Browser, request: pytest.FixtureRequest) -> Iterator[BrowserContext]:
    """A fresh incognito-like context (empty localStorage, no cookies) with a desktop user agent, in the
    timezone of the test's `browser_timezone` mark when it has one."""
    mark = request.node.get_closest_marker("browser_timezone")
    timezone = {"timezone_id": mark.args[0]} if mark else {}
    context = browser.new_context(user_agent=DESKTOP_USER_AGENT, **timezone)
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def browser_log() -> list[str]:
    """Console messages and page errors of `page`, printed at teardown (shown when a test fails)."""
    return []


@pytest.fixture
def page(browser_context: BrowserContext, browser_log: list[str]) -> Iterator[Page]:
    """A page in `browser_context` whose console output and errors land in `browser_log`."""
    tab = browser_context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        browser_log.append(f"console.{message.type}: {message.text}")

    def on_error(error: Any) -> None:
        browser_log.append(f"pageerror: {error}")

    tab.on("console", on_console)
    tab.on("pageerror", on_error)
    yield tab
    if browser_log:
        print("\n".join(browser_log))


@pytest.fixture
def eddy_server(tmp_path: Path, start_eddy: Callable[..., EddyProcess]) -> EddyProcess:
    """A real Eddy process (`run.py`) on an empty temporary data dir; `.stop()`/`.start()` work mid-test
    (same port and data dir) to simulate an outage."""
    return start_eddy(tmp_path / "eddy-data")


@pytest.fixture
def eddy_api(eddy_server: EddyProcess) -> SyncApi:
    """A blocking JSON client for `eddy_server`."""
    return SyncApi(eddy_server.url)


@pytest.fixture
def customer_site() -> Iterator[CustomerSite]:
    """A customer's website on another loopback port (a different origin from Eddy)."""
    site = CustomerSite().start()
    yield site
    site.stop()
