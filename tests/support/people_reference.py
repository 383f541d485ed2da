"""Plain references for the questions about people (funnels, weekly cohorts, DAU/WAU/MAU), computed
from events in Python: what tests/test_people_differential.py and tests/test_people_rows.py compare the
store's answers with."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from storage.embedded.events import SqliteEventStore
from storage.records import Event, step_mask
from tests.support.random_events import DAY, SPAN, START, make_events, store_randomly, with_ties


def random_range(rng: random.Random, tz: str, first_days: tuple[int, int] = (-1, 7)) -> tuple[int, int]:
    """(start, end) ms of a random range: half the time whole local days of `tz`, the first one
    `first_days` (a randrange) days from START's, else cut anywhere."""
    if rng.random() < 0.5:
        zone = ZoneInfo(tz)
        first = (
            dt.datetime.fromtimestamp(START / 1000, tz=zone) + dt.timedelta(days=rng.randrange(*first_days))
        ).date()
        last = first + dt.timedelta(days=rng.randrange(1, 12))
        start = int(dt.datetime(first.year, first.month, first.day, tzinfo=zone).timestamp() * 1000)
        end = int(dt.datetime(last.year, last.month, last.day, tzinfo=zone).timestamp() * 1000)
    else:
        start = START + rng.randrange(-DAY, SPAN)
        end = start + rng.randrange(1, SPAN + DAY)
    return start, end


async def open_random_store(data_dir: Path, seed: int) -> tuple[SqliteEventStore, list[Event]]:
    """An open store holding random events with ties, stored in random batches with compaction passes at
    random points (tests/support/random_events.py), and those events."""
    rng = random.Random(seed)
    events = with_ties(rng, make_events(rng))
    store = SqliteEventStore(data_dir, compact_interval_s=None)
    await store.open()
    await store_randomly(store, rng, events)
    return store, events


def person(e: Event) -> str:
    return f"u:{e.user_id}" if e.user_id else f"v:{e.visitor_id}"


def local_day(e: Event, tz: str) -> dt.date:
    return dt.datetime.fromtimestamp(e.ts / 1000, tz=ZoneInfo(tz)).date()


def reference_funnel(events: list[Event], steps: Sequence[tuple[str, str]], window_ms: int) -> list[int]:
    """People reaching at least each step: some chain of events in (ts, id) order, one event per step,
    the first completing step 1 and every other at most window_ms after it (tried from every start)."""
    tests: list[Callable[[Event], bool]] = [
        lambda e, i=i: bool(step_mask(e, steps) >> i & 1)  # type: ignore[misc]
        for i in range(len(steps))
    ]
    people: dict[str, list[Event]] = defaultdict(list)
    for e in sorted(events, key=lambda e: (e.ts, e.id)):
        people[person(e)].append(e)

    def deepest(evs: list[Event], pos: int, depth: int, t0: int) -> int:
        if depth == len(steps):
            return depth
        for j in range(pos, len(evs)):
            if evs[j].ts - t0 > window_ms:
                break
            if tests[depth](evs[j]):  # the earliest next match leaves the most room
                return deepest(evs, j + 1, depth + 1, t0)
        return depth

    reached = [0] * len(steps)
    for evs in people.values():
        best = max((deepest(evs, i + 1, 1, e.ts) for i, e in enumerate(evs) if tests[0](e)), default=0)
        for k in range(best):
            reached[k] += 1
    return reached


def reference_cohorts(events: list[Event], tz: str) -> list[tuple[str, int, int]]:
    weeks: dict[str, set[dt.date]] = defaultdict(set)
    for e in events:
        day = local_day(e, tz)
        weeks[person(e)].add(day - dt.timedelta(days=day.weekday()))
    counts: dict[tuple[str, int], int] = defaultdict(int)
    for active in weeks.values():
        first = min(active)
        for week in active:
            counts[first.isoformat(), (week - first).days // 7] += 1
    return sorted((first, offset, n) for (first, offset), n in counts.items())


def reference_active(
    events: list[Event], tz: str, first: dt.date, last: dt.date
) -> list[tuple[str, int, ...]]:
    """Each day's windows rebuilt as sets of people."""
    by_day: dict[dt.date, set[str]] = defaultdict(set)
    for e in events:
        by_day[local_day(e, tz)].add(person(e))
    out = []
    day = first
    while day <= last:
        window = [by_day.get(day - dt.timedelta(days=k), set()) for k in range(30)]
        out.append(
            (day.isoformat(), len(window[0]), len(set().union(*window[:7])), len(set().union(*window)))
        )
        day += dt.timedelta(days=1)
    return out
