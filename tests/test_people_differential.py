"""Differential test of the embedded store's own counting of funnels, weekly cohorts and DAU/WAU/MAU
(storage/embedded/columnar/people.py, in DuckDB): random events (sessions, people with a user id, late
events, retried batches, events tied in time, two sites) stored through the log with compaction passes
at random points; random filters, steps, windows and ranges in timezones with a DST change and a +05:30
offset. Every answer must equal a plain reference computed here from the events, and the query service
must answer the same through the store's counts as through the port's marks and pairs counted in Python
(domain/stats), the path stores without PeopleCounts take."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest

from domain.stats.cache import StatsCache
from domain.stats.funnels import Step
from domain.stats.query import parse_query
from domain.stats.service import StatsService
from storage.embedded.columnar import people
from storage.embedded.events import SqliteEventStore
from storage.embedded.memory_kv import MemoryKeyValue
from storage.ports import EventFilter, PeopleCounts
from storage.records import Event
from tests.support.event_match import matches
from tests.support.people_reference import (
    open_random_store,
    person,
    random_range,
    reference_active,
    reference_cohorts,
    reference_funnel,
)
from tests.support.random_events import (
    DAY,
    FIELD_VALUES,
    PATHS,
    SPAN,
    START,
    ZONES,
    random_condition,
)

STEP_CHOICES = [
    *(("page", path) for path in PATHS),
    ("page", "/blog/*"),
    ("page", "/docs*"),
    ("page", "/*"),
    ("event", "signup"),
    ("event", "purchase"),
    ("event", "pageview"),
]


# ---- random questions -------------------------------------------------------------------------------


def random_filter(rng: random.Random, events: list[Event], tz: str) -> EventFilter:
    start, end = random_range(rng, tz)
    sample = rng.choice(events)
    equals: dict[str, str] = {}
    prefix = ""
    for _ in range(rng.choice([0, 0, 0, 1, 2])):
        if rng.random() < 0.8:
            field = rng.choice(["country", "browser", "device", "source"])
            equals[field] = getattr(sample, field) if rng.random() < 0.7 else rng.choice(FIELD_VALUES[field])
        else:
            prefix = rng.choice(["/blog/", "/docs", "/"])
    conditions = tuple(random_condition(rng, sample) for _ in range(rng.choice([0, 0, 0, 1, 2])))
    return EventFilter(
        site_id=rng.choice(["s1", "s1", "s1", "s2"]),
        start=start,
        end=end,
        equals=equals,
        path_prefix=prefix,
        conditions=conditions,
    )


def random_window(rng: random.Random, chosen: list[Event]) -> int:
    """A window in ms: random, or exactly the gap between two events of one person (the edge)."""
    by_person: dict[str, list[int]] = defaultdict(list)
    for e in chosen:
        by_person[person(e)].append(e.ts)
    spans = [sorted(ts) for ts in by_person.values() if len(ts) > 1]
    if spans and rng.random() < 0.4:
        ts = rng.choice(spans)
        i = rng.randrange(len(ts) - 1)
        return rng.choice(ts[i + 1 :]) - ts[i]
    return rng.choice([60_000, 15 * 60_000, 3_600_000, 6 * 3_600_000, DAY, 3 * DAY])


class PortOnly:
    """The store seen through the EventStore port alone (no PeopleCounts): the service then counts the
    marks and pairs in Python, as for MongoDB."""

    def __init__(self, store: SqliteEventStore) -> None:
        self._store = store

    async def step_marks(self, flt: EventFilter, steps: Any) -> Any:
        return await self._store.step_marks(flt, steps)

    async def identity_days(self, flt: EventFilter, tz: str) -> Any:
        return await self._store.identity_days(flt, tz)


@pytest.fixture
async def stored(data_dir: Path, request: pytest.FixtureRequest) -> AsyncIterator[tuple[Any, list[Event]]]:
    store, events = await open_random_store(data_dir, request.param)
    yield store, events
    await store.close()


SEEDS = list(range(8))


@pytest.mark.parametrize("stored", SEEDS, indirect=True)
async def test_store_counts_equal_the_reference(stored: tuple[Any, list[Event]]) -> None:
    store, events = stored
    assert isinstance(store, PeopleCounts) and not isinstance(PortOnly(store), PeopleCounts)
    rng = random.Random(len(events))
    deep = 0
    for _ in range(25):
        tz = rng.choice(ZONES)
        flt = random_filter(rng, events, tz)
        chosen = [e for e in events if matches(e, flt)]

        steps = [rng.choice(STEP_CHOICES) for _ in range(rng.randrange(2, 6))]
        window = random_window(rng, chosen)
        want = reference_funnel(chosen, steps, window)
        assert await store.funnel_reach(flt, steps, window) == want, (flt, steps, window)
        deep += want[1] > 0

        assert sorted(await store.week_cohorts(flt, tz)) == reference_cohorts(chosen, tz), (flt, tz)

        zone = ZoneInfo(tz)
        first = dt.datetime.fromtimestamp(flt.start / 1000, tz=zone).date() + dt.timedelta(
            days=rng.randrange(0, 3)
        )
        last = first + dt.timedelta(days=rng.randrange(0, 40))
        got = await store.active_people(flt, tz, first.isoformat(), last.isoformat())
        assert got == reference_active(chosen, tz, first, last), (flt, tz, first, last)
    assert deep >= 3  # funnels past step 1 are compared, not only empty ones


@pytest.mark.parametrize("stored", SEEDS[:3], indirect=True)
async def test_the_service_answers_alike_through_either_path(stored: tuple[Any, list[Event]]) -> None:
    store, _ = stored
    rng = random.Random(99)
    now_ms = START + SPAN + 20 * DAY
    fast = StatsService(store, StatsCache(MemoryKeyValue()), clock=lambda: now_ms / 1000)
    generic = StatsService(PortOnly(store), StatsCache(MemoryKeyValue()), clock=lambda: now_ms / 1000)  # type: ignore[arg-type]
    for _ in range(12):
        tz = rng.choice(ZONES)
        first = (
            dt.datetime.fromtimestamp(START / 1000, tz=ZoneInfo(tz)) + dt.timedelta(days=rng.randrange(-2, 8))
        ).date()
        last = first + dt.timedelta(days=rng.randrange(0, 14))
        filters = [rng.choice(["", "country==DE", "device!=mobile", "page==/blog/*"])]
        query = parse_query(
            {"from": first.isoformat(), "to": last.isoformat(), "tz": tz},
            [f for f in filters if f],
            default_tz="UTC",
            now_ms=now_ms,
        )
        steps = [Step(*rng.choice(STEP_CHOICES)) for _ in range(rng.randrange(2, 5))]
        window_s = rng.choice([60, 1800, 86_400])
        want = await generic.funnel("s1", query, steps, window_s)
        assert await fast.funnel("s1", query, steps, window_s) == want, (query, steps, window_s)
        assert await fast.retention("s1", query) == await generic.retention("s1", query), query
        assert await fast.active("s1", query) == await generic.active("s1", query), query


@pytest.mark.parametrize("stored", SEEDS[:2], indirect=True)
async def test_cohorts_of_ranges_longer_than_the_week_bits(stored: tuple[Any, list[Event]]) -> None:
    """Ranges of more than MASK_WEEKS weeks count cohorts from distinct (person, week) pairs instead of
    one bit per week: the same answers."""
    store, events = stored
    rng = random.Random(3)
    for tz in ZONES:
        flt = random_filter(rng, events, tz)
        flt = msgspec.structs.replace(flt, start=START - 500 * DAY, end=START + SPAN + DAY)
        assert (flt.end - flt.start) // (7 * DAY) > people.MASK_WEEKS
        chosen = [e for e in events if matches(e, flt)]
        assert sorted(await store.week_cohorts(flt, tz)) == reference_cohorts(chosen, tz), (flt, tz)
