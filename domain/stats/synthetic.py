"""Synthetic, realistic traffic for demos and benchmarks (never used by the server itself).

Sessions arrive with a diurnal curve (quiet nights, busy afternoons, in the site's timezone) and a weekly
one (weekends lighter); each session has one visitor (ids rotate per UTC day, like the ingest's daily
salt), 1-8 events a few seconds to minutes apart, a source with matching referrer and UTM tags, a country,
browser, OS and device; pages follow a Zipf-like popularity; some visitors are signed-in users with traits
and some sessions end in a signup or purchase with props.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import random
from collections.abc import Iterator
from zoneinfo import ZoneInfo

from storage.records import Event

DAY_MS = 86_400_000
PAGES = [
    "/",
    "/pricing",
    "/features",
    "/docs",
    "/docs/install",
    "/docs/api",
    "/docs/tracker",
    "/blog",
    "/about",
    "/contact",
    "/signup",
    "/login",
    "/changelog",
    "/careers",
    "/legal/privacy",
    "/legal/terms",
    *(f"/blog/post-{i}" for i in range(1, 35)),
]
SOURCES = [  # (source, referrer, utm_source, utm_medium, utm_campaign, weight)
    ("", "", "", "", "", 30),
    ("Google", "https://www.google.com/", "", "", "", 28),
    ("Bing", "https://www.bing.com/", "", "", "", 4),
    ("DuckDuckGo", "https://duckduckgo.com/", "", "", "", 3),
    ("Twitter", "https://t.co/", "twitter", "social", "launch", 6),
    ("Hacker News", "https://news.ycombinator.com/", "", "", "", 5),
    ("Reddit", "https://www.reddit.com/", "reddit", "social", "", 4),
    ("Newsletter", "", "newsletter", "email", "autumn-digest", 5),
    ("GitHub", "https://github.com/", "", "", "", 6),
    ("LinkedIn", "https://www.linkedin.com/", "linkedin", "social", "hiring", 2),
    ("Product Hunt", "https://www.producthunt.com/", "producthunt", "referral", "launch", 3),
    ("ads.example", "https://ads.example/", "adnet", "cpc", "brand", 4),
]
COUNTRIES = [("US", 30), ("DE", 14), ("GB", 10), ("FR", 7), ("IN", 8), ("BR", 5), ("CA", 5), ("JP", 4),
             ("NL", 4), ("ES", 3), ("PL", 3), ("AU", 3), ("SE", 2), ("IT", 2)]  # fmt: skip
DEVICES = [("desktop", "Windows", "Chrome", 30), ("desktop", "Mac OS X", "Safari", 10),
           ("desktop", "Mac OS X", "Chrome", 10), ("desktop", "Linux", "Firefox", 6),
           ("mobile", "iOS", "Mobile Safari", 22), ("mobile", "Android", "Chrome Mobile", 18),
           ("tablet", "iOS", "Mobile Safari", 4)]  # fmt: skip
SCREENS = {"desktop": "1920x1080", "mobile": "390x844", "tablet": "820x1180"}
AGE_BANDS = ["18-24", "25-34", "35-44", "45-54", "55+"]
# Relative traffic per local hour (0-23) and weekday (Monday first).
HOURLY = [2, 1, 1, 1, 1, 2, 4, 7, 10, 12, 13, 13, 12, 13, 14, 14, 13, 12, 11, 10, 9, 7, 5, 3]
WEEKLY = [1.0, 1.05, 1.05, 1.0, 0.9, 0.55, 0.5]
# Each page's title, made once (events repeat a few dozen paths millions of times).
_TITLES = {path: path.strip("/").replace("/", " · ").title() or "Home" for path in (*PAGES, "/", "/signup")}


def _cumulative(weights: list[float]) -> list[float]:
    total, out = 0.0, []
    for weight in weights:
        total += weight
        out.append(total)
    return out


class TrafficModel:
    """Draw sessions of one site; `events(start_ms, days, per_day)` yields events in batches."""

    def __init__(
        self, site_id: str, *, seed: int = 1, tz: str = "UTC", hostname: str = "shop.example"
    ) -> None:
        self.site_id = site_id
        self.rng = random.Random(seed)
        self.tz = ZoneInfo(tz)
        self.hostname = hostname
        page_weights = [1 / (rank + 1) ** 1.1 for rank in range(len(PAGES))]
        self._pages = _cumulative(page_weights)
        self._sources = _cumulative([s[5] for s in SOURCES])
        self._countries = _cumulative([c[1] for c in COUNTRIES])
        self._devices = _cumulative([d[3] for d in DEVICES])
        self._hours = _cumulative([float(h) for h in HOURLY])
        self._seq = 0
        self._urls = {path: f"https://{hostname}{path}" for path in (*PAGES, "/", "/signup")}

    def _pick(self, cumulative: list[float]) -> int:
        return bisect.bisect_left(cumulative, self.rng.random() * cumulative[-1])

    def day_sessions(self, day: dt.date, per_day: float) -> int:
        """How many sessions a day gets (weekly shape and noise around `per_day`)."""
        mean = per_day * WEEKLY[day.weekday()]
        return max(0, int(self.rng.gauss(mean, math.sqrt(mean) + mean * 0.05)))

    def session(self, start_ms: int, people: int) -> list[Event]:
        """One session starting at `start_ms` by one of `people` recurring people."""
        rng = self.rng
        person = int(people * rng.random() ** 2)  # a few people return often
        utc_day = start_ms // DAY_MS
        visitor = f"{(person * 2654435761 + utc_day * 40503) & 0xFFFFFFFFFFFF:012x}"
        signed_in = person % 7 == 0
        source, referrer, utm_source, utm_medium, utm_campaign, _ = SOURCES[self._pick(self._sources)]
        device, os_name, browser, _ = DEVICES[self._pick(self._devices)]
        country = COUNTRIES[self._pick(self._countries)][0]
        self._seq += 1
        session_id = f"s{self._seq:x}{rng.getrandbits(24):06x}"
        traits = (
            {"age_band": AGE_BANDS[person % len(AGE_BANDS)], "gender": "f" if person % 2 else "m"}
            if signed_in
            else {}
        )
        count = 1 if rng.random() < 0.42 else min(8, 2 + int(rng.expovariate(0.5)))
        events = []
        ts = start_ms
        for index in range(count):
            path = PAGES[self._pick(self._pages)] if index or rng.random() < 0.6 else "/"
            name, props = "pageview", {}
            if index == count - 1 and count > 2 and rng.random() < 0.25:
                name = "signup" if rng.random() < 0.7 else "purchase"
                props = {"plan": rng.choice(["free", "pro", "team"]), "seats": rng.randint(1, 20)}
                path = "/signup"
            events.append(
                Event(
                    id=f"{session_id}-{index}",
                    site_id=self.site_id,
                    ts=ts,
                    name=name,
                    url=self._urls[path],
                    path=path,
                    hostname=self.hostname,
                    title=_TITLES[path],
                    referrer=referrer if index == 0 else "",
                    source=source,
                    utm_source=utm_source,
                    utm_medium=utm_medium,
                    utm_campaign=utm_campaign,
                    country=country,
                    browser=browser,
                    os=os_name,
                    device=device,
                    screen=SCREENS[device],
                    visitor_id=visitor,
                    session_id=session_id,
                    user_id=f"user-{person}" if signed_in else "",
                    props=props,
                    traits=traits,
                )
            )
            ts += int(rng.expovariate(1 / 45_000)) + 1000
        return events

    def events(
        self, first_day: dt.date, days: int, per_day: float, *, people: int = 20_000, batch: int = 20_000
    ) -> Iterator[list[Event]]:
        """Events of `days` days from `first_day` (local dates), ~`per_day` sessions a day, in batches."""
        out: list[Event] = []
        for offset in range(days):
            day = first_day + dt.timedelta(days=offset)
            midnight = int(dt.datetime(day.year, day.month, day.day, tzinfo=self.tz).timestamp() * 1000)
            for _ in range(self.day_sessions(day, per_day)):
                hour = self._pick(self._hours)
                start = midnight + hour * 3_600_000 + int(self.rng.random() * 3_600_000)
                out.extend(self.session(start, people))
                if len(out) >= batch:
                    yield out
                    out = []
        if out:
            yield out
