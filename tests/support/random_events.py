"""Random events and filter conditions for the differential tests of the analytics engine
(tests/test_engine_differential.py) and of the MongoDB translation (tests/test_mongo_mongomock.py)."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import msgspec

from storage.ports import GROUP_FIELDS, Condition
from storage.records import Event
from tests.support.event_match import prop_text

HOUR = 3_600_000
DAY = 24 * HOUR
# Ten days around Europe/Berlin's spring change (2026-03-29) and America/New_York's (03-08 is before).
START = int(dt.datetime(2026, 3, 24, tzinfo=dt.UTC).timestamp() * 1000)
SPAN = 10 * DAY
ZONES = ["UTC", "Europe/Berlin", "Asia/Kolkata", "America/New_York"]
PATHS = ["/", "/pricing", "/blog/a", "/blog/b", "/docs", "/docs/api", "/über"]
FIELDS = sorted(GROUP_FIELDS)
FIELD_VALUES: dict[str, list[str]] = {
    "name": ["pageview", "pageview", "pageview", "signup", "purchase"],
    "source": ["", "Google", "Twitter", "news.example"],
    "referrer": ["", "https://google.com/", "https://t.co/"],
    "country": ["", "DE", "GB", "US", "IN"],
    "browser": ["Firefox", "Chrome", "Safari"],
    "os": ["Linux", "Windows", "iOS"],
    "device": ["desktop", "mobile", "tablet"],
    "hostname": ["shop.example", "www.shop.example"],
    "screen": ["", "1920x1080", "390x844"],
    "utm_source": ["", "google", "newsletter"],
    "utm_medium": ["", "cpc", "email"],
    "utm_campaign": ["", "spring", "launch"],
    "utm_term": ["", "shoes"],
    "utm_content": ["", "banner", "text"],
}
PROP_VALUES: list[Any] = ["free", "pro", 1, 2, 3, 2.5, 0.1, True, False, "2"]


def make_events(rng: random.Random, daily_ids: bool = False) -> list[Event]:
    """Random events; with `daily_ids` visitor ids rotate with each event's UTC day (a visit that crosses
    midnight then holds two visitors, as an import may), so most visitors and visits stay inside one
    local day (what the rollups pre-aggregate) and some link day-crossing visits to contained visitors."""
    events: list[Event] = []
    for s in range(rng.randrange(60, 140)):
        site = "s1" if s % 7 else "s2"
        ts = START + rng.randrange(SPAN)
        person = f"v{rng.randrange(40)}"
        session = "" if rng.random() < 0.1 else f"sess{s}"
        common = {name: rng.choice(values) for name, values in FIELD_VALUES.items() if name != "name"}
        for k in range(rng.choice([1, 1, 2, 3, 5])):
            if rng.random() < 0.2:  # a client-made session whose events disagree (imports, own ids)
                common = {**common, "source": rng.choice(FIELD_VALUES["source"])}
            props: dict[str, Any] = {}
            if rng.random() < 0.5:
                props = {"plan": rng.choice(PROP_VALUES), "seats": rng.choice(PROP_VALUES)}
            events.append(
                Event(
                    id=f"e{s}-{k}",
                    site_id=site,
                    ts=ts,
                    name=rng.choice(FIELD_VALUES["name"]),
                    path=rng.choice(PATHS),
                    visitor_id=person + (f"@{ts // DAY}" if daily_ids else ""),
                    session_id=session,
                    user_id=f"u{person}" if person.endswith("3") else "",
                    props=props,
                    traits={"plan": rng.choice(["a", "b"])} if rng.random() < 0.2 else {},
                    **common,
                )
            )
            ts += rng.randrange(1, 40 * 60) * 1000
    return events


def _mangle(rng: random.Random, text: str) -> str:
    """A piece of `text` for `contains`, its letters' case changed at random (the match ignores it)."""
    if text and rng.random() < 0.8:
        lo = rng.randrange(len(text))
        text = text[lo : rng.randrange(lo, len(text)) + 1]
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in text)


def random_condition(rng: random.Random, sample: Event) -> Condition:
    """A negation, contains (case changed, non-ASCII letters too) or several values, on a field, a prop
    or a trait, often built from a stored event's values so it keeps some events."""
    op = rng.choice(["is", "is", "contains", "contains", "starts_with"])
    kind = rng.choice(["field", "field", "field", "prop", "trait"])
    if op == "starts_with":
        kind = "field"
    if kind == "field":
        name = rng.choice([*(f for f in FIELDS if f in FIELD_VALUES), "path", "path"])
        pool = PATHS if name == "path" else FIELD_VALUES[name]
        if op == "starts_with":
            name, pool = "path", ["/blog/", "/docs", "/", "/p", "/ü"]
        first = getattr(sample, name) if rng.random() < 0.5 and op == "is" else rng.choice(pool)
    elif kind == "prop":
        name = rng.choice(["plan", "seats"])
        pool = [prop_text(v) or "" for v in PROP_VALUES]
        first = rng.choice(pool)
    else:
        name, pool = "plan", ["a", "b", "c"]
        first = rng.choice(pool)
    values = [first, *(rng.choice(pool) for _ in range(rng.choice([0, 0, 1, 2])))]
    if op == "contains":
        values = [_mangle(rng, v) or "e" for v in values]
    return Condition(kind=kind, name=name, op=op, values=tuple(values), negate=rng.random() < 0.5)


def with_ties(rng: random.Random, events: list[Event], count: int = 15) -> list[Event]:
    """`events` plus `count` copies of random ones at the same millisecond with another id, name and
    path: one person's events tied in time (the (ts, id) order then decides, in every store)."""
    extra = []
    for n in range(count):
        twin = rng.choice(events)
        extra.append(
            msgspec.structs.replace(
                twin,
                id=f"{rng.choice(['a', 'e', 'z'])}tie{n}",
                name=rng.choice(FIELD_VALUES["name"]),
                path=rng.choice(PATHS),
            )
        )
    return [*events, *extra]


async def store_randomly(store: Any, rng: random.Random, events: list[Event]) -> None:
    """Append `events` in random order (late events), in random batches, some appended twice (retries,
    stored once), with compaction passes at random points: answers read segments and the log's tail."""
    order = list(events)
    rng.shuffle(order)
    position = 0
    while position < len(order):
        size = rng.randrange(1, 40)
        batch = order[position : position + size]
        await store.append(batch)
        if rng.random() < 0.3:
            await store.append(batch)
        if rng.random() < 0.25:
            await store.compact_now()
        position += size
