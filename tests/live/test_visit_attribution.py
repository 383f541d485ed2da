"""Sessions are first-class: a visit that lands from Google and clicks through three pages is one visit
under Google, in the stats (summary, sources, referrers, utm) and in the live panel's sources."""

from __future__ import annotations

from handlers.context import AppContext
from tests.ingest.helpers import stored
from tests.support.api import Api
from tests.support.ingest_sites import BROWSER_UA, ORIGIN, api_site_keys
from tests.support.live import dashboard, receive_until

PAGES = [
    ("https://shop.example/landing?utm_source=google&utm_medium=cpc", "https://www.google.com/search?q=x"),
    ("https://shop.example/pricing", "https://shop.example/landing"),
    ("https://shop.example/signup", "https://shop.example/pricing"),
]


async def test_three_page_visit_from_google_is_one_visit_under_google(
    api: Api, ctx: AppContext, port: int
) -> None:
    site = await api_site_keys(api)
    live = await dashboard(port, site.site_id, site.token)
    await receive_until(live, lambda m: m["type"] == "snapshot")
    headers = {"Origin": ORIGIN, "User-Agent": BROWSER_UA, "X-Api-Key": site.public["key"]}
    for url, referrer in PAGES:  # three page loads, each its own request, as a browser sends them
        body = {"name": "pageview", "url": url, "referrer": referrer}
        answer = await api.post("/api/v1/collect", json=body, headers=headers)
        assert answer.status == 202, answer.json
    rows = await stored(ctx, site.site_id)
    assert len({row.session_id for row in rows}) == 1
    # every event of the visit carries where the visit came from, internal referrers never become a source
    assert {(row.source, row.utm_source, row.referrer) for row in rows} == {
        ("google", "google", "https://www.google.com/search?q=x")
    }

    base = f"/api/v1/sites/{site.site_id}/stats"
    summary = await api.get(f"{base}/summary", token=site.token)
    assert summary.json["results"]["visits"]["value"] == 1
    assert summary.json["results"]["pageviews"]["value"] == 3
    for by in ("source", "utm_source", "referrer", "utm_medium"):
        answer = await api.get(f"{base}/breakdown?by={by}", token=site.token)
        assert answer.status == 200, answer.json
        [row] = answer.json["results"]
        assert (row["visits"], row["visitors"], row["pageviews"]) == (1, 1, 3), (by, row)
    [entry] = (await api.get(f"{base}/breakdown?by=entry_page", token=site.token)).json["results"]
    assert (entry["value"], entry["visits"]) == ("/landing", 1)
    [exit_page] = (await api.get(f"{base}/breakdown?by=exit_page", token=site.token)).json["results"]
    assert (exit_page["value"], exit_page["visits"]) == ("/signup", 1)

    seen: list[dict] = []

    def all_three(message: dict) -> bool:
        seen.append(message)
        return sum(len(m.get("recent", [])) for m in seen if m["type"] == "tick") >= 3

    tick = await receive_until(live, all_three)
    assert tick["top_sources"] == [{"value": "google", "count": 1}]
    assert tick["top_pages"] == [{"value": p, "count": 1} for p in ("/landing", "/pricing", "/signup")]
    live.close()
