"""Goals on the site (event names and page patterns) and `stats/goals`: converting visitors, conversions,
conversion rates, exact revenue sums per currency and in the site's currency, per group with `by`; and
`stats/engagement`: time on page and scroll depth per page and overall."""

from __future__ import annotations

import time
import uuid
from typing import Any

from storage.records import Event
from tests.support.accounts import make_site, signup
from tests.support.events import store_events

SITES = "/api/v1/sites"


def event(site_id: str, name: str, visitor: str, path: str = "/", **fields: Any) -> Event:
    return Event(
        id=uuid.uuid4().hex,
        site_id=site_id,
        ts=int(time.time() * 1000) - 60_000,
        name=name,
        path=path,
        visitor_id=visitor,
        session_id=f"s-{visitor}",
        **fields,
    )


def purchase(site_id: str, visitor: str, amount: Any, currency: str, source: str = "") -> Event:
    props = {"revenue_amount": amount, "revenue_currency": currency}
    return event(site_id, "Purchase", visitor, "/checkout", props=props, source=source)


async def signed_up_site(api: Any) -> tuple[str, str]:
    """A new account's access token and the id of a site it made."""
    token = await signup(api)
    return token, (await make_site(api, token))["id"]


def engaged(site_id: str, visitor: str, path: str, ms: int, depth: int, **fields: Any) -> Event:
    """An engagement event: `ms` engaged milliseconds and `depth` % scrolled on `path`."""
    return event(
        site_id, "engagement", visitor, path, props={"engaged_ms": ms, "scroll_depth": depth}, **fields
    )


async def test_goal_conversions_and_revenue(api: Any, ctx: Any) -> None:
    token = await signup(api)
    site = await make_site(api, token)
    goals = [{"event": "Purchase"}, {"page": "/pricing"}, {"page": "/blog/*", "name": "Read the blog"}]
    answer = await api.patch(f"{SITES}/{site['id']}", json={"goals": goals, "currency": "EUR"}, token=token)
    assert answer.status == 200 and answer.json["site"]["goals"] == goals, answer.json
    sid = site["id"]
    await store_events(
        ctx,
        [
            event(sid, "pageview", "v1", "/", source="Google"),
            event(sid, "pageview", "v2", "/", source="Google"),
            event(sid, "pageview", "v3", "/", source="Newsletter"),
            event(sid, "pageview", "v4", "/", source="Newsletter"),
            event(sid, "pageview", "v1", "/pricing", source="Google"),
            event(sid, "pageview", "v1", "/pricing", source="Google"),
            # a visit has one source: every event of it carries where it came from
            event(sid, "pageview", "v3", "/blog/a", source="Newsletter"),
            event(sid, "pageview", "v3", "/blog/b", source="Newsletter"),
            event(sid, "pageview", "v4", "/blogging", source="Newsletter"),  # not under /blog/
            purchase(sid, "v1", 19.99, "EUR", "Google"),
            purchase(sid, "v1", 0.01, "EUR", "Google"),
            purchase(sid, "v2", 10.1, "EUR", "Google"),
            purchase(sid, "v3", 5, "USD", "Newsletter"),
        ],
    )
    report = await api.get(f"/api/v1/sites/{sid}/stats/goals", token=token)
    assert report.status == 200, report.json
    assert report.json["visitors"] == 4 and report.json["currency"] == "EUR"
    by_goal = {g["goal"]: g for g in report.json["goals"]}
    bought = by_goal["Purchase"]
    assert (bought["visitors"], bought["conversions"], bought["conversion_rate"]) == (3, 4, 75.0)
    assert bought["revenue"] == {"EUR": {"sum": "30.10", "count": 3}, "USD": {"sum": "5", "count": 1}}
    assert bought["revenue_total"] == "30.10"  # exact: 19.99 + 0.01 + 10.1, no float drift
    pricing = by_goal["Visit /pricing"]
    assert (pricing["visitors"], pricing["conversions"], pricing["conversion_rate"]) == (1, 2, 25.0)
    assert pricing["revenue"] == {} and pricing["revenue_total"] is None
    blog = by_goal["Read the blog"]
    assert (blog["kind"], blog["match"], blog["visitors"], blog["conversions"]) == ("page", "/blog/*", 1, 2)
    grouped = await api.get(f"/api/v1/sites/{sid}/stats/goals?by=source", token=token)
    groups = {g["value"]: g for g in grouped.json["goals"][0]["groups"]}
    assert groups["Google"]["visitors"] == 2 and groups["Google"]["conversion_rate"] == 100.0
    assert groups["Google"]["revenue_total"] == "30.10"
    assert groups["Newsletter"]["conversion_rate"] == 50.0
    assert groups["Newsletter"]["revenue"] == {"USD": {"sum": "5", "count": 1}}


