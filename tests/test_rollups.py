"""The SQLite store's hourly rollups: answers from them match what their documented semantics give when
computed here from the raw events, late events are folded in, and unanswerable queries read raw events."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain.stats.synthetic import TrafficModel
from storage.embedded.events import SqliteEventStore
from storage.ports import EventFilter, Grouping
from storage.records import Event

DAY = 86_400_000
FIRST = dt.date(2026, 3, 2)
START = int(dt.datetime(2026, 3, 3, tzinfo=dt.UTC).timestamp() * 1000)  # whole UTC days 3..5 March
END = START + 3 * DAY


def traffic() -> list[Event]:
    model = TrafficModel("site", seed=3)
    return [e for batch in model.events(FIRST, 5, 120, people=300, batch=500) for e in batch]


EVENTS = traffic()


@pytest.fixture
def store(io_loop: Any, data_dir: Path) -> Iterator[SqliteEventStore]:
    """A store that answers from rollups whatever the range holds, loaded in batches of 500."""
    events = SqliteEventStore(data_dir, rollup_min_events=0)
    io_loop.run_sync(events.open)

    async def load() -> None:
        for start in range(0, len(EVENTS), 500):
            await events.append(EVENTS[start : start + 500])

    io_loop.run_sync(load)
    yield events
    io_loop.run_sync(events.close)


def in_range(events: list[Event]) -> list[Event]:
    return [e for e in events if START <= e.ts < END]


def first_touch_visitors(events: list[Event], value: Any = lambda e: "") -> dict[str, int]:
    """Distinct (visitor, UTC day) pairs per value among the range's events."""
    pairs: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for e in in_range(events):
        pairs[value(e)].add((e.visitor_id, e.ts // DAY))
    return {k: len(v) for k, v in pairs.items()}


def sessions_started_in_range(events: list[Event]) -> tuple[int, int, int]:
    """(visits, bounces, duration) of sessions whose first event lies in the range (all their events)."""
    spans: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        spans[e.session_id or f"ev:{e.id}"].append(e)
    visits = bounces = duration = 0
    for evs in spans.values():
        first = min(e.ts for e in evs)
        if START <= first < END:
            visits += 1
            bounces += sum(e.name == "pageview" for e in evs) == 1
            duration += max(e.ts for e in evs) - first
    return visits, bounces, duration


async def test_summary_from_rollups(store: SqliteEventStore) -> None:
    [total] = await store.aggregate(EventFilter(site_id="site", start=START, end=END))
    events = in_range(EVENTS)
    assert len(events) > 500
    assert (total.events, total.pageviews) == (len(events), sum(e.name == "pageview" for e in events))
    assert total.visitors == first_touch_visitors(EVENTS)[""]
    assert (total.visits, total.bounces, total.duration_ms) == sessions_started_in_range(EVENTS)


@pytest.mark.parametrize("field", ["path", "source", "country", "device"])
async def test_breakdowns_carry_session_metrics(store: SqliteEventStore, field: str) -> None:
    """Breakdowns come from the columnar engine: distinct visitors of the range and every session metric,
    whatever the range holds (the rollups keep no per-value sessions)."""
    equals = {"name": "pageview"} if field == "path" else {}
    flt = EventFilter(site_id="site", start=START, end=END, equals=equals)
    rows = await store.aggregate(flt, Grouping(kind="field", field=field), sort="visitors", limit=100)
    events = [e for e in in_range(EVENTS) if not equals or e.name == "pageview"]
    groups: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        groups[getattr(e, field)].append(e)
    visitors = {value: len({e.visitor_id for e in evs}) for value, evs in groups.items()}
    expected = sorted(groups, key=lambda v: (-visitors[v], v))
    assert [r.key for r in rows] == expected
    assert [(r.visitors, r.events, r.visits) for r in rows] == [
        (visitors[v], len(groups[v]), len({e.session_id for e in groups[v]})) for v in expected
    ]


async def test_late_events_move_session_counters(io_loop: Any, data_dir: Path) -> None:
    store = SqliteEventStore(data_dir, rollup_min_events=0)
    await store.open()
    hour = START + 5 * 3_600_000
    base = {"site_id": "site", "session_id": "s1", "visitor_id": "v1"}
    await store.append([Event(id="b", ts=hour + 600_000, name="pageview", **base)])
    [before] = await store.aggregate(EventFilter(site_id="site", start=START, end=END))
    assert (before.visits, before.bounces, before.duration_ms) == (1, 1, 0)
    # an earlier event of the same session arrives later, in the previous hour: the visit moves there
    await store.append([Event(id="a", ts=hour - 60_000, name="pageview", **base)])
    [after] = await store.aggregate(EventFilter(site_id="site", start=START, end=END))
    assert (after.visits, after.bounces, after.duration_ms, after.pageviews) == (1, 0, 660_000, 2)
    assert after.visitors == 1
    [late_hour] = await store.aggregate(EventFilter(site_id="site", start=hour - 3_600_000, end=hour))
    assert (late_hour.visits, late_hour.events) == (1, 1)
    assert await store.aggregate(EventFilter(site_id="site", start=hour, end=hour + 3_600_000)) != []
    await store.close()


async def test_queries_rollups_cannot_answer_read_raw_events(store: SqliteEventStore) -> None:
    # a +05:30 midnight is not a whole UTC hour: the answer comes from raw events, exactly
    start = START + 5 * 3_600_000 + 1_800_000
    [total] = await store.aggregate(EventFilter(site_id="site", start=start, end=start + DAY))
    events = [e for e in EVENTS if start <= e.ts < start + DAY]
    assert total.visitors == len({e.visitor_id for e in events})
    assert total.visits == len({e.session_id for e in events})
    # filters and dimensions without rollups read raw events too
    [mobile] = await store.aggregate(
        EventFilter(site_id="site", start=START, end=END, equals={"device": "mobile"})
    )
    assert mobile.visits == len({e.session_id for e in in_range(EVENTS) if e.device == "mobile"})
    browsers = await store.aggregate(EventFilter(site_id="site", start=START, end=END),
                                     Grouping(kind="field", field="browser"))  # fmt: skip
    assert all(r.visits > 0 for r in browsers)


async def test_purge_and_site_deletion_clear_rollups(store: SqliteEventStore) -> None:
    await store.purge_before("site", START + DAY)
    [left] = await store.aggregate(EventFilter(site_id="site", start=START - 2 * DAY, end=END))
    assert left.events == len([e for e in EVENTS if START + DAY <= e.ts < END])
    await store.delete_site("site")
    assert await store.aggregate(EventFilter(site_id="site", start=START - 2 * DAY, end=END)) == []


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin"])
async def test_daily_timeseries_from_rollups(store: SqliteEventStore, tz: str) -> None:
    zone = ZoneInfo(tz)
    start = int(dt.datetime(2026, 3, 3, tzinfo=zone).timestamp() * 1000)
    flt = EventFilter(site_id="site", start=start, end=start + 3 * DAY)
    rows = await store.aggregate(flt, Grouping(kind="time", unit="day", tz=tz))
    per_day: dict[int, list[Event]] = defaultdict(list)
    for e in EVENTS:
        if flt.start <= e.ts < flt.end:
            local = dt.datetime.fromtimestamp(e.ts / 1000, tz=zone).date()
            per_day[
                int(dt.datetime(local.year, local.month, local.day, tzinfo=zone).timestamp() * 1000)
            ].append(e)
    assert [r.key for r in rows] == sorted(per_day)
    assert [r.events for r in rows] == [len(per_day[k]) for k in sorted(per_day)]
    # first touches: a (visitor, UTC day) pair counts in the local day of its first event
    first: dict[tuple[str, int], int] = {}
    for e in sorted(EVENTS, key=lambda e: e.ts):
        first.setdefault((e.visitor_id, e.ts // DAY), e.ts)
    touches = [
        sum(1 for ts in first.values() if k <= ts < k + DAY and flt.start <= ts < flt.end)
        for k in sorted(per_day)
    ]
    assert [r.visitors for r in rows] == touches
