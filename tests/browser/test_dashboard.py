"""The dashboard in a real Chromium against a real Eddy process: a site owner's whole first session, from
sign-up to a visit seen live, in history and in an export, then the key revoked."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, Route, expect

from tests.browser.dashboard_helpers import (
    PASSWORD,
    build_snippet,
    create_public_key,
    create_site,
    open_dashboard,
    sign_up,
    visitor_context,
)
from tests.support.customer_site import CustomerSite
from tests.support.eddy_process import EddyProcess
from tests.support.sync_api import SyncApi
from tests.support.user_agents import DESKTOP_USER_AGENT


def test_sign_up_to_a_live_visit_and_history_then_revoke_the_key(
    page: Page,
    browser_context: BrowserContext,
    browser_log: list[str],
    eddy_server: EddyProcess,
    eddy_api: SyncApi,
    customer_site: CustomerSite,
) -> None:
    base = eddy_server.url
    sign_up(page, base)
    expect(page.get_by_text("No sites yet.")).to_be_visible()
    site_id = create_site(page, "Corner Shop", "127.0.0.1", customer_site.origin)
    key = create_public_key(page)
    snippet = build_snippet(page, integrity=True)
    assert key in snippet and base in snippet and 'integrity="sha384-' in snippet

    # The tokens stay out of every URL the app shows or requested.
    assert "token" not in page.url and key not in page.url

    sent: list[str] = []  # what the dashboard sends on its live socket
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(str(frame))))
    open_dashboard(page)
    page.evaluate("window.__sameDocument = true")
    expect(page.get_by_test_id("visitors-now")).to_have_text("0")

    visitor = visitor_context(browser_context)
    try:
        landing = customer_site.put(
            "/landing",
            f"<!doctype html><html><head><title>Landing</title>{snippet}</head><body>hi</body></html>",
        )
        shop = visitor.new_page()
        shop.goto(landing)

        # The visit reaches the open dashboard by itself, no reload.
        tail = page.get_by_test_id("live-tail")
        expect(tail.locator(".tail-item").filter(has_text="/landing")).to_be_visible(timeout=15_000)
        expect(tail.locator(".tail-item .event-name").first).to_have_text("pageview")
        expect(page.get_by_test_id("visitors-now")).to_have_text("1")
        expect(page.locator(".top-list").filter(has_text="Top pages now")).to_contain_text("/landing")
        assert page.evaluate("window.__sameDocument") is True

        # The tail filters narrow what is shown.
        page.get_by_label("Page starts with").fill("/nothing-here")
        expect(tail).to_contain_text("No live events match these filters.")
        page.get_by_label("Page starts with").fill("/land")
        expect(tail.locator(".tail-item").filter(has_text="/landing")).to_be_visible()
        # ...on the server too, asked in the history's filter names (a page prefix is `/land*`).
        page.get_by_label("Event", exact=True).fill("pageview")
        expect(tail.locator(".tail-item").filter(has_text="/landing")).to_be_visible()
        wanted = {"filter": {"event": "pageview", "page": "/land*"}}
        for _ in range(100):  # the filter message leaves after a short debounce
            if wanted in [json.loads(text) for text in sent if text.startswith("{")]:
                break
            page.wait_for_timeout(50)
        assert wanted in [json.loads(text) for text in sent if text.startswith("{")], sent

        # History: today's numbers, the chart and the pages table hold the visit.
        page.get_by_label("Date range").select_option("today")
        summary = page.get_by_test_id("summary")
        expect(summary.locator("[data-metric=pageviews] .big-number")).to_have_text("1")
        expect(summary.locator("[data-metric=visitors] .big-number")).to_have_text("1")
        expect(page.get_by_test_id("timeseries").locator("canvas")).to_have_count(1)
        # Off the chart, the legend reads the latest bucket (its time and numbers), never dashes.
        legend = page.get_by_test_id("timeseries").locator(".u-legend .u-value")
        expect(legend.first).to_have_text(re.compile(r"\d"))
        assert "—" not in "".join(legend.all_inner_texts())
        pages = page.locator("[data-breakdown=pages] table")
        expect(pages).to_contain_text("/landing")
        page.get_by_label("Comparison").select_option("previous")
        expect(summary.locator("[data-metric=pageviews] .delta")).to_be_visible()

        # Export: the range's raw events arrive as a CSV file (the token never goes in a URL).
        with page.expect_download() as download_info:
            page.get_by_role("button", name="Export CSV").click()
        download = download_info.value
        assert download.suggested_filename == f"eddy-{site_id}-export.csv"
        rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
        assert [(row["name"], row["path"]) for row in rows] == [("pageview", "/landing")]
        with page.expect_download() as download_info:
            page.get_by_role("button", name="Export JSON").click()
        exported = json.loads(Path(download_info.value.path()).read_text())
        assert [event["id"] for event in exported] == [rows[0]["id"]]

        # Revoke the key: the Keys tab says so, and the key stops working for ingestion.
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("link", name="Keys").click()
        page.get_by_role("button", name="Revoke Website").click()
        expect(page.get_by_test_id("key-status")).to_have_text("revoked")
        refused = eddy_api.post(
            "/api/v1/collect",
            json={"name": "pageview", "url": customer_site.url("/after")},
            headers={"X-Api-Key": key, "Origin": customer_site.origin},
        )
        assert refused.status in (401, 403), refused.body
    finally:
        visitor.close()
    assert re.fullmatch(r"[A-Za-z0-9_-]+", site_id)
    # The whole session ran under the CSP without a violation (uPlot included) and without a script error.
    assert not [
        line for line in browser_log if "Content Security Policy" in line or line.startswith("pageerror")
    ]


def test_signed_out_visitors_are_sent_to_sign_in_and_errors_are_shown(
    page: Page, eddy_server: EddyProcess
) -> None:
    page.goto(eddy_server.url + "/sites")
    expect(page).to_have_url(eddy_server.url + "/login")
    page.get_by_label("Email").fill("nobody@example.com")
    page.get_by_label("Password").fill("wrong password here")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page).to_have_url(eddy_server.url + "/login")
    # The keyboard reaches the form's fields in order.
    page.goto(eddy_server.url + "/register")
    page.get_by_label("Name (optional)").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "email"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "password"
    # A link inside the app to a path it does not know draws a not-found page.
    page.evaluate("history.pushState(null, '', '/sites/x/y/z'); dispatchEvent(new PopStateEvent('popstate'))")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()


def test_a_session_survives_a_reload_and_a_spent_access_token_is_refreshed(
    page: Page, eddy_server: EddyProcess
) -> None:
    sign_up(page, eddy_server.url)
    # The refresh token sits in this tab's sessionStorage; the access token only in memory.
    assert page.evaluate("Object.keys(sessionStorage)") == ["eddy.refresh_token"]
    assert page.evaluate("Object.keys(localStorage)") == []
    page.reload()
    expect(page.get_by_role("heading", name="Your sites")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(eddy_server.url + "/login")
    assert page.evaluate("Object.keys(sessionStorage)") == []


def test_the_owner_adds_a_viewer_who_sees_the_dashboard_but_no_management(
    page: Page, browser_context: BrowserContext, eddy_server: EddyProcess, eddy_api: SyncApi
) -> None:
    viewer_email = f"viewer-{uuid.uuid4().hex[:10]}@example.com"
    made = eddy_api.post("/api/v1/auth/register", json={"email": viewer_email, "password": PASSWORD})
    assert made.status == 201
    sign_up(page, eddy_server.url)
    site_id = create_site(page, "Team Shop", "shop.example", "https://shop.example")
    page.get_by_role("link", name="Team").click()
    expect(page.get_by_text("Only you can see this site.")).to_be_visible()
    form = page.locator("form.member-form")
    # Inviting an address with no account looks exactly like inviting one with an account (L1).
    form.get_by_label("Email").fill("nobody-here@example.com")
    form.get_by_role("button", name="Send invitation").click()
    expect(page.locator(".invite-link code")).to_contain_text("/invite#token=")
    form.get_by_label("Email").fill(viewer_email)
    form.get_by_label("Role").select_option("viewer")
    form.get_by_role("button", name="Send invitation").click()
    expect(page.locator(".invitations table")).to_contain_text(viewer_email)
    # This server has no mail: the owner passes the link on.
    link = page.locator(".invite-link code").inner_text()
    assert link.startswith(eddy_server.url + "/invite#token=")

    other = visitor_context(browser_context)
    try:
        viewer = other.new_page()
        viewer.goto(link)
        viewer.get_by_label("Password").fill(PASSWORD)
        viewer.get_by_role("button", name="Accept the invitation").click()
        expect(viewer).to_have_url(f"{eddy_server.url}/sites/{site_id}")
        tabs = viewer.get_by_role("navigation", name="Site sections").get_by_role("link")
        expect(tabs).to_have_text(["Dashboard", "Snippet"])
        expect(viewer.locator(".live-status")).to_have_text("Live", timeout=15_000)
    finally:
        other.close()

    # The owner withdraws the invitation left pending and removes the viewer again.
    page.reload()
    page.get_by_role("button", name="Withdraw the invitation of nobody-here@example.com").click()
    expect(page.locator(".invitations")).to_be_empty()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Remove {viewer_email}").click()
    expect(page.get_by_text("Only you can see this site.")).to_be_visible()


def test_a_refused_access_token_is_refreshed_silently_and_the_request_retried(
    page: Page, eddy_server: EddyProcess
) -> None:
    sign_up(page, eddy_server.url)
    spent_before = page.evaluate("sessionStorage.getItem('eddy.refresh_token')")
    refused: list[str] = []

    def refuse_once(route: Route) -> None:
        # The first list request answers as if the access token had expired; later ones go through.
        if not refused:
            refused.append(route.request.headers.get("authorization", ""))
            route.fulfill(
                status=401,
                content_type="application/json",
                body='{"error":{"code":"invalid_token","message":"invalid or expired access token"}}',
            )
        else:
            route.continue_()

    page.route("**/api/v1/sites", refuse_once)
    page.get_by_role("link", name="Sites").click()
    expect(page.get_by_text("No sites yet.")).to_be_visible()
    assert refused and refused[0].startswith("Bearer ")
    # The refresh token was rotated by the silent refresh, and the user is still signed in.
    assert page.evaluate("sessionStorage.getItem('eddy.refresh_token')") not in (None, spent_before)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_the_google_button_appears_only_when_google_sign_in_is_configured(
    page: Page, eddy_server: EddyProcess, tmp_path: Path, browser_log: list[str]
) -> None:
    page.goto(eddy_server.url + "/login")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.locator("form.auth-form")).to_have_attribute("data-google", "off")
    assert page.get_by_role("link", name="Continue with Google").count() == 0
    # Finding out asks /api/v1/auth/providers: no 404 in the console when Google is off.
    assert not [line for line in browser_log if "404" in line], browser_log
    google = EddyProcess(
        tmp_path / "google-data",
        env={"EDDY_GOOGLE_CLIENT_ID": "client-id.example", "EDDY_GOOGLE_CLIENT_SECRET": "s" * 32},
    )
    google.start()
    try:
        page.goto(google.url + "/login")
        expect(page.locator("form.auth-form")).to_have_attribute("data-google", "on")
        button = page.get_by_role("link", name="Continue with Google")
        expect(button).to_be_visible()
        assert button.get_attribute("href") == "/api/v1/auth/google"
    finally:
        google.stop()


def test_rotating_a_key_shows_the_new_value_once_and_metric_configs_report_field_errors(
    page: Page, eddy_server: EddyProcess, eddy_api: SyncApi
) -> None:
    sign_up(page, eddy_server.url)
    create_site(page, "Rotate Shop", "shop.example", "https://shop.example")
    old_key = create_public_key(page)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Rotate Website").click()
    new_value = page.get_by_test_id("new-key-value")
    expect(new_value).not_to_have_text(old_key)
    expect(new_value).to_have_text(re.compile(r"^eddy_pk_[A-Za-z0-9]{32}$"))
    expect(page.get_by_role("button", name="Copy key")).to_be_visible()
    for value, expected in ((old_key, (401, 403)), (new_value.inner_text(), (202,))):
        answer = eddy_api.post(
            "/api/v1/collect",
            json={"name": "pageview", "url": "https://shop.example/"},
            headers={"X-Api-Key": value, "Origin": "https://shop.example", "User-Agent": DESKTOP_USER_AGENT},
        )
        assert answer.status in expected, (value[:12], answer.status, answer.body)

    page.get_by_role("link", name="Metrics").click()
    form = page.locator("form.metric-form")
    form.get_by_label("Name").fill("bad name!")
    form.get_by_role("button", name="Add metric").click()
    expect(form.get_by_role("alert")).to_be_visible()
    expect(form.locator("[name=name][aria-invalid=true]")).to_have_count(1)
    form.get_by_label("Name").fill("checkout_duration_seconds")
    form.get_by_label("Type").select_option("histogram")
    form.get_by_label("Help").fill("Time to pay")
    form.get_by_label("Labels").fill("plan")
    form.get_by_label("Buckets (histograms)").fill("0.5, 1, 5")
    form.get_by_role("button", name="Add metric").click()
    table = page.locator("table")
    expect(table).to_contain_text("checkout_duration_seconds")
    expect(table).to_contain_text("histogram")
    expect(form.get_by_role("alert")).to_have_count(0)
    page.once("dialog", lambda dialog: dialog.accept())
    table.get_by_role("button", name="Delete checkout_duration_seconds").click()
    expect(page.get_by_text("No metrics yet.")).to_be_visible()