async def test_goal_validation_and_access(api: Any) -> None:
    token = await signup(api)
    site = await make_site(api, token)
    for body, field in (
        ({"goals": [{"event": "a", "page": "/b"}]}, "goals[0]"),
        ({"goals": [{}]}, "goals[0]"),
        ({"goals": [{"page": "no-slash"}]}, "goals[0].page"),
        ({"goals": [{"page": "/a*/b"}]}, "goals[0].page"),
        ({"goals": [{"event": "x"}, {"event": "x"}]}, "goals[1]"),
        ({"goals": [{"event": "x"}] * 51}, "goals"),
        ({"currency": "euro"}, "currency"),
    ):
        answer = await api.patch(f"{SITES}/{site['id']}", json=body, token=token)
        assert answer.status == 422 and field in answer.json["error"]["fields"], (body, answer.json)
    other = await signup(api)
    assert (await api.get(f"/api/v1/sites/{site['id']}/stats/goals", token=other)).status == 404
    assert (await api.get(f"/api/v1/sites/{site['id']}/stats/engagement", token=other)).status == 404
    bad_by = await api.get(f"/api/v1/sites/{site['id']}/stats/goals?by=visitor_id", token=token)
    assert bad_by.status == 422 and "by" in bad_by.json["error"]["fields"]
    bad_limit = await api.get(f"/api/v1/sites/{site['id']}/stats/engagement?limit=0", token=token)
    assert bad_limit.status == 422


async def test_engagement_per_page(api: Any, ctx: Any) -> None:
    token, sid = await signed_up_site(api)

    await store_events(
        ctx,
        [
            engaged(sid, "v1", "/", 4000, 30),
            engaged(sid, "v1", "/", 2000, 80),  # the same view: 6 s, deepest 80 %
            engaged(sid, "v2", "/", 10000, 40),
            engaged(sid, "v1", "/docs", 1000, 100),
            event(sid, "pageview", "v1", "/"),
        ],
    )
    answer = await api.get(f"/api/v1/sites/{sid}/stats/engagement", token=token)
    assert answer.status == 200, answer.json
    pages = {p["page"]: p for p in answer.json["pages"]}
    assert pages["/"] == {"page": "/", "time_on_page_s": 8.0, "scroll_depth": 60.0, "views": 2}
    assert pages["/docs"] == {"page": "/docs", "time_on_page_s": 1.0, "scroll_depth": 100.0, "views": 1}
    assert answer.json["overall"] == {"time_on_page_s": 5.7, "scroll_depth": 73.3, "views": 3}


