"""Umami's raw tables as a database export writes them (a zip of website_event.csv and session.csv),
made up for the import tests and benchmark, with what they hold."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import uuid
import zipfile
from collections import Counter
from typing import Any

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


def umami_zip(days: int = 90, events: int = 100_000) -> tuple[bytes, dict[str, Any]]:
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
            for index in range(events):
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
