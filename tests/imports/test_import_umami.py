"""Umami's raw tables exported as CSV (a zip of website_event.csv and session.csv with 100,000 events made
here): totals checked through the store and the stats API, fields mapped as Eddy's own ingest maps them,
bad rows reported by line, and a re-import that changes nothing."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import uuid
import zipfile
from collections import Counter
from typing import Any

from storage.ports import EventFilter
from tests.imports.helpers import FOREVER, event_count, run_import
from tests.support.accounts import make_site, signup

EVENTS = 100_000
SESSIONS = 4_000
EVENT_COLUMNS = [
    "event_id",
    "website_id",
    "session_id",
    "visit_id",
    "created_at",
    "url_path",
    "url_query",
    "referrer_path",
    "referrer_query",
    "referrer_domain",
    "page_title",
    "event_type",
    "event_name",
]
SESSION_COLUMNS = [
    "session_id",
    "website_id",
    "hostname",
    "browser",
    "os",
    "device",
    "screen",
    "language",
    "country",
]


def umami_zip(days: int = 90) -> tuple[bytes, dict[str, Any]]:
    """The zip and what it holds (pageviews, custom events by name, events per country, bad lines)."""
    rng = random.Random(21)
    website = str(uuid.uuid4())
    now = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)
    sessions = []
    for _ in range(SESSIONS):
        sessions.append(
            [
                str(uuid.UUID(int=rng.getrandbits(128))),
                website,
                "www.shop.example",
                rng.choice(["chrome", "firefox", "ios", "edge-chromium"]),
                rng.choice(["Mac OS", "Windows 10", "iOS", "Android OS"]),
                rng.choice(["desktop", "laptop", "mobile", "tablet"]),
                "1920x1080",
                "en-US",
                rng.choice(["DE", "US", "FR"]),
            ]
        )
    country = {row[0]: row[8] for row in sessions}
    expected: dict[str, Any] = {"pageviews": 0, "custom": Counter(), "country": Counter(), "bad_lines": []}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("session.csv", "w") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            writer = csv.writer(text)
            writer.writerow(SESSION_COLUMNS)
            writer.writerows(sessions)
            text.flush()
            text.detach()
        with archive.open("website_event.csv", "w") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            writer = csv.writer(text)
            writer.writerow(EVENT_COLUMNS)
            line = 1
            for index in range(EVENTS):
                session = sessions[index % SESSIONS]
                when = now - dt.timedelta(seconds=rng.randrange(days * 86400))
                custom = index % 10 == 0
                name = rng.choice(["signup", "purchase"]) if custom else ""
                query = "utm_source=newsletter" if index % 50 == 1 else ""
                referrer = "www.google.com" if index % 4 == 2 else ""
                writer.writerow(
                    [
                        str(uuid.UUID(int=rng.getrandbits(128))),
                        website,
                        session[0],
                        str(uuid.UUID(int=rng.getrandbits(128) if index % 3 else index)),
                        when.strftime("%Y-%m-%d %H:%M:%S"),
                        f"/docs/{index % 40}",
                        query,
                        "/search" if referrer else "",
                        "",
                        referrer,
                        f"Docs {index % 40}",
                        "2" if custom else "1",
                        name,
                    ]
                )
                line += 1
                if custom:
                    expected["custom"][name] += 1
                else:
                    expected["pageviews"] += 1
                expected["country"][country[session[0]]] += 1
                if index % 25_000 == 7:  # a bad row now and then: each kind once
                    kind = index // 25_000
                    bad = [str(uuid.uuid4()), website, session[0], "", when.strftime("%Y-%m-%d %H:%M:%S")]
                    bad += ["/x", "", "", "", "", "", "1", ""]
                    if kind == 0:
                        bad[4] = "yesterday"
                    elif kind == 1:
                        bad[2] = "no-such-session"
                    elif kind == 2:
                        bad[11] = "3"
                    else:
                        bad[11], bad[12] = "2", ""
                    writer.writerow(bad)
                    line += 1
                    expected["bad_lines"].append(line)
            text.flush()
            text.detach()
    return buffer.getvalue(), expected


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
    only_events = io.BytesIO()
    with zipfile.ZipFile(only_events, "w") as archive:
        archive.writestr("website_event.csv", ",".join(EVENT_COLUMNS) + "\n")
    missing_column = io.BytesIO()
    with zipfile.ZipFile(missing_column, "w") as archive:
        archive.writestr("session.csv", ",".join(SESSION_COLUMNS) + "\n")
        archive.writestr("website_event.csv", "event_id,session_id\n1,2\n")
    for body, words in (
        (b"event_id,session_id\n", "not a zip"),
        (only_events.getvalue(), "session.csv"),
        (missing_column.getvalue(), "lacks the column"),
    ):
        job = await run_import(api, ctx, token, site["id"], "umami", body)
        assert job["status"] == "failed" and words in job["message"], job
    assert await event_count(ctx, site["id"]) == 0
