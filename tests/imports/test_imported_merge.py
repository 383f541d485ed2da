"""Imported Plausible days merged into summary, time series and breakdowns (`with_imported=true`), against a
plain reference over random data: random imported tables and random live events over random ranges in
several timezones (DST and +05:30 included). Every live event is its own visitor and visit (a pageview),
so the live side of the reference is plain counting and the test checks the merge itself: which days are
imported (those without a live event in the query's timezone), which bucket a day lands in, the split
between the range and its previous period, the spelling of imported values, and the top after merging."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain.stats import imported as imports
from domain.stats.buckets import bucket_starts
from domain.stats.cache import StatsCache
from domain.stats.imported import ImportedHistory
from domain.stats.query import local_midnight_ms, parse_query
from domain.stats.service import StatsService
from storage.embedded.documents import SqliteDocumentStore
from storage.embedded.events import SqliteEventStore
from storage.embedded.memory_kv import MemoryKeyValue
from storage.records import Event
from tests.support.answers import as_json

SITE = "merge-site"
ZONES = ("UTC", "Europe/Berlin", "Asia/Kolkata", "America/New_York")
FIRST = dt.date(2025, 9, 1)
SPAN_DAYS = 120
PAGES = ("/", "/pricing", "/blog/a", "/docs")
SOURCES = ("Google", "Newsletter", "DuckDuckGo", "")
DEVICES = {"Desktop": "desktop", "Mobile": "mobile", "Tablet": "tablet"}
OSES = {"Mac": "Mac OS X", "GNU/Linux": "Linux", "Windows": "Windows"}
NOW = dt.datetime(2026, 1, 15, 12, tzinfo=dt.UTC).timestamp()


def imported_tables(rng: random.Random) -> dict[str, dict[str, list[Any]]]:
    """day → table → rows, for random days of the span."""
    days: dict[str, dict[str, list[Any]]] = {}
    for n in range(SPAN_DAYS):
        if rng.random() < 0.3:
            continue
        day = (FIRST + dt.timedelta(days=n)).isoformat()
        visitors = rng.randint(1, 40)
        visits = visitors + rng.randint(0, 5)
        pageviews = visits + rng.randint(0, 30)
        days[day] = {
            "imported_visitors": [
                [
                    [],
                    {
                        "visitors": visitors,
                        "visits": visits,
                        "pageviews": pageviews,
                        "bounces": rng.randint(0, visits),
                        "visit_duration": rng.randint(0, 5000),
                    },
                ]
            ],
            "imported_pages": [
                [["shop.example", page], {"visitors": rng.randint(1, 9), "pageviews": rng.randint(1, 20)}]
                for page in rng.sample(PAGES, rng.randint(1, len(PAGES)))
            ],
            "imported_sources": [
                [
                    [source, "", "", "", "", "", ""],
                    {"visitors": rng.randint(1, 9), "visits": rng.randint(1, 9)},
                ]
                for source in rng.sample(SOURCES, rng.randint(1, len(SOURCES)))
            ],
            "imported_devices": [
                [[device], {"visitors": rng.randint(1, 9), "visits": rng.randint(1, 9)}]
                for device in rng.sample(sorted(DEVICES), rng.randint(1, 3))
            ],
            "imported_operating_systems": [
                [[name, ""], {"visitors": rng.randint(1, 9), "visits": rng.randint(1, 9)}]
                for name in rng.sample(sorted(OSES), rng.randint(1, 3))
            ],
        }
    return days


def live_events(rng: random.Random) -> list[Event]:
    """Random pageviews, each its own visitor and visit."""
    start = dt.datetime.combine(FIRST, dt.time(), tzinfo=dt.UTC).timestamp()
    events = []
    for n in range(rng.randint(20, 120)):
        ts = int((start + rng.uniform(0, SPAN_DAYS * 86_400)) * 1000)
        events.append(
            Event(
                id=f"e{n}",
                site_id=SITE,
                ts=ts,
                name="pageview",
                path=rng.choice(PAGES),
                source=rng.choice(SOURCES),
                device=rng.choice(list(DEVICES.values())),
                os=rng.choice(list(OSES.values())),
                visitor_id=f"v{n}",
                session_id=f"s{n}",
            )
        )
    return events


class Reference:
    """The merged answers computed plainly: live days counted from the events, other days imported."""

    def __init__(self, tables: dict[str, dict[str, list[Any]]], events: list[Event], tz: str) -> None:
        self.tables, self.events, self.zone = tables, events, ZoneInfo(tz)

    def day(self, ms: int) -> str:
        return dt.datetime.fromtimestamp(ms / 1000, tz=self.zone).date().isoformat()

    def imported_days(self, start: int, end: int) -> list[str]:
        live = {self.day(e.ts) for e in self.events if start <= e.ts < end}
        first, last = self.day(start), self.day(end - 1)
        return [d for d in self.tables if first <= d <= last and d not in live]

    def totals(self, start: int, end: int) -> Counter[str]:
        counts: Counter[str] = Counter()
        for event in self.events:
            if start <= event.ts < end:
                counts.update(visitors=1, visits=1, pageviews=1, events=1, bounces=1)
        for day in self.imported_days(start, end):
            (_, metrics), *_ = self.tables[day]["imported_visitors"]
            counts.update({k: v for k, v in metrics.items() if k != "visit_duration"})
            counts["events"] += metrics["pageviews"]
            counts["duration"] += metrics["visit_duration"]
        return counts

    def series(self, start: int, end: int, unit: str, tz: str) -> dict[int, int]:
        starts = bucket_starts(start, end, unit, tz)

        def bucket(ms: int) -> int:
            return max(s for s in starts if s <= ms) if ms >= starts[0] else starts[0]

        visitors: Counter[int] = Counter()
        for event in self.events:
            if start <= event.ts < end:
                visitors[bucket(event.ts)] += 1
        for day in self.imported_days(start, end):
            midnight = local_midnight_ms(dt.date.fromisoformat(day), self.zone)
            visitors[bucket(midnight)] += self.tables[day]["imported_visitors"][0][1]["visitors"]
        return {s: visitors[s] for s in starts}

    def breakdown(self, start: int, end: int, by: str) -> Counter[str]:
        field = {"page": "path", "source": "source", "device": "device", "os": "os"}[by]
        table, position, _ = imports.BREAKDOWN_TABLES[by]
        spelling = {"device": DEVICES, "os": OSES}.get(by, {})
        visitors: Counter[str] = Counter()
        for event in self.events:
            if start <= event.ts < end:
                visitors[getattr(event, field)] += 1
        for day in self.imported_days(start, end):
            for key, metrics in self.tables[day].get(table, []):
                visitors[spelling.get(key[position], key[position])] += metrics["visitors"]
        return visitors


@pytest.fixture
async def stores(data_dir: Path) -> Any:
    events = SqliteEventStore(data_dir, compact_interval_s=None)
    docs = SqliteDocumentStore(data_dir)
    await events.open()
    await docs.open()
    yield events, docs
    await docs.close()
    await events.close()


async def load(events: Any, docs: Any, tables: dict[str, dict[str, list[Any]]], live: list[Event]) -> None:
    await docs.insert(
        "imports",
        {"id": "imp1", "site_id": SITE, "kind": "plausible", "status": "done", "finished_at": 1.0},
    )
    for day, by_table in tables.items():
        for table, rows in by_table.items():
            await docs.insert(
                "imported_stats",
                {
                    "id": f"imp1:{table}:{day}",
                    "site_id": SITE,
                    "import_id": "imp1",
                    "table": table,
                    "date": day,
                    "rows": rows,
                },
            )
    await events.append(live)


@pytest.mark.parametrize("seed", range(4))
async def test_merged_answers_equal_the_reference(stores: Any, seed: int) -> None:
    rng = random.Random(seed)
    events, docs = stores
    tables, live = imported_tables(rng), live_events(rng)
    await load(events, docs, tables, live)
    if seed % 2:
        await events.compact_now()  # half of the seeds answer from segments (and rollups)
    service = StatsService(
        events, StatsCache(MemoryKeyValue()), clock=lambda: NOW, imported=ImportedHistory(docs, events)
    )
    for _ in range(6):
        tz = rng.choice(ZONES)
        first = FIRST + dt.timedelta(days=rng.randint(-5, SPAN_DAYS - 10))
        last = first + dt.timedelta(days=rng.randint(0, 60))
        params = {"from": first.isoformat(), "to": last.isoformat(), "tz": tz, "with_imported": "true"}
        reference = Reference(tables, live, tz)
        query = parse_query(params, now_ms=int(NOW * 1000))
        previous = query.previous()

        summary = await as_json(service.summary(SITE, query))
        now, before = reference.totals(query.start, query.end), reference.totals(previous.start, previous.end)
        for name in ("visitors", "visits", "pageviews", "events"):
            assert summary["results"][name]["value"] == now[name], (seed, params, name)
            assert summary["results"][name]["previous"] == before[name], (seed, params, name)
        expected_rate = round(now["bounces"] * 100 / now["visits"], 2) if now["visits"] else 0.0
        assert summary["results"]["bounce_rate"]["value"] == expected_rate
        expected_duration = round(now["duration"] / now["visits"], 1) if now["visits"] else 0.0
        assert summary["results"]["visit_duration"]["value"] == expected_duration
        assert summary["imported"] == {
            "included": True,
            "days": len(reference.imported_days(query.start, query.end)),
            "import_id": "imp1",
        }

        for unit in ("day", "week", "month"):
            series = await as_json(
                service.timeseries(SITE, parse_query({**params, "interval": unit}, now_ms=int(NOW * 1000)))
            )
            expected = reference.series(query.start, query.end, unit, tz)
            assert [p["visitors"] for p in series["results"]] == list(expected.values()), (seed, params, unit)

        by = rng.choice(("page", "source", "device", "os"))
        limit = rng.randint(1, 5)
        answer = await as_json(
            service.breakdown(
                SITE, parse_query({**params, "by": by, "limit": str(limit)}, now_ms=int(NOW * 1000))
            )
        )
        wanted = reference.breakdown(query.start, query.end, by)
        ranked = sorted(wanted.items(), key=lambda item: (-item[1], item[0]))[:limit]
        assert [(r["value"], r["visitors"]) for r in answer["results"]] == ranked, (seed, params, by)


async def test_filters_hourly_series_and_props_leave_imports_out_and_say_why(stores: Any) -> None:
    events, docs = stores
    rng = random.Random(99)
    tables, live = imported_tables(rng), live_events(rng)
    await load(events, docs, tables, live)
    service = StatsService(
        events, StatsCache(MemoryKeyValue()), clock=lambda: NOW, imported=ImportedHistory(docs, events)
    )
    base = {
        "from": FIRST.isoformat(),
        "to": (FIRST + dt.timedelta(days=40)).isoformat(),
        "with_imported": "true",
    }
    now_ms = int(NOW * 1000)
    filtered = await as_json(service.summary(SITE, parse_query(base, ["page==/pricing"], now_ms=now_ms)))
    assert filtered["imported"] == {"included": False, "reason": imports.NOT_WITH_FILTERS}
    plain = await as_json(
        service.summary(
            SITE, parse_query({**base, "with_imported": "false"}, ["page==/pricing"], now_ms=now_ms)
        )
    )
    assert filtered["results"] == plain["results"] and "imported" not in plain
    hourly = await as_json(service.timeseries(SITE, parse_query({**base, "interval": "hour"}, now_ms=now_ms)))
    assert hourly["imported"]["reason"] == imports.NOT_HOURLY
    props = await as_json(service.breakdown(SITE, parse_query({**base, "by": "prop:plan"}, now_ms=now_ms)))
    assert props["imported"]["reason"] == imports.NOT_THIS_BREAKDOWN
    # Without an import, asking for one says so and answers the live numbers.
    await docs.update("imports", {"id": "imp1"}, {"status": "failed"})
    query = parse_query(base, now_ms=now_ms)
    none = await as_json(service.summary(SITE, query))
    assert none["imported"] == {"included": False, "reason": "The site has no imported history."}
    live_only = Reference({}, live, "UTC").totals(query.start, query.end)
    assert none["results"]["visitors"]["value"] == live_only["visitors"]
