"""Umami's raw tables exported as CSV (a zip of website_event.csv and session.csv with 100,000 events made
here): totals checked through the store and the stats API, fields mapped as Eddy's own ingest maps them,
bad rows reported by line, and a re-import that changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from storage.ports import EventFilter
from tests.imports.helpers import FOREVER, event_count, refused_imports, run_import, zipped
from tests.support.accounts import make_site, signup
from tests.support.umami_export import EVENT_COLUMNS, EVENTS, SESSION_COLUMNS, umami_zip


# 100k rows parsed, enriched and stored, then imported again: the heaviest import test (a loaded 2-core box
# took longer than the default 120 s). The timeout guards against a hang, not against a slow machine.
@pytest.mark.timeout(600)
async def test_umami_csv_pair_of_100k_rows(api: Any, ctx: Any) -> None:
    token = await signup(api)
    site = await make_site(api, token, domain="shop.example")
    body, expected = umami_zip()
    job = await run_import(api, ctx, token, site["id"], "umami", body)
    assert job["status"] == "done", job
    bad = len(expected["bad_lines"])
    assert (job["rows_read"], job["rows_imported"], job["rows_skipped"]) == (EVENTS + bad, EVENTS, bad)
    assert [e["line"] for e in job["errors"]] == expected["bad_lines"]
    assert all(e["message"].startswith(f"website_event.csv line {e['line']}: ") for e in job["errors"])
    assert job["summary"]["days"] >= 89
    assert await event_count(ctx, site["id"]) == EVENTS
    span = f"from={job['summary']['first_day']}&to={job['summary']['last_day']}"
    summary = await api.get(f"/api/v1/sites/{site['id']}/stats/summary?{span}", token=token)
    assert summary.json["results"]["pageviews"]["value"] == expected["pageviews"]
    events = await api.get(
        f"/api/v1/sites/{site['id']}/stats/breakdown?by=event&limit=10&{span}", token=token
    )
    counts = {row["value"]: row["events"] for row in events.json["results"]}
    assert (
        counts["signup"] == expected["custom"]["signup"]
        and counts["purchase"] == expected["custom"]["purchase"]
    )
    countries = await api.get(f"/api/v1/sites/{site['id']}/stats/breakdown?by=country&{span}", token=token)
    assert {row["value"]: row["events"] for row in countries.json["results"]} == dict(expected["country"])
    sample = None
    async for batch in ctx.stores.events.read(EventFilter(site_id=site["id"], start=0, end=FOREVER)):
        sample = next((e for e in batch if e.utm_source == "newsletter" and e.name == "pageview"), None)
        if sample:
            break
    assert sample is not None and sample.id.startswith("umami:") and sample.source == "newsletter"
    assert sample.hostname == "shop.example" and sample.path.startswith("/docs/")
    assert sample.browser in {"Chrome", "Firefox", "Mobile Safari", "Edge"} and sample.country in {
        "DE",
        "US",
        "FR",
    }
    again = await run_import(api, ctx, token, site["id"], "umami", body)
    assert (again["status"], again["rows_imported"], again["rows_duplicate"]) == ("done", 0, EVENTS)
    assert await event_count(ctx, site["id"]) == EVENTS
    resummary = await api.get(f"/api/v1/sites/{site['id']}/stats/summary?{span}", token=token)
    assert resummary.json["results"]["pageviews"]["value"] == expected["pageviews"]


async def test_umami_files_that_cannot_be_read(api: Any, ctx: Any) -> None:
    token = await signup(api)
    site = await make_site(api, token)
    only_events = zipped({"website_event.csv": ",".join(EVENT_COLUMNS) + "\n"})
    missing_column = zipped(
        {"session.csv": ",".join(SESSION_COLUMNS) + "\n", "website_event.csv": "event_id,session_id\n1,2\n"}
    )
    cases = (
        (b"event_id,session_id\n", "not a zip"),
        (only_events, "session.csv"),
        (missing_column, "lacks the column"),
    )
    await refused_imports(api, ctx, token, site["id"], "umami", cases)
    assert await event_count(ctx, site["id"]) == 0
