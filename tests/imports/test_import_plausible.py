"""Plausible CE's CSV export (a zip of imported_* daily tables covering two years, made here): merged into
the history answer, flagged as imported, never counted twice with live events of the same days; a bad row
reported by file and line; a re-import replaces the previous one and changes nothing; an unusable zip
fails with nothing kept."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from storage.records import Event
from tests.imports.helpers import refused_imports, run_import, zipped
from tests.support.accounts import make_site, signup
from tests.support.events import store_events
from tests.support.plausible_export import plausible_zip

DAYS = 730


def live(site_id: str, day: dt.date, visitor: str, path: str = "/") -> Event:
    ts = int(dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC).timestamp() * 1000)
    return Event(
        id=uuid.uuid4().hex,
        site_id=site_id,
        ts=ts,
        name="pageview",
        path=path,
        visitor_id=visitor,
        session_id=f"s-{visitor}",
        source="DuckDuckGo",
    )


async def test_two_years_merged_without_double_counting(api: Any, ctx: Any) -> None:
    token = await signup(api)
    site = await make_site(api, token)
    today = dt.datetime.now(dt.UTC).date()
    last = today - dt.timedelta(days=1)
    first = last - dt.timedelta(days=DAYS - 1)
    body, per_day = plausible_zip(first, last)
    job = await run_import(api, ctx, token, site["id"], "plausible", body)
    assert job["status"] == "done", job
    assert job["rows_skipped"] == 1 and job["errors"][0]["line"] == 102
    assert job["errors"][0]["message"].startswith(
        f"imported_visitors_{first:%Y%m%d}_{last:%Y%m%d}.csv line 102"
    )
    assert job["summary"]["tables"] == {
        "imported_visitors": DAYS,
        "imported_pages": 2 * DAYS,
        "imported_sources": 2 * DAYS,
    }
    assert job["summary"]["left_out"] == [f"imported_widgets_{first:%Y%m%d}_{last:%Y%m%d}.csv"]
    assert (job["summary"]["first_day"], job["summary"]["last_day"], job["summary"]["days"]) == (
        first.isoformat(),
        last.isoformat(),
        DAYS,
    )
    # Live events on two of the imported days, and today: those days show the live numbers only.
    overlap = [last, last - dt.timedelta(days=3)]
    await store_events(
        ctx,
        [
            live(site["id"], overlap[0], "a"),
            live(site["id"], overlap[0], "b", "/pricing"),
            live(site["id"], overlap[1], "a"),
            live(site["id"], today, "c"),
        ],
    )
    span = f"from={first.isoformat()}&to={today.isoformat()}&tz=UTC"
    history = await api.get(f"/api/v1/sites/{site['id']}/stats/history?{span}", token=token)
    assert history.status == 200, history.json
    answer = history.json
    days = {d["date"]: d for d in answer["days"]}
    assert len(days) == DAYS + 1 and answer["imported_days"] == DAYS - 2
    assert days[overlap[0].isoformat()] == {
        "date": overlap[0].isoformat(),
        "visitors": 2,
        "pageviews": 2,
        "visits": 2,
        "bounces": 2,
        "imported": False,
    }
    assert days[overlap[1].isoformat()]["visitors"] == 1 and not days[overlap[1].isoformat()]["imported"]
    assert (
        days[first.isoformat()]["imported"]
        and days[first.isoformat()]["visitors"] == per_day[first.isoformat()]["visitors"]
    )
    imported_only = {day: v for day, v in per_day.items() if day not in {d.isoformat() for d in overlap}}
    assert answer["totals"]["visitors"] == sum(v["visitors"] for v in imported_only.values()) + 3
    assert answer["totals"]["pageviews"] == sum(v["pageviews"] for v in imported_only.values()) + 4
    pages = {row["value"]: row["pageviews"] for row in answer["top_pages"]}
    assert pages["/pricing"] == 10 * (DAYS - 2) + 1
    assert pages["/"] == sum(v["pageviews"] - 10 for v in imported_only.values()) + 3
    sources = {row["value"]: row["visitors"] for row in answer["top_sources"]}
    assert sources["Newsletter"] == 3 * (DAYS - 2) and sources["DuckDuckGo"] == 3
    # The same file again: it replaces the first import, and the answer is the same.
    again = await run_import(api, ctx, token, site["id"], "plausible", body)
    assert again["status"] == "done"
    assert (await api.get(f"/api/v1/sites/{site['id']}/stats/history?{span}", token=token)).json == {
        **answer,
        "import_id": again["id"],
    }
    statuses = {
        j["id"]: j["status"]
        for j in (await api.get(f"/api/v1/sites/{site['id']}/imports", token=token)).json["imports"]
    }
    assert statuses == {job["id"]: "replaced", again["id"]: "done"}
    assert await ctx.stores.docs.count("imported_stats", {"import_id": job["id"]}) == 0


async def test_unusable_export_keeps_nothing(api: Any, ctx: Any) -> None:
    token = await signup(api)
    site = await make_site(api, token)
    day = dt.date(2024, 5, 1)
    no_visitors = zipped(
        {"imported_pages.csv": "date,hostname,page,visitors,pageviews\n2024-05-01,a,/,1,1\n"}
    )
    no_date = zipped({"imported_visitors.csv": "day,visitors\n2024-05-01,1\n"})
    cases = (
        (b"date,visitors\n", "not a zip"),
        (no_visitors, "imported_visitors"),
        (no_date, "date or visitors"),
    )
    for job in await refused_imports(api, ctx, token, site["id"], "plausible", cases):
        assert await ctx.stores.docs.count("imported_stats", {"import_id": job["id"]}) == 0
    history = await api.get(f"/api/v1/sites/{site['id']}/stats/history?from={day}&to={day}", token=token)
    assert history.json["import_id"] is None and history.json["days"][0]["imported"] is False
    # Asked only for imported history (as the dashboard asks), a site without an import scans nothing.
    only = await api.get(
        f"/api/v1/sites/{site['id']}/stats/history?from={day}&to={day}&if_imported=true", token=token
    )
    assert only.status == 200, only.json
    assert (only.json["imported_days"], only.json["days"], only.json["from"]) == (0, [], day.isoformat())
