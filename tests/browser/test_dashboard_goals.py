"""Goals, revenue and engagement in the dashboard, in a real Chromium against a real Eddy: goals and the
currency set in the site's settings (one a line), the goals card with conversions, conversion rate and
revenue per currency, following the view's filters; the Pages breakdown with time on page and scroll
depth, and each page's title on hover; countries on a world map; and not one request to another origin."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.dashboard_helpers import create_public_key, create_site, sign_up
from tests.browser.test_dashboard_history import FIREFOX, ORIGIN, proxied_eddy  # noqa: F401 - fixture
from tests.support.eddy_process import EddyProcess
from tests.support.sync_api import SyncApi

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


def send(api: SyncApi, key: str, ip: str, agent: str, events: list[dict[str, object]]) -> None:
    answer = api.post(
        "/api/v1/collect",
        json={"events": events},
        headers={"X-Api-Key": key, "Origin": ORIGIN, "User-Agent": agent, "X-Forwarded-For": ip},
    )
    assert answer.status == 202, answer.body


def view(path: str, title: str) -> dict[str, object]:
    return {"name": "pageview", "url": ORIGIN + path, "title": title}


def engaged(path: str, ms: int, depth: int) -> dict[str, object]:
    return {"name": "engagement", "url": ORIGIN + path, "props": {"engaged_ms": ms, "scroll_depth": depth}}


def bought(amount: float, currency: str) -> dict[str, object]:
    props = {"revenue_amount": amount, "revenue_currency": currency}
    return {"name": "Purchase", "url": ORIGIN + "/checkout", "props": props}


def test_goals_with_revenue_per_currency_and_pages_with_engagement_and_titles(
    page: Page,
    proxied_eddy: EddyProcess,  # noqa: F811 - the fixture
) -> None:
    base = proxied_eddy.url
    requested: list[str] = []  # every request the dashboard makes: all must go to Eddy itself
    page.on("request", lambda request: requested.append(request.url))
    sign_up(page, base)
    site_id = create_site(page, "Goal Shop", "shop.example", ORIGIN)
    key = create_public_key(page)

    # Goals and currency in the settings, one goal a line ("Name = match" names one).
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Goals").fill("/pricing\nPurchase\nRead the blog = /blog/*")
    page.get_by_label("Currency").fill("eur")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Site saved.")).to_be_visible()
    page.reload()
    expect(page.get_by_label("Goals")).to_have_value("/pricing\nPurchase\nRead the blog = /blog/*")
    expect(page.get_by_label("Currency")).to_have_value("EUR")

    api = SyncApi(base)
    # A German Firefox visitor reads pricing and buys in euros; an American one buys in dollars twice.
    send(
        api,
        key,
        "85.214.132.117",
        FIREFOX,
        [view("/pricing", "Pricing · Goal Shop"), engaged("/pricing", 12_000, 80), bought(19.99, "EUR")],
    )
    send(
        api,
        key,
        "8.8.8.8",
        CHROME,
        [
            view("/pricing", "Pricing · Goal Shop"),
            engaged("/pricing", 4_000, 40),
            bought(5, "USD"),
            bought(2.5, "USD"),
        ],
    )
    send(api, key, "81.2.69.142", CHROME, [view("/blog/hello", "Hello · Blog")])

    page.goto(f"{base}/sites/{site_id}?range=today")
    goals = page.locator("[data-breakdown=goals]")
    rows = goals.locator("tbody tr")
    expect(rows).to_have_count(3)
    purchase = rows.filter(has_text="Purchase")
    # Two of three visitors bought: revenue stays per currency (no exchange rates).
    expect(purchase.locator("td").nth(1)).to_have_text("2")
    expect(purchase.locator("td").nth(2)).to_have_text("3")
    expect(purchase.locator("td").nth(3)).to_have_text("66.7%")
    expect(purchase.locator(".revenue")).to_have_text(re.compile(r"€19\.99 · (US)?\$7\.50"))
    expect(rows.filter(has_text="Read the blog").locator("td").nth(1)).to_have_text("1")

    # The goals follow the view's filters: Germany only.
    page.locator("[data-breakdown=locations] .row-filter", has_text="Germany").click()
    expect(purchase.locator(".revenue")).to_have_text("€19.99")
    expect(purchase.locator("td").nth(3)).to_have_text("100%")
    page.get_by_role("button", name=re.compile(r"^Remove filter Country")).click()
    expect(purchase.locator(".revenue")).to_have_text(re.compile(r"\$7\.50"))

    # Countries on a world map (vendored outlines, served by Eddy): shaded by visitors, named on
    # hover, a click filters the view like a click on the table's row.
    world = page.get_by_test_id("world-map")
    expect(world.locator("path[data-country]")).to_have_count(256)
    germany = world.locator("path[data-country=DE]")
    expect(germany).to_have_attribute("data-visitors", "1")
    expect(germany).to_have_class(re.compile(r"\bmap-5\b"))
    expect(germany.locator("title")).to_have_text("Germany: 1 visitor")
    expect(world.locator("path[data-country=FR]")).to_have_class(re.compile(r"\bmap-0\b"))
    germany.click()
    expect(page.get_by_test_id("filter-bar")).to_contain_text("Country is Germany")
    expect(purchase.locator(".revenue")).to_have_text("€19.99")
    page.get_by_role("button", name=re.compile(r"^Remove filter Country")).click()

    # Pages: time on page and scroll depth beside the usual columns, and the title on hover.
    pages = page.locator("[data-breakdown=pages]")
    expect(pages).to_have_attribute("data-enriched", "true")
    headers = pages.locator("thead th")
    expect(headers).to_have_count(8)
    expect(headers.nth(6)).to_have_text("Time on page")
    expect(headers.nth(7)).to_have_text("Scroll depth")
    pricing = pages.locator("tbody tr").filter(has_text="/pricing")
    expect(pricing.locator("td").nth(6)).to_have_text("8s")  # (12 s + 4 s) / 2 views
    expect(pricing.locator("td").nth(7)).to_have_text("60%")
    # Titles are asked the first time the pointer enters the table.
    expect(pricing.locator(".row-filter")).to_have_attribute("title", "Filter by /pricing")
    pricing.hover()
    expect(pricing.locator(".row-filter")).to_have_attribute("title", "Pricing · Goal Shop\n/pricing")
    blog = pages.locator("tbody tr").filter(has_text="/blog/hello")
    expect(blog.locator("td").nth(6)).to_have_text("—")  # no engagement sent for it
    expect(blog.locator(".row-filter")).to_have_attribute("title", "Hello · Blog\n/blog/hello")
    # Entry pages have titles too, but no engagement columns (engagement belongs to a page).
    pages.get_by_label("Pages: dimension").select_option("entry_page")
    expect(pages.locator("thead th")).to_have_count(6)
    entry = pages.locator(".row-filter", has_text="/pricing")
    entry.hover()
    expect(entry).to_have_attribute("title", "Pricing · Goal Shop\n/pricing")
    # The details dialog too, on hover.
    pages.get_by_role("button", name="Pages: details").click()
    dialog = page.get_by_test_id("details")
    in_dialog = dialog.locator(".row-filter", has_text="/blog/hello")
    in_dialog.hover()
    expect(in_dialog).to_have_attribute("title", "Hello · Blog\n/blog/hello")

    # No third-party request from the dashboard: the map, the charts and everything else come from Eddy.
    assert requested and not [url for url in requested if not url.startswith(base + "/")], requested
