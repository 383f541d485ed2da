"""The dashboard at phone width (390 px) in a real Chromium: the numbers and the chart on the first
screen, empty live lists collapsed and the event tail folded, wide tables marked as scrolling; and the
sites list with each site's visitors in 24 hours and a sparkline."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.dashboard_helpers import create_public_key, create_site, sign_up
from tests.support.eddy_process import EddyProcess
from tests.support.sync_api import SyncApi
from tests.support.user_agents import DESKTOP_USER_AGENT

ORIGIN = "https://shop.example"
PHONE = {"width": 390, "height": 844}


def test_the_phone_layout_puts_numbers_and_chart_first(
    browser_context: BrowserContext, eddy_server: EddyProcess, eddy_api: SyncApi
) -> None:
    page: Page = browser_context.new_page()
    page.set_viewport_size(PHONE)
    sign_up(page, eddy_server.url)
    site_id = create_site(page, "Phone Shop", "shop.example", ORIGIN)
    key = create_public_key(page)
    events = [{"name": "pageview", "url": f"{ORIGIN}/a-rather-long-path/{i}"} for i in range(3)]
    answer = eddy_api.post(
        "/api/v1/collect",
        json={"events": events},
        headers={"X-Api-Key": key, "Origin": ORIGIN, "User-Agent": DESKTOP_USER_AGENT},
    )
    assert answer.status == 202, answer.body

    # The sites list: visitors of the last 24 hours and an hourly sparkline per site.
    page.get_by_role("link", name="Sites").click()
    card = page.locator(f"[data-site='{site_id}']")
    expect(card.locator(".site-visitors")).to_have_text("1")
    expect(card.locator(".site-spark canvas")).to_have_count(1)

    page.goto(f"{eddy_server.url}/sites/{site_id}")
    expect(page.locator("section.history")).to_have_attribute("data-loading", "false")
    expect(page.locator(".live-status")).to_have_text("Live", timeout=15_000)
    # The summary and the chart start within the first screen (844 px); the live lists come after them.
    chart_top = page.locator(".chart-card").evaluate("el => el.getBoundingClientRect().top + scrollY")
    summary_top = page.get_by_test_id("summary").evaluate("el => el.getBoundingClientRect().top + scrollY")
    live_more_top = page.locator(".live-more-box").evaluate("el => el.getBoundingClientRect().top + scrollY")
    assert summary_top < chart_top < PHONE["height"] < live_more_top, (summary_top, chart_top, live_more_top)
    # No horizontal scroll on the page itself: wide tables scroll inside their box, with a cue.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    wide = page.locator("[data-breakdown=pages] .table-wrap")
    expect(wide).to_have_attribute("data-scrolls", "")
    cue = wide.evaluate("el => getComputedStyle(el, '::after').content")
    assert "Scroll sideways for more columns" in cue, cue
    # The event tail is folded on a phone; it opens on a tap.
    tail = page.locator("details.tail-card")
    assert tail.evaluate("el => el.open") is False
    tail.locator("summary").click()
    assert tail.evaluate("el => el.open") is True


def test_empty_live_lists_collapse_into_one_line(page: Page, eddy_server: EddyProcess) -> None:
    sign_up(page, eddy_server.url)
    site_id = create_site(page, "Quiet Shop", "quiet.example", "https://quiet.example")
    page.goto(f"{eddy_server.url}/sites/{site_id}")
    expect(page.locator(".live-status")).to_have_text("Live", timeout=15_000)
    expect(page.locator(".top-grid.collapsed")).to_contain_text(
        "No pages, sources or countries in the last minutes."
    )
    expect(page.locator(".top-list")).to_have_count(0)
    # On a wide screen the tail stays open, saying it waits.
    expect(page.locator("details.tail-card")).to_have_attribute("open", "")
    expect(page.get_by_test_id("live-tail")).to_contain_text("Waiting for events")
