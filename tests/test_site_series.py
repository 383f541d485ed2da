"""The site analytics series: pageviews and events per site from durable batches (through the real
collect endpoint), and visitors now per site from the live module's member sets."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.context import AppContext
from tests.support.api import Api
from tests.support.events import make_events, store_events
from tests.support.scrape import value
from tests.support.sites import make_key, make_site
from tests.support.until import until


async def scrape(api: Api) -> str:
    return (await api.get("/metrics", expect_json=False)).body.decode()


async def test_pageviews_and_events_per_site_through_collect(ctx: AppContext, api: Api) -> None:
    first = await make_site(ctx)
    second = await make_site(ctx)
    for site, views, others in ((first, 3, 2), (second, 1, 0)):
        key = await make_key(ctx, site["id"])
        events = [{"name": "pageview", "url": "https://shop.example/"}] * views
        events += [{"name": "download", "url": "https://shop.example/f"}] * others
        answer = await api.post("/api/v1/collect", json={"events": events}, headers={"X-Api-Key": key})
        assert answer.status == 202 and answer.json["accepted"] == views + others
    text = await scrape(api)
    assert value(text, "eddy_site_pageviews_total", site=first["id"]) == 3
    assert value(text, "eddy_site_events_total", site=first["id"]) == 5
    assert value(text, "eddy_site_pageviews_total", site=second["id"]) == 1
    assert value(text, "eddy_site_events_total", site=second["id"]) == 1


class TestVisitorsNow:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {"visitors_now_refresh_s": 0.2}

    async def test_visitors_now_per_site(self, ctx: AppContext, api: Api) -> None:
        site = await make_site(ctx)
        events = make_events(site["id"], pageviews=5, others=1)  # visitors v0..v5
        for event in events:
            event.visitor_id = f"visitor-{int(event.visitor_id[1:]) % 4}"
        await store_events(ctx, events)

        async def four_now() -> bool:
            return value(await scrape(api), "eddy_site_visitors_now", site=site["id"]) == 4

        await until(four_now, timeout=10, interval=0.1)


class TestVisitorsNowSeriesAppearsWithTheSite:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {"visitors_now_refresh_s": 3600.0}  # no refresh during the test

    async def test_the_series_exists_from_the_sites_first_event(self, ctx: AppContext, api: Api) -> None:
        # Before, the series appeared only at the next refresh (every 5 s): two scrapes around that
        # moment differed by one series, and tests comparing series counts failed by the clock.
        site = await make_site(ctx)
        key = await make_key(ctx, site["id"])
        assert value(await scrape(api), "eddy_site_visitors_now", site=site["id"]) is None
        events = [{"name": "pageview", "url": "https://shop.example/"}]
        answer = await api.post("/api/v1/collect", json={"events": events}, headers={"X-Api-Key": key})
        assert answer.status == 202
        assert value(await scrape(api), "eddy_site_visitors_now", site=site["id"]) == 0
