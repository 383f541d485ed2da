"""Fixed event sets shared by the query, event-store and MongoDB tests: the conformance fixture (160
varied sessions, some across the October 2025 DST change), events spread around other zones' DST
changes, three days of daily visitors, and `ms()` to write instants."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from storage.records import Event

UTC = dt.UTC
NOW = int(dt.datetime(2025, 11, 1, 12, tzinfo=UTC).timestamp() * 1000)
PATHS = ["/", "/pricing", "/blog/a", "/blog/b", "/docs"]
SOURCES = [
    ("", "", ""),
    ("Google", "google", ""),
    ("news.example", "nl", "email"),
    ("Twitter", "tw", "social"),
]


def ms(*args: int, tz: dt.tzinfo = UTC) -> int:
    """Milliseconds since the epoch of a wall-clock time (UTC unless `tz` says otherwise)."""
    return int(dt.datetime(*args, tzinfo=tz).timestamp() * 1000)  # type: ignore[misc]


def make_fixture() -> list[Event]:
    """Deterministic, varied events: 160 sessions of 1-6 events, some around the DST change."""
    rng = random.Random(20251026)
    out: list[Event] = []
    month = ms(2025, 10, 1)
    dst = ms(2025, 10, 25, 22)  # Oct 26 00:00 CEST; clocks go back at 01:00 UTC
    for s in range(160):
        visitor = rng.randrange(50)
        user = f"u{visitor}" if visitor % 3 == 0 else ""
        start = (dst if s % 5 == 0 else month) + rng.randrange(
            0, (6 if s % 5 == 0 else 30 * 24) * 3600
        ) * 1000
        source, utm_source, utm_medium = rng.choice(SOURCES)
        common: dict[str, Any] = {
            "site_id": "s1",
            "visitor_id": f"v{visitor}",
            "session_id": f"sess{s}",
            "user_id": user,
            "source": source,
            "referrer": f"https://{source.lower()}/" if source else "",
            "utm_source": utm_source,
            "utm_medium": utm_medium,
            "utm_campaign": rng.choice(["", "autumn", "launch"]),
            "utm_term": rng.choice(["", "analytics"]),
            "utm_content": rng.choice(["", "banner"]),
            "country": rng.choice(["DE", "GB", "US", ""]),
            "browser": rng.choice(["Firefox", "Chrome", "Safari"]),
            "os": rng.choice(["Linux", "Windows", "iOS"]),
            "device": rng.choice(["desktop", "mobile", "tablet"]),
            "hostname": "shop.example",
            "traits": {"age_band": rng.choice(["18-24", "25-34"]), "gender": rng.choice(["f", "m"])}
            if user
            else {},
        }
        ts = start
        for k in range(rng.choice([1, 1, 2, 3, 4, 6])):
            name = "pageview" if rng.random() < 0.7 else rng.choice(["signup", "purchase"])
            props: dict[str, Any] = {}
            if name != "pageview" or rng.random() < 0.3:
                props = {"plan": rng.choice(["free", "pro"]), "seats": rng.randrange(1, 4)}
            out.append(Event(id=f"e{s}-{k}", ts=ts, name=name, path=rng.choice(PATHS), props=props, **common))
            ts += rng.randrange(1, 900) * 1000
    for i in range(12):  # events without a session: each is its own visit
        out.append(
            Event(
                id=f"lone{i}",
                site_id="s1",
                ts=month + rng.randrange(0, 30 * 86400) * 1000,
                name="pageview",
                path=rng.choice(PATHS),
                visitor_id=f"v{rng.randrange(50)}",
            )
        )
    out.append(Event(id="other", site_id="s2", ts=month + 1000, name="pageview", path="/", visitor_id="x"))
    return out


FIXTURE = make_fixture()


ZONES = ["Asia/Colombo", "Australia/Lord_Howe", "Pacific/Norfolk", "Asia/Kathmandu", "Europe/Berlin"]


def spread_events() -> list[Event]:
    """Events every 7 min 13 s over days around Lord Howe's and Norfolk's DST changes (April and
    October 2025), in sessions of four, with float, int, bool and string props."""
    out = []
    props: list[dict[str, Any]] = [
        {"x": 2.0},
        {"x": 1e-05},
        {"x": 3},
        {"x": True},
        {"x": "2.0"},
        {"x": 0.1 + 0.2},
        {},
    ]
    for start in (ms(2025, 4, 5, 10), ms(2025, 10, 4, 10)):
        for i in range(400):
            out.append(
                Event(
                    id=f"e{start}-{i}",
                    site_id="s1",
                    ts=start + i * 433_000,
                    name="pageview" if i % 3 else "signup",
                    path=f"/p{i % 5}",
                    visitor_id=f"v{i % 37}",
                    session_id=f"s{i // 4}",
                    props=props[i % len(props)],
                )
            )
    return out


def daily_visitor_events(sessions_per_day: int = 300) -> list[Event]:
    """Three whole UTC days; visitor ids scoped to their UTC day (as the daily salt makes them), sessions
    of three events a few minutes apart, all before 20:05 UTC (so each UTC day lies in one Berlin day)."""
    out = []
    base = ms(2025, 6, 2)
    sources, countries = ["", "Google", "news.example"], ["DE", "GB", "US", ""]
    for day in range(3):
        for i in range(sessions_per_day):
            start = base + day * 86_400_000 + (i * 271_000) % (20 * 3_600_000)
            for k in range(3):
                out.append(
                    Event(
                        id=f"r{day}-{i}-{k}",
                        site_id="s1",
                        ts=start + k * 97_000,
                        name="pageview" if (i + k) % 4 else "signup",
                        path=f"/r{(i + k) % 6}",
                        source=sources[i % 3],
                        country=countries[i % 4],
                        device=["desktop", "mobile"][i % 2],
                        visitor_id=f"d{day}-v{i % 53}",
                        session_id=f"rs{day}-{i}",
                    )
                )
    return out


T0 = 1_750_000_000_000  # a fixed instant (ms)
