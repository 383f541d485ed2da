"""Google sign-in in a real Chromium against a real Eddy process and a local fake Google: the browser
ends signed in on the sites page (the one-time code travels only in a URL fragment and is cleared from
the address bar), and a refused sign-in lands on the login page with a clear message."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.support import fake_google
from tests.support.eddy_process import EddyProcess


def test_google_sign_in_lands_signed_in_on_the_sites_page(page: Page, tmp_path: Path) -> None:
    fake = fake_google.FakeGoogle()
    fake.identities["user-a"] = {
        "id": "g-browser",
        "email": "browser.google@example.com",
        "verified_email": True,
        "name": "Browser G",
    }
    with fake_google.in_thread(fake):
        eddy = EddyProcess(tmp_path / "data", env=fake_google.env(fake))
        eddy.start()
        try:
            api_calls: list[str] = []
            landings: list[str] = []
            page.on("request", lambda r: api_calls.append(r.url) if "/api/" in r.url else None)
            page.on(
                "response",
                lambda r: landings.append(r.headers["location"]) if "/callback?" in r.url else None,
            )
            page.goto(eddy.url + "/login")
            page.get_by_role("link", name="Continue with Google").click()
            page.wait_for_url(eddy.url + "/sites")
            expect(page.get_by_text("No sites yet.")).to_be_visible()
            expect(page.get_by_role("button", name="Sign out")).to_be_visible()
            assert "google=" not in page.url and "#" not in page.url
            assert len(landings) == 1 and landings[0].startswith("/login#google=")
            assert eddy.url + "/api/v1/auth/google/exchange" in api_calls
            assert not any("google=" in url or "token" in url for url in api_calls)
            # Kept like a password sign-in: the refresh token in sessionStorage, nothing in localStorage.
            assert page.evaluate("sessionStorage.getItem('eddy.refresh_token')")
            assert page.evaluate("localStorage.length") == 0
            page.reload()
            expect(page.get_by_text("No sites yet.")).to_be_visible()

            # The code was spent: replaying the landing URL signs nobody in.
            page.evaluate("sessionStorage.clear()")
            page.goto(eddy.url + landings[0])
            expect(page.get_by_role("alert")).to_contain_text(re.compile("expired", re.I))
            assert page.url == eddy.url + "/login"

            # A refused sign-in lands on the login page with a clear message and a clean address bar.
            page.goto(eddy.url + "/login#google_error=google_denied")
            expect(page.get_by_role("alert")).to_contain_text("Google sign-in was cancelled.")
            assert page.url == eddy.url + "/login"
            expect(page.get_by_role("button", name="Sign in")).to_be_enabled()
        finally:
            eddy.stop()
