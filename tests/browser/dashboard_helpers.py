"""Steps of the dashboard browser tests, done the way a person does them: through the pages' forms."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import BrowserContext, Page, expect

from tests.support.user_agents import DESKTOP_USER_AGENT

PASSWORD = "correct horse battery staple"


def sign_up(page: Page, base_url: str) -> str:
    """Create an account on /register; returns its email. Ends on the sites list."""
    email = f"owner-{uuid.uuid4().hex[:10]}@example.com"
    page.goto(base_url + "/register")
    page.get_by_label("Name (optional)").fill("Ada Owner")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Your sites")).to_be_visible()
    return email


def sign_in(page: Page, base_url: str, email: str) -> None:
    """Sign in on /login. Ends on the sites list."""
    page.goto(base_url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your sites")).to_be_visible()


def create_site(page: Page, name: str, domain: str, origin: str) -> str:
    """Add a site from the sites list; returns its id. Ends on the site's Keys tab."""
    page.get_by_role("link", name="Add a site").click()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Domain").fill(domain)
    page.get_by_label("Allowed origins").fill(origin)
    page.get_by_role("button", name="Add site").click()
    expect(page).to_have_url(re.compile(r"/sites/[A-Za-z0-9_-]+/keys$"))
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    return page.url.rsplit("/", 2)[-2]


def create_public_key(page: Page, name: str = "Website") -> str:
    """Create a public key on the Keys tab; returns the value shown once."""
    form = page.locator("form.key-form")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Kind").select_option("public")
    form.get_by_role("button", name="Create key").click()
    value = page.get_by_test_id("new-key-value")
    expect(value).to_have_text(re.compile(r"^eddy_pk_[A-Za-z0-9]{32}$"))
    return value.inner_text()


def build_snippet(page: Page, integrity: bool = False) -> str:
    """Build a snippet on the Snippet tab (tracking allowed on 127.0.0.1 and in automated browsers;
    pinned with Subresource Integrity when `integrity`)."""
    page.get_by_role("link", name="Snippet").click()
    # The tab builds a snippet with the default options at once; then these options build another.
    expect(page.get_by_test_id("snippet")).to_have_value(re.compile(r"t\.js"))
    page.get_by_label("Also track on localhost").check()
    page.get_by_label("Also track automated browsers").check()
    if integrity:
        page.get_by_label("Pin this tracker build with Subresource Integrity").check()
    page.get_by_label("Transport").select_option("auto")
    page.get_by_role("button", name="Build snippet").click()
    output = page.get_by_test_id("snippet")
    expect(output).to_have_value(re.compile(r"<script .*src=.*t\.js.*data-localhost.*data-automated", re.S))
    if integrity:
        expect(output).to_have_value(re.compile(r'integrity="sha384-'))
    return output.input_value()


def open_dashboard(page: Page) -> None:
    """Go to the site's Dashboard tab and wait until the live socket is up."""
    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator(".live-status")).to_have_text("Live", timeout=15_000)


def visitor_context(browser_context: BrowserContext) -> BrowserContext:
    """A separate browser profile for the site's visitor (its own storage, a desktop user agent)."""
    browser = browser_context.browser
    assert browser is not None
    context = browser.new_context(user_agent=DESKTOP_USER_AGENT)
    context.set_default_timeout(15_000)
    return context