async def test_goals_and_engagement_follow_a_views_filters(api: Any, ctx: Any) -> None:
    # The dashboard asks goals and engagement with the view's filters: visitors, conversions, rates and
    # revenue are the filtered view's, and a filter that excludes a goal's events leaves it at zero.
    token, sid = await signed_up_site(api)
    goals = [{"event": "Purchase"}, {"page": "/pricing"}, {"page": "/blog/*"}]
    assert (await api.patch(f"{SITES}/{sid}", json={"goals": goals}, token=token)).status == 200
    await store_events(
        ctx,
        [
            event(sid, "pageview", "v1", "/pricing", country="DE"),
            event(sid, "pageview", "v2", "/pricing", country="US"),
            event(sid, "pageview", "v3", "/blog/a", country="DE"),
            purchase(sid, "v1", 10, "EUR"),
            purchase(sid, "v2", 7, "USD"),
            engaged(sid, "v1", "/pricing", 3000, 50, country="DE"),
            engaged(sid, "v2", "/pricing", 9000, 90, country="US"),
            engaged(sid, "v3", "/blog/a", 1000, 10, country="DE"),
        ],
    )
    base = f"/api/v1/sites/{sid}/stats"

    async def goals_of(query: str) -> dict[str, Any]:
        answer = await api.get(f"{base}/goals?{query}", token=token)
        assert answer.status == 200, answer.json
        return {g["goal"]: g for g in answer.json["goals"]} | {"": answer.json["visitors"]}

    # Purchases carry no country here (a visit's fields ride on each event in real traffic).
    germany = await goals_of("filters=country==DE")
    assert germany[""] == 2
    assert (germany["Visit /pricing"]["visitors"], germany["Visit /pricing"]["conversion_rate"]) == (1, 50.0)
    assert germany["Visit /blog/*"]["visitors"] == 1 and germany["Purchase"]["visitors"] == 0
    bought = await goals_of("filters=event==Purchase")
    assert bought["Purchase"]["revenue"] == {
        "EUR": {"sum": "10", "count": 1},
        "USD": {"sum": "7", "count": 1},
    }
    assert bought["Visit /pricing"]["visitors"] == 0  # pageviews are not Purchase events
    pricing = await goals_of("filters=page==/pricing")
    assert pricing["Visit /pricing"]["conversions"] == 2 and pricing["Visit /blog/*"]["conversions"] == 0
    blog = await goals_of("filters=page==/blog/*")
    assert blog["Visit /blog/*"]["conversions"] == 1 and blog["Visit /pricing"]["conversions"] == 0

    engagement = await api.get(
        f"{base}/engagement?filters=country==DE&pages=/pricing&pages=/nowhere", token=token
    )
    assert engagement.status == 200, engagement.json
    assert engagement.json["pages"] == [
        {"page": "/pricing", "time_on_page_s": 3.0, "scroll_depth": 50.0, "views": 1}
    ]
    assert engagement.json["overall"]["views"] == 2
    too_many = "&".join(f"pages=/p{i}" for i in range(101))
    refused = await api.get(f"{base}/engagement?{too_many}", token=token)
    assert refused.status == 422 and "pages" in refused.json["error"]["fields"]

    # A share link reads them too (read-only, the link's site only).
    link = await api.post(f"{SITES}/{sid}/share-links", json={}, token=token)
    headers = {"X-Share-Token": link.json["share_link"]["token"]}
    shared = await api.get("/api/v1/share/stats/goals?filters=country==DE", headers=headers)
    assert shared.status == 200 and shared.json["visitors"] == 2
    shared_engagement = await api.get("/api/v1/share/stats/engagement", headers=headers)
    assert shared_engagement.status == 200 and shared_engagement.json["overall"]["views"] == 3
    shared_history = await api.get("/api/v1/share/stats/history", headers=headers)  # imported days merged
    assert shared_history.status == 200 and shared_history.json["totals"]["visitors"] == 3


async def test_page_titles_for_the_pages_asked(api: Any, ctx: Any) -> None:
    token, sid = await signed_up_site(api)
    await store_events(
        ctx,
        [
            event(sid, "pageview", "v1", "/pricing", title="Pricing · Shop", country="DE"),
            event(sid, "pageview", "v2", "/docs", title="Docs", country="US"),
            event(sid, "pageview", "v2", "/untitled"),
            event(sid, "signup", "v2", "/docs", title="Not a pageview"),
        ],
    )
    base = f"/api/v1/sites/{sid}/stats/titles"
    answer = await api.get(f"{base}?pages=/pricing&pages=/docs&pages=/untitled&pages=/nowhere", token=token)
    assert answer.status == 200, answer.json
    assert answer.json["titles"] == {"/pricing": "Pricing · Shop", "/docs": "Docs"}
    # the view's filters apply: /docs was seen from the United States only
    german = await api.get(f"{base}?pages=/pricing&pages=/docs&filters=country==DE", token=token)
    assert german.json["titles"] == {"/pricing": "Pricing · Shop"}
    too_many = "&".join(f"pages=/p{i}" for i in range(101))
    refused = await api.get(f"{base}?{too_many}", token=token)
    assert refused.status == 422 and "pages" in refused.json["error"]["fields"]
    assert (await api.get(base, token=await signup(api))).status == 404
