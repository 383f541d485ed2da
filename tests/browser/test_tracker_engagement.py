"""Eddy's own tracker in a real Chromium: engagement (time on page, scroll depth) sent for the page left on
SPA navigation and when the page goes away, a revenue with a custom event, and both read back through the
goals and engagement stats."""

from __future__ import annotations

import datetime as dt

from playwright.sync_api import Page

from tests.support.customer_site import CustomerSite
from tests.support.eddy_process import EddyProcess
from tests.support.tracked_site import TrackedSite, page_with


def test_engagement_and_revenue(page: Page, eddy_server: EddyProcess, customer_site: CustomerSite) -> None:
    site = TrackedSite.create(eddy_server, customer_site.origin)
    site.pause = lambda seconds: page.wait_for_timeout(seconds * 1000)
    goals = {"goals": [{"event": "purchase"}], "currency": "EUR"}
    assert site.api.patch(f"/api/v1/sites/{site.site_id}", json=goals, token=site.token).status == 200
    html = page_with(
        site.snippet(engagement=True, batch_interval_ms=100), '<div style="height: 4000px"></div>'
    )
    customer_site.put("/", html)
    customer_site.put("/next", html)
    customer_site.put("/away", "<!doctype html><title>away</title>")
    page.goto(customer_site.url("/"))
    site.named("pageview")
    page.evaluate("window.scrollTo(0, document.body.scrollHeight / 2)")
    page.wait_for_function("window.scrollY > 0")
    page.evaluate("history.pushState({}, '', '/next')")
    [left] = site.named("engagement")
    assert left["path"] == "/" and 40 <= left["props"]["scroll_depth"] <= 100, left
    assert left["props"]["engaged_ms"] >= 0
    assert [v["path"] for v in site.named("pageview", count=2)] == ["/", "/next"]
    page.evaluate("eddy('purchase', {plan: 'pro'}, {revenue: {amount: 29.99, currency: 'eur'}})")
    [bought] = site.named("purchase")
    assert bought["props"] == {"revenue_amount": 29.99, "revenue_currency": "EUR", "plan": "pro"}
    # Leaving the page sends its engagement (by keepalive fetch, as the page goes away).
    page.goto(customer_site.url("/away"))
    engagements = site.named("engagement", count=2)
    assert engagements[1]["path"] == "/next" and engagements[1]["props"]["scroll_depth"] > 0
    today = dt.datetime.now(dt.UTC).date().isoformat()
    span = f"from={today}&to={today}"
    report = site.api.get(f"/api/v1/sites/{site.site_id}/stats/goals?{span}", token=site.token).json
    assert report["goals"][0]["revenue_total"] == "29.99" and report["goals"][0]["conversion_rate"] == 100.0
    engagement = site.api.get(f"/api/v1/sites/{site.site_id}/stats/engagement?{span}", token=site.token)
    assert {p["page"] for p in engagement.json["pages"]} == {"/", "/next"}, engagement.json
    assert engagement.json["overall"]["views"] == 2
