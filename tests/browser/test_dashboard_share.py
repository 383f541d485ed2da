"""A read-only share link, in a real browser: the owner makes it, someone without an account opens it and
sees the dashboard (live and history) but nothing to manage, its token never travels in a URL, and
revoking the link shuts it out."""

from __future__ import annotations

import re

from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.dashboard_helpers import create_site, sign_up, visitor_context
from tests.support.customer_site import CustomerSite
from tests.support.eddy_process import EddyProcess
from tests.support.sync_api import SyncApi
from tests.support.user_agents import DESKTOP_USER_AGENT


def test_share_link_opens_a_read_only_live_dashboard_until_revoked(
    page: Page,
    browser_context: BrowserContext,
    eddy_server: EddyProcess,
    eddy_api: SyncApi,
    customer_site: CustomerSite,
) -> None:
    sign_up(page, eddy_server.url)
    create_site(page, "Shared Shop", "shop.example", customer_site.origin)
    form = page.locator("form.key-form")
    form.get_by_label("Name").fill("Website")
    form.get_by_role("button", name="Create key").click()
    key = page.get_by_test_id("new-key-value").inner_text()

    page.get_by_role("link", name="Share").click()
    page.get_by_role("button", name="Create a share link").click()
    share_url = page.get_by_test_id("share-url").inner_text()
    assert re.fullmatch(re.escape(eddy_server.url) + r"/share#[A-Za-z0-9_-]{43}", share_url)
    token = share_url.rsplit("#", 1)[1]

    guest = visitor_context(browser_context)
    try:
        urls: list[str] = []
        guest.on("request", lambda request: urls.append(request.url))
        viewer = guest.new_page()
        viewer.goto(share_url)
        expect(viewer.get_by_role("heading", name="Shared Shop")).to_be_visible()
        expect(viewer.get_by_text("read-only")).to_be_visible()
        # The token leaves the address bar and is never part of a requested URL.
        expect(viewer).to_have_url(eddy_server.url + "/share")
        expect(viewer.locator(".live-status")).to_have_text("Live", timeout=15_000)
        expect(viewer.get_by_test_id("summary")).to_be_visible()
        assert viewer.get_by_role("link", name="Keys").count() == 0
        assert viewer.get_by_role("button", name="Sign out").count() == 0

        sent = eddy_api.post(
            "/api/v1/collect",
            json={"name": "pageview", "url": customer_site.url("/shared-visit")},
            headers={"X-Api-Key": key, "Origin": customer_site.origin, "User-Agent": DESKTOP_USER_AGENT},
        )
        assert sent.status == 202 and sent.json == {"accepted": 1}
        tail = viewer.get_by_test_id("live-tail")
        expect(tail.locator(".tail-item").filter(has_text="/shared-visit")).to_be_visible(timeout=15_000)
        assert urls and not [url for url in urls if token in url]

        # Revoked: a reload of the shared page is refused.
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Revoke").click()
        expect(page.get_by_text("No share links.")).to_be_visible()
        # The open page asks again (another range): one message for the whole page, not one per card.
        viewer.get_by_label("Date range").select_option("30d")
        expect(viewer.get_by_role("alert")).to_have_count(1)
        expect(viewer.get_by_role("alert")).to_contain_text("This share link is not valid any more.")
        expect(viewer.locator(".breakdown")).to_have_count(0)
        viewer.reload()
        expect(viewer.get_by_role("alert")).to_contain_text("not valid any more")
    finally:
        guest.close()
