"""The history view in a real Chromium: a click on a breakdown row filters the whole view, a filter turns
around (is not) and "Add filter" takes contains, several values come from a link, filters and range live
in the address bar (a reload or a copied link keeps the view), every breakdown has the same columns, the
details dialog sorts and searches, range presets and keyboard shortcuts, and bounce rate going up is
bad news. Events come through the real collect endpoint from public IPs (Eddy trusts X-Forwarded-For
here) so countries are real."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.dashboard_helpers import PASSWORD, create_public_key, create_site, sign_up
from tests.support.eddy_process import EddyProcess
from tests.support.sync_api import SyncApi
from tests.support.user_agents import DESKTOP_USER_AGENT

ORIGIN = "https://shop.example"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0"
# (ip, user agent, paths): DE 85.214.x and 5.9.x, US 8.8.8.8, GB 81.2.69.142.
VISITS = [
    ("85.214.132.117", FIREFOX, ["/pricing"]),
    ("5.9.0.1", FIREFOX, ["/pricing", "/signup"]),
    ("85.214.132.118", DESKTOP_USER_AGENT, ["/pricing"]),
    ("8.8.8.8", FIREFOX, ["/pricing"]),
    ("8.8.4.4", FIREFOX, ["/"]),
    ("81.2.69.142", DESKTOP_USER_AGENT, ["/", "/about"]),
]


@pytest.fixture
def proxied_eddy(tmp_path: Path, start_eddy: Callable[..., EddyProcess]) -> EddyProcess:
    """Eddy trusting X-Forwarded-For, so each test visitor comes from its own public IP and country."""
    return start_eddy(tmp_path / "eddy-data", env={"EDDY_TRUST_PROXY": "1"})


def send_visits(api: SyncApi, key: str) -> None:
    """The visits of VISITS through /api/v1/collect, each from its IP and browser."""
    for ip, agent, paths in VISITS:
        events = [{"name": "pageview", "url": ORIGIN + path} for path in paths]
        answer = api.post(
            "/api/v1/collect",
            json={"events": events},
            headers={"X-Api-Key": key, "Origin": ORIGIN, "User-Agent": agent, "X-Forwarded-For": ip},
        )
        assert answer.status == 202, answer.body


def shop_with_visits(page: Page, base: str, name: str) -> str:
    """A new site of the signed-in person, named `name`, that has received VISITS; its id."""
    site_id = create_site(page, name, "shop.example", ORIGIN)
    send_visits(SyncApi(base), create_public_key(page))
    return site_id


def visitors(page: Page) -> str:
    return page.get_by_test_id("summary").locator("[data-metric=visitors] .big-number").inner_text()


def visitors_shown(page: Page) -> Locator:
    return page.get_by_test_id("summary").locator("[data-metric=visitors] .big-number")


def url_filters(page: Page) -> list[str]:
    return parse_qs(urlparse(page.url).query).get("filters", [])


def test_three_clicks_answer_which_country_sends_firefox_users_to_pricing(
    page: Page, proxied_eddy: EddyProcess, browser_log: list[str]
) -> None:
    base = proxied_eddy.url
    sign_up(page, base)
    site_id = shop_with_visits(page, base, "Filter Shop")
    page.goto(f"{base}/sites/{site_id}")
    history = page.locator("section.history")
    expect(history).to_have_attribute("data-loading", "false")
    expect(page.get_by_test_id("summary").locator("[data-metric=visitors] .big-number")).to_have_text("6")

    # Click 1: Firefox in the Devices card.
    page.locator("[data-breakdown=devices] .row-filter", has_text="Firefox").click()
    expect(page.get_by_test_id("filter-bar")).to_contain_text("Browser is Firefox")
    expect(page.get_by_test_id("summary").locator("[data-metric=visitors] .big-number")).to_have_text("4")
    assert url_filters(page) == ["browser==Firefox"]
    # Click 2: /pricing in the Pages card.
    page.locator("[data-breakdown=pages] .row-filter", has_text=re.compile(r"^/pricing$")).click()
    expect(page.get_by_test_id("summary").locator("[data-metric=visitors] .big-number")).to_have_text("3")
    assert url_filters(page) == ["browser==Firefox", "page==/pricing"]
    # The answer: Germany sends two of them, the United States one; countries read as names.
    countries = page.locator("[data-breakdown=locations] tbody tr")
    expect(countries).to_have_count(2)
    expect(countries.nth(0)).to_contain_text("Germany")
    expect(countries.nth(0).locator("td").nth(1)).to_have_text("2")
    expect(countries.nth(1)).to_contain_text("United States")
    # Click 3: Germany narrows it to its two Firefox visitors.
    page.locator("[data-breakdown=locations] .row-filter", has_text="Germany").click()
    expect(page.get_by_test_id("summary").locator("[data-metric=visitors] .big-number")).to_have_text("2")
    assert url_filters(page) == ["browser==Firefox", "page==/pricing", "country==DE"]

    # A reload (and so a bookmark) keeps the view: range, filters and numbers.
    page.get_by_label("Date range").select_option("30d")
    expect(page).to_have_url(re.compile(r"range=30d"))
    page.reload()
    expect(page.get_by_label("Date range")).to_have_value("30d")
    expect(page.get_by_test_id("filter-bar").locator(".filter-chip")).to_have_count(3)
    expect(page.get_by_test_id("summary").locator("[data-metric=visitors] .big-number")).to_have_text("2")

    # Removing a filter widens the view again, and the address bar follows.
    page.get_by_role("button", name="Remove filter Country is Germany").click()
    expect(page.get_by_test_id("summary").locator("[data-metric=visitors] .big-number")).to_have_text("3")
    assert url_filters(page) == ["browser==Firefox", "page==/pricing"]
    page.get_by_role("button", name="Clear all").click()
    expect(page.get_by_test_id("summary").locator("[data-metric=visitors] .big-number")).to_have_text("6")
    assert url_filters(page) == []
    expect(page.get_by_test_id("filter-bar")).to_have_count(0)

    # The same five columns in every breakdown; values the API does not know read "—", never blank.
    for name in ("pages", "sources", "locations", "devices"):
        headers = page.locator(f"[data-breakdown={name}] thead th")
        # Pages add time on page and scroll depth (tests/browser/test_dashboard_goals.py)
        expect(headers).to_have_count(8 if name == "pages" else 6)
        expect(headers.nth(1)).to_have_text("Visitors")
        expect(headers.nth(4)).to_have_text("Bounce rate")
        expect(headers.nth(5)).to_have_text("Duration")
    assert not [line for line in browser_log if line.startswith("pageerror")]


def test_a_filter_inverts_contains_and_lists_values_and_a_reload_or_a_copied_link_keeps_the_view(
    page: Page, proxied_eddy: EddyProcess, browser_log: list[str]
) -> None:
    base = proxied_eddy.url
    email = sign_up(page, base)
    site_id = shop_with_visits(page, base, "Invert Shop")
    page.goto(f"{base}/sites/{site_id}")
    expect(page.locator("section.history")).to_have_attribute("data-loading", "false")
    expect(page.get_by_test_id("summary").locator("[data-metric=visitors] .big-number")).to_have_text("6")
    bar = page.get_by_test_id("filter-bar")

    # A row click filters (==); a click on the operator turns it around (!=): the two other visitors.
    page.locator("[data-breakdown=devices] .row-filter", has_text="Firefox").click()
    expect(visitors_shown(page)).to_have_text("4")
    assert url_filters(page) == ["browser==Firefox"]
    page.get_by_role("button", name="Invert filter Browser is Firefox").click()
    expect(bar).to_contain_text("Browser is not Firefox")
    expect(visitors_shown(page)).to_have_text("2")
    assert url_filters(page) == ["browser!=Firefox"]
    browsers = page.locator("[data-breakdown=devices] tbody tr")
    expect(browsers).to_have_count(1)
    expect(browsers.first).to_contain_text("Chrome")

    # A reload keeps the inverted view.
    page.reload()
    expect(bar).to_contain_text("Browser is not Firefox")
    expect(visitors_shown(page)).to_have_text("2")

    # "Add filter": page contains "PRIC" (case ignored) keeps the one of them who saw /pricing...
    page.get_by_test_id("filter-add").locator("summary").click()
    page.get_by_label("Filter on").select_option("page")
    page.get_by_label("Operator").select_option("=~")
    page.get_by_label("Filter value").fill("PRIC")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(bar).to_contain_text("Page contains PRIC")
    expect(visitors_shown(page)).to_have_text("1")
    assert url_filters(page) == ["browser!=Firefox", "page=~PRIC"]
    # ... and inverted, the one whose pages never held it.
    page.get_by_role("button", name="Invert filter Page contains PRIC").click()
    expect(bar).to_contain_text("Page does not contain PRIC")
    expect(visitors_shown(page)).to_have_text("1")
    pages = page.locator("[data-breakdown=pages] tbody tr")
    expect(pages).to_have_count(2)
    assert sorted(pages.locator(".row-filter").all_inner_texts()) == ["/", "/about"]
    assert url_filters(page) == ["browser!=Firefox", "page!~PRIC"]

    # A copied link opens the same view in another tab (after signing in there: tokens live per tab).
    other = page.context.new_page()
    other.goto(page.url)
    other.get_by_label("Email").fill(email)
    other.get_by_label("Password").fill(PASSWORD)
    other.get_by_role("button", name="Sign in").click()
    expect(other.get_by_test_id("filter-bar").locator(".filter-chip")).to_have_count(2)
    expect(other.get_by_test_id("filter-bar")).to_contain_text("Page does not contain PRIC")
    expect(visitors_shown(other)).to_have_text("1")
    other.close()

    # Several values (is one of) from a link: Germany or the United Kingdom.
    page.goto(f"{base}/sites/{site_id}?filters=" + quote("country==DE|GB"))
    expect(bar).to_contain_text("Country is Germany or United Kingdom")
    expect(visitors_shown(page)).to_have_text("4")
    # A bad value in the form is a sentence at the field, and nothing is added.
    page.get_by_test_id("filter-add").locator("summary").click()
    page.get_by_label("Filter on").select_option("os")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_test_id("filter-add").get_by_role("alert")).to_have_text("Enter a value to filter by.")
    assert url_filters(page) == ["country==DE|GB"]
    assert not [line for line in browser_log if line.startswith("pageerror")]


def test_details_sort_and_search_and_keyboard_shortcuts_change_the_range(
    page: Page, proxied_eddy: EddyProcess
) -> None:
    base = proxied_eddy.url
    sign_up(page, base)
    site_id = shop_with_visits(page, base, "Keys Shop")
    page.goto(f"{base}/sites/{site_id}?range=today")
    expect(page.locator("section.history")).to_have_attribute("data-loading", "false")

    # Details: every page, sortable by any column, searchable; a row there filters too.
    page.get_by_role("button", name="Pages: details").click()
    details = page.get_by_test_id("details")
    expect(details.locator("tbody tr")).to_have_count(4)
    expect(details.locator("tbody tr").first).to_contain_text("/pricing")
    details.get_by_role("button", name="Page", exact=True).click()  # sort by the page itself, A to Z
    expect(details.locator("tbody tr").first.locator("td").first).to_have_text("/")
    details.get_by_role("button", name=re.compile(r"^Visitors")).click()
    details.get_by_role("button", name=re.compile(r"^Visitors")).click()  # ascending
    expect(details.locator("tbody tr").last).to_contain_text("/pricing")
    details.get_by_label("Search pages").fill("abo")
    expect(details.locator("tbody tr")).to_have_count(1)
    details.locator(".row-filter", has_text="/about").click()
    expect(details).to_have_count(0)
    assert url_filters(page) == ["page==/about"]
    expect(page.get_by_test_id("summary").locator("[data-metric=visitors] .big-number")).to_have_text("1")
    page.get_by_role("button", name="Remove filter Page is /about").click()
    expect(page.get_by_test_id("summary").locator("[data-metric=visitors] .big-number")).to_have_text("6")

    # Keyboard: w, m, a, y, t pick presets; arrows step the period; ? lists the shortcuts.
    page.locator("body").click(position={"x": 5, "y": 5})
    for key, preset in (("w", "7d"), ("m", "mtd"), ("a", "all"), ("y", "yesterday"), ("t", "today")):
        page.keyboard.press(key)
        expect(page.get_by_label("Date range")).to_have_value(preset)
    page.keyboard.press("ArrowLeft")
    expect(page.get_by_label("Date range")).to_have_value("custom")
    yesterday = page.evaluate(
        "() => { const d = new Date(); d.setDate(d.getDate() - 1); return d.toLocaleDateString('en-CA'); }"
    )
    expect(page.get_by_label("From")).to_have_value(yesterday)
    expect(page).to_have_url(re.compile(f"range=custom&from={yesterday}&to={yesterday}"))
    expect(page.get_by_test_id("summary").locator("[data-metric=visitors] .big-number")).to_have_text("0")
    page.keyboard.press("ArrowRight")
    expect(page.get_by_test_id("summary").locator("[data-metric=visitors] .big-number")).to_have_text("6")
    page.keyboard.press("?")
    overlay = page.get_by_test_id("shortcuts")
    expect(overlay).to_be_visible()
    expect(overlay).to_contain_text("Last 7 days")
    page.keyboard.press("Escape")
    expect(overlay).to_have_count(0)
    # Typing in a field is typing, not a shortcut.
    page.get_by_label("Steps, one a line").fill("tw")
    expect(page.get_by_label("Date range")).to_have_value("custom")

    # Comparing with last year: no traffic then, so the change reads as the old value.
    page.get_by_label("Comparison").select_option("year")
    expect(page).to_have_url(re.compile(r"compare=year"))
    note = page.get_by_test_id("summary").locator("[data-metric=visitors] .delta")
    expect(note).to_have_text("0 in the last year")


def test_bounce_rate_going_up_is_red_and_visitors_going_up_green(
    page: Page, proxied_eddy: EddyProcess
) -> None:
    base = proxied_eddy.url
    sign_up(page, base)
    site_id = create_site(page, "Bounce Shop", "shop.example", ORIGIN)
    key = create_public_key(page)
    api = SyncApi(base)
    day = 86_400_000
    now_ms = int(page.evaluate("Date.now()"))
    # Yesterday (just inside the day of age collect takes) two visitors, one of whom bounced (50%);
    # today six, four of whom bounce (67%).
    yesterday = now_ms - day + 10_000
    for ip, paths in (("5.9.0.1", ["/a", "/b"]), ("8.8.8.8", ["/a"])):
        events = [
            {"name": "pageview", "url": f"{ORIGIN}{path}", "ts": yesterday + i * 5_000}
            for i, path in enumerate(paths)
        ]
        answer = api.post(
            "/api/v1/collect",
            json={"events": events},
            headers={"X-Api-Key": key, "Origin": ORIGIN, "User-Agent": FIREFOX, "X-Forwarded-For": ip},
        )
        assert answer.status == 202, answer.body
    send_visits(api, key)
    page.goto(f"{base}/sites/{site_id}?range=today&compare=previous")
    summary = page.get_by_test_id("summary")
    expect(summary.locator("[data-metric=visitors] .delta")).to_have_attribute("data-tone", "good")
    bounce = summary.locator("[data-metric=bounce_rate] .delta")
    expect(bounce).to_have_text(re.compile(r"^\+"))
    expect(bounce).to_have_attribute("data-tone", "bad")
    assert bounce.evaluate("el => getComputedStyle(el).color") == "rgb(197, 48, 48)"
    assert summary.locator("[data-metric=visitors] .delta").evaluate("el => getComputedStyle(el).color") == (
        "rgb(14, 107, 57)"
    )


# The browser sits 13 hours ahead of the Berlin site (its date is the next day from 10:00 to 23:00 UTC):
# the presets count from the site's today, not the browser's.
@pytest.mark.browser_timezone("Pacific/Kiritimati")
def test_every_range_preset_loads_without_an_error(page: Page, proxied_eddy: EddyProcess) -> None:
    base = proxied_eddy.url
    sign_up(page, base)
    # A site in a timezone with daylight saving: "all time" (799 local days) crosses a change and
    # must stay within the API's 800 days of 24 hours.
    page.get_by_role("link", name="Add a site").click()
    page.get_by_label("Name", exact=True).fill("Range Shop")
    page.get_by_label("Domain").fill("shop.example")
    page.get_by_label("Allowed origins").fill(ORIGIN)
    page.get_by_label("Timezone").select_option("Europe/Berlin")
    page.get_by_role("button", name="Add site").click()
    expect(page).to_have_url(re.compile(r"/sites/[A-Za-z0-9_-]+/keys$"))
    site_id = page.url.rsplit("/", 2)[-2]
    send_visits(SyncApi(base), create_public_key(page))
    page.goto(f"{base}/sites/{site_id}")
    history = page.locator("section.history")
    expect(history).to_have_attribute("data-loading", "false")
    presets = (
        page.get_by_label("Date range").locator("option").evaluate_all("options => options.map(o => o.value)")
    )
    assert presets == [
        "today", "yesterday", "24h", "7d", "30d", "90d", "mtd", "lastmonth", "12mo", "ytd", "all", "custom"
    ]  # fmt: skip
    holds_today = {"today", "24h", "7d", "30d", "90d", "mtd", "12mo", "ytd", "all", "custom"}
    for preset in presets:
        before = int(history.get_attribute("data-seq") or 0)
        page.get_by_label("Date range").select_option(preset)
        page.wait_for_function(
            "n => { const v = document.querySelector('section.history');"
            " return Number(v.dataset.seq) > n && v.dataset.loading === 'false'; }",
            arg=before,
        )
        assert history.locator(".error").count() == 0, (preset, history.locator(".error").all_inner_texts())
        expect(page).to_have_url(
            re.compile(rf"range={preset}") if preset != "7d" else re.compile(r"/sites/[^?]+$")
        )
        shown = page.get_by_test_id("summary").locator("[data-metric=visitors] .big-number").inner_text()
        assert shown == ("6" if preset in holds_today else "0"), (preset, shown)
