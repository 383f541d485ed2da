"""Verify installation in a real Chromium: a tracked page on an origin the site does not allow is
refused, and the Snippet tab's check (and the empty dashboard's) says so in a sentence; an accepted event
then shows as the last one seen, with its origin. A viewer without keys is not offered a button that
would fail."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.dashboard_helpers import (
    PASSWORD,
    build_snippet,
    create_public_key,
    create_site,
    sign_up,
    visitor_context,
)
from tests.support.customer_site import CustomerSite
from tests.support.eddy_process import EddyProcess
from tests.support.sync_api import SyncApi
from tests.support.user_agents import DESKTOP_USER_AGENT


def test_a_refused_origin_shows_in_verify_installation(
    page: Page,
    browser_context: BrowserContext,
    eddy_server: EddyProcess,
    eddy_api: SyncApi,
    customer_site: CustomerSite,
) -> None:
    sign_up(page, eddy_server.url)
    site_id = create_site(page, "Install Shop", "shop.example", "https://shop.example")
    key = create_public_key(page)
    snippet = build_snippet(page)

    # An empty dashboard offers the check at once, with what to try.
    page.get_by_role("link", name="Dashboard").click()
    check = page.get_by_test_id("install-check")
    expect(check).to_contain_text("No events received in the last 7 days")
    expect(check).to_contain_text("Nothing was refused lately.")

    # The customer's page (on 127.0.0.1, not an allowed origin) carries the snippet: Eddy refuses it.
    visitor = visitor_context(browser_context)
    try:
        shop = visitor.new_page()
        with shop.expect_response(
            lambda answer: "/api/v1/collect" in answer.url or "/ws/collect" in answer.url
        ):
            shop.goto(customer_site.put("/", f"<!doctype html><title>Shop</title>{snippet}<p>hi</p>"))
    finally:
        visitor.close()
    page.get_by_role("link", name="Snippet").click()
    check = page.get_by_test_id("install-check")
    check.get_by_role("button", name="Verify installation").click()
    refusal = (
        check.get_by_test_id("refusals")
        .locator("li[data-reason=bad_origin]")
        .filter(has_text=customer_site.origin)
    )
    expect(refusal).to_contain_text(
        f"A page on {customer_site.origin} was refused: this origin is not one of the site's allowed origins "
        "(https://shop.example)."
    )
    expect(check.locator("[data-state=none]")).to_be_visible()

    # An accepted event from the allowed origin: the check now says when, and from where.
    accepted = eddy_api.post(
        "/api/v1/collect",
        json={"name": "pageview", "url": "https://shop.example/"},
        headers={"X-Api-Key": key, "Origin": "https://shop.example", "User-Agent": DESKTOP_USER_AGENT},
    )
    assert accepted.status == 202, accepted.body
    check.get_by_role("button", name="Verify installation").click()
    expect(check.locator("[data-state=seen]")).to_contain_text(
        re.compile(r"Eddy is receiving events\. The last one came .* from https://shop\.example\.")
    )
    # The dashboard no longer shows the check once events arrive.
    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_test_id("summary")).to_be_visible()
    expect(page.get_by_test_id("install-check")).to_have_count(0)
    assert site_id


def test_a_viewer_without_keys_is_told_whom_to_ask(
    page: Page, eddy_server: EddyProcess, eddy_api: SyncApi
) -> None:
    viewer_email = f"viewer-{uuid.uuid4().hex[:10]}@example.com"
    assert (
        eddy_api.post("/api/v1/auth/register", json={"email": viewer_email, "password": PASSWORD}).status
        == 201
    )
    sign_up(page, eddy_server.url)
    site_id = create_site(page, "Keyless", "keyless.example", "https://keyless.example")
    page.get_by_role("link", name="Team").click()
    form = page.locator("form.member-form")
    form.get_by_label("Email").fill(viewer_email)
    form.get_by_label("Role").select_option("viewer")
    form.get_by_role("button", name="Send invitation").click()
    expect(page.locator(".invitations table")).to_contain_text(viewer_email)
    link = page.locator(".invite-link code").inner_text()  # no mail on this server: the link is shown
    page.get_by_role("button", name="Sign out").click()
    page.goto(link)  # the viewer accepts with their password, which signs them in
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Accept the invitation").click()
    expect(page).to_have_url(f"{eddy_server.url}/sites/{site_id}")
    page.goto(f"{eddy_server.url}/sites/{site_id}/snippet")
    expect(page.get_by_text("Ask an owner or admin of this site to create a public key.")).to_be_visible()
    expect(page.get_by_role("link", name="Create a public key")).to_have_count(0)
