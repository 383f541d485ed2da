"""Plausible's and Umami's official trackers, unmodified, in a real Chromium on a customer's page (another
origin) against a real Eddy process: pageviews, SPA navigation, custom events with props, revenue and
engagement (Plausible), identify (Umami) are stored and show in Eddy's stats and live panel.

The trackers come from the npm registry, pinned (tests/support/npm_trackers.py): @plausible-analytics/tracker
0.4.6 (an ES module the page imports) and the tracker shipped in umami 2.10.0 (src/tracker/index.js, a
classic script). Plausible's skips browsers that say `navigator.webdriver`: these pages run in
`unflagged_browser` (see its fixture). The page is on 127.0.0.1, which Plausible's tracker skips unless
its documented `captureOnLocalhost` option is set; Umami's tracker has neither check.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.support.customer_site import CustomerSite
from tests.support.eddy_process import EddyProcess
from tests.support.npm_trackers import TrackerUnavailable, tracker_file
from tests.support.tracked_site import TrackedSite
from tests.support.user_agents import DESKTOP_USER_AGENT

UMAMI_ALIAS = "0f8d5c2a-91b4-4e27-a7c3-5d6e7f809a1b"


def tracker_source(name: str) -> str:
    try:
        return tracker_file(name).read_text()
    except TrackerUnavailable as missing:
        pytest.skip(str(missing))


@pytest.fixture
def plain_page(unflagged_browser: Browser, browser_log: list[str]) -> Iterator[Page]:
    """A page in a fresh context of the browser that does not say it is automated."""
    context: BrowserContext = unflagged_browser.new_context(user_agent=DESKTOP_USER_AGENT)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("console", lambda message: browser_log.append(f"console.{message.type}: {message.text}"))
    page.on("pageerror", lambda error: browser_log.append(f"pageerror: {error}"))
    yield page
    context.close()
    if browser_log:
        print("\n".join(browser_log))


def switch_on(site: TrackedSite, **compat: Any) -> None:
    answer = site.api.patch(f"/api/v1/sites/{site.site_id}", json=compat, token=site.token)
    assert answer.status == 200, answer.json


def stats(site: TrackedSite, kind: str, **query: str) -> Any:
    today = dt.datetime.now(dt.UTC).date().isoformat()
    args = "&".join(f"{k}={v}" for k, v in {"from": today, "to": today, **query}.items())
    answer = site.api.get(f"/api/v1/sites/{site.site_id}/stats/{kind}?{args}", token=site.token)
    assert answer.status == 200, answer.json
    return answer.json


def live_snapshot(site: TrackedSite) -> dict[str, Any]:
    """The first message of the site's live stream (it starts from the store's last 5 minutes)."""
    request = urllib.request.Request(
        f"{site.eddy.url}/api/v1/sites/{site.site_id}/live/stream",
        headers={"Authorization": f"Bearer {site.token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as stream:
        kind = ""
        for raw in stream:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: ") and kind == "snapshot":
                return json.loads(line.removeprefix("data: "))
    raise AssertionError("the live stream ended before its snapshot")


def plausible_page(eddy: EddyProcess, body: str = "") -> str:
    return (
        "<!doctype html><html><head><title>Shop</title>"
        '<script type="module">'
        "import { init, track } from '/plausible.js';"
        f"init({{ domain: '127.0.0.1', endpoint: '{eddy.url}/api/event', captureOnLocalhost: true }});"
        "window.shop = { track };"
        "</script></head>"
        f'<body><div style="height: 4000px">{body}</div></body></html>'
    )


def test_plausible_tracker(plain_page: Page, eddy_server: EddyProcess, customer_site: CustomerSite) -> None:
    source = tracker_source("plausible")
    site = TrackedSite.create(eddy_server, customer_site.origin)
    site.pause = lambda seconds: plain_page.wait_for_timeout(seconds * 1000)
    switch_on(site, compat={"plausible": True})
    customer_site.put("/plausible.js", source, "text/javascript; charset=utf-8")
    customer_site.put("/", plausible_page(eddy_server))
    customer_site.put("/pricing", plausible_page(eddy_server))
    plain_page.goto(customer_site.url("/?utm_source=newsletter"))
    first = site.named("pageview")[0]
    assert first["path"] == "/" and first["source"] == "newsletter" and first["browser"] == "Chrome"
    # Scroll, then navigate inside the single-page app: a pageview of the new page, and the engagement
    # of the page left (its scroll depth grew).
    plain_page.evaluate("window.scrollTo(0, document.body.scrollHeight / 2)")
    plain_page.wait_for_function("window.scrollY > 0")
    plain_page.evaluate("history.pushState({}, '', '/pricing')")
    views = site.named("pageview", count=2)
    assert [v["path"] for v in views] == ["/", "/pricing"]
    engagement = site.named("engagement")[0]
    assert engagement["path"] == "/" and 40 <= engagement["props"]["scroll_depth"] <= 100
    assert engagement["props"]["engaged_ms"] >= 0
    plain_page.evaluate("shop.track('Signup', { props: { plan: 'pro', seats: '3' } })")
    plain_page.evaluate(
        "shop.track('Purchase', { revenue: { amount: 29.99, currency: 'EUR' }, props: { sku: 'A-1' } })"
    )
    signup = site.named("Signup")[0]
    assert signup["props"] == {"plan": "pro", "seats": "3"} and signup["path"] == "/pricing"
    purchase = site.named("Purchase")[0]
    assert purchase["props"] == {"sku": "A-1", "revenue_amount": 29.99, "revenue_currency": "EUR"}
    # One visitor, one visit, in Eddy's stats and live panel.
    summary = stats(site, "summary")["results"]
    assert summary["pageviews"]["value"] == 2 and summary["visitors"]["value"] == 1, summary
    by_plan = stats(site, "breakdown", by="prop:plan")
    assert [row["value"] for row in by_plan["results"]] == ["pro"], by_plan
    snapshot = live_snapshot(site)
    names = {event["name"] for event in snapshot["recent"]}
    assert {"pageview", "Signup", "Purchase", "engagement"} <= names, snapshot["recent"]
    assert {row["value"] for row in snapshot["top_pages"]} >= {"/", "/pricing"}


def umami_page(eddy: EddyProcess, title: str = "Café & Co") -> str:
    return (
        f"<!doctype html><html><head><title>{title}</title>"
        f'<script defer src="/umami.js" data-website-id="{UMAMI_ALIAS}" data-host-url="{eddy.url}">'
        "</script></head><body><button id=buy data-umami-event=buy data-umami-event-plan=pro>Buy</button>"
        "</body></html>"
    )


def test_umami_tracker(plain_page: Page, eddy_server: EddyProcess, customer_site: CustomerSite) -> None:
    source = tracker_source("umami")
    site = TrackedSite.create(eddy_server, customer_site.origin)
    site.pause = lambda seconds: plain_page.wait_for_timeout(seconds * 1000)
    switch_on(site, compat={"umami": True}, umami_alias=UMAMI_ALIAS)
    customer_site.put("/umami.js", source, "text/javascript; charset=utf-8")
    customer_site.put("/", umami_page(eddy_server))
    sends: list[Any] = []
    plain_page.on(
        "request",
        lambda r: sends.append(r) if r.url == f"{eddy_server.url}/api/send" and r.method == "POST" else None,
    )
    plain_page.goto(customer_site.url("/?ref=x"))
    first = site.named("pageview")[0]
    assert first["path"] == "/" and first["title"] == "Café & Co" and first["screen"]
    # SPA navigation (v2.10 hooks pushState and sends the new path after 300 ms).
    plain_page.evaluate("history.pushState({}, '', '/docs/start')")
    views = site.named("pageview", count=2)
    assert views[1]["path"] == "/docs/start"
    # the tracker sends the previous page as referrer; stored, a view carries its visit's referrer (none)
    assert views[1]["referrer"] == views[0]["referrer"] == ""
    plain_page.click("#buy")  # data-umami-event: a custom event with its data
    buy = site.named("buy")[0]
    assert buy["props"] == {"plan": "pro"}
    plain_page.evaluate("umami.track('signup', { plan: 'team', seats: 5 })")
    plain_page.evaluate("umami.identify({ plan: 'team', age_band: '25-34', company: 'ACME' })")
    assert site.named("signup")[0]["props"] == {"plan": "team", "seats": 5}
    identified = site.named("identify")[0]
    assert identified["traits"] == {"plan": "team", "age_band": "25-34"}
    # The tracker echoed the cache token Eddy gave it on every later call.
    assert len(sends) >= 5 and all(r.header_value("x-umami-cache") for r in sends[1:]), sends
    assert len({e["session_id"] for e in site.events()}) == 1
    summary = stats(site, "summary")["results"]
    assert summary["pageviews"]["value"] == 2 and summary["visitors"]["value"] == 1, summary
    events = stats(site, "breakdown", by="event")
    assert {"buy", "signup", "identify"} <= {row["value"] for row in events["results"]}, events
    snapshot = live_snapshot(site)
    assert {"pageview", "buy", "signup", "identify"} <= {e["name"] for e in snapshot["recent"]}
