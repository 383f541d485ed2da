"""Account pages in a real Chromium against a real Eddy process that mails through a real SMTP server
(aiosmtpd in-process): the password reset flow end to end (ask on /forgot, open the link from the mail,
set the password, every old session is dead), and two-factor sign-in set up on /account with codes made by
pyotp."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.dashboard_helpers import PASSWORD, sign_up
from tests.support.eddy_process import EddyProcess
from tests.support.ports import free_port
from tests.support.smtp_sink import SmtpSink, link_in, to
from tests.support.sync_api import SyncApi
from tests.support.user_agents import DESKTOP_USER_AGENT

NEW_PASSWORD = "a completely new passphrase"


@pytest.fixture
def eddy(tmp_path: Path, sink: SmtpSink, start_eddy: Callable[..., EddyProcess]) -> EddyProcess:
    port = free_port()
    env = {**sink.env(), "EDDY_PUBLIC_URL": f"http://127.0.0.1:{port}", "EDDY_MAIL_POLL_S": "0.1"}
    return start_eddy(tmp_path / "data", port=port, env=env)


def test_password_reset_from_the_mailed_link_ends_every_old_session(
    page: Page, browser: Browser, eddy: EddyProcess, sink: SmtpSink
) -> None:
    email = sign_up(page, eddy.url)  # signed in in this tab: an old session
    api = SyncApi(eddy.url)
    scripted = api.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json
    other = browser.new_context(user_agent=DESKTOP_USER_AGENT)
    try:
        tab = other.new_page()
        tab.goto(eddy.url + "/login")
        tab.get_by_role("link", name="Forgot your password?").click()
        tab.get_by_label("Email").fill(email)
        tab.get_by_role("button", name="Send the link").click()
        expect(tab.get_by_role("status")).to_contain_text("If an account has this address")
        mail = sink.wait_for_sync(lambda m: to(email)(m) and "Reset" in str(m["Subject"]))
        link = link_in(mail, "/reset")
        assert link.startswith(eddy.url + "/reset#token=")
        tab.goto(link)
        expect(tab.get_by_role("heading", name="Choose a new password")).to_be_visible()
        assert "#" not in tab.url  # the token left the address bar at once
        tab.get_by_label("New password").fill(NEW_PASSWORD)
        tab.get_by_role("button", name="Set the new password").click()
        expect(tab.get_by_role("status")).to_contain_text("Your password is changed")
        # The link was single-use.
        tab.goto(link)
        tab.get_by_label("New password").fill("yet another passphrase")
        tab.get_by_role("button", name="Set the new password").click()
        expect(tab.get_by_role("alert")).to_contain_text("invalid, expired or already used")
    finally:
        other.close()
    # Every session from before is dead: the scripted one and the first tab's (which falls back to sign-in).
    assert api.get("/api/v1/auth/me", token=scripted["access_token"]).status == 401
    assert api.post("/api/v1/auth/refresh", json={"refresh_token": scripted["refresh_token"]}).status == 401
    page.reload()
    page.wait_for_url(eddy.url + "/login")
    assert page.evaluate("sessionStorage.getItem('eddy.refresh_token')") is None
    assert api.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).status == 401
    page.goto(eddy.url + "/login")  # a fresh load: no re-render can replace the form being filled
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your sites")).to_be_visible()


def test_two_factor_set_up_on_the_account_page_is_asked_at_sign_in(page: Page, eddy: EddyProcess) -> None:
    email = sign_up(page, eddy.url)
    page.get_by_role("link", name=email).click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    section = page.get_by_role("region", name="Two-factor sign-in")
    section.get_by_label("Current password").fill(PASSWORD)
    section.get_by_role("button", name="Set up two-factor sign-in").click()
    expect(section.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    totp = pyotp.TOTP(section.locator("code.secret").inner_text())
    section.get_by_label("Code from the app").fill(totp.now())
    section.get_by_role("button", name="Turn on").click()
    expect(section.get_by_text("Two-factor sign-in is on.")).to_be_visible()
    assert section.locator(".recovery-codes li").count() == 10
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(eddy.url + "/login")
    # A fresh load of the sign-in page (the sign-out's own re-render could replace a form being filled).
    page.goto(eddy.url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("authenticator app")
    # The code used to turn it on is spent; the next step's code signs in.
    page.get_by_label("Code from your authenticator app (or a recovery code)").fill(totp.at(time.time() + 30))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your sites")).to_be_visible()
