"""Differential test of the embedded analytics engine: random events (sessions, events without one,
late events, retried batches, typed props, two sites) stored through the log with compaction passes at
random points, then random questions (every grouping, 0-3 filters: equalities, negations, contains and
several values, every interval, timezones with a DST change and a +05:30 offset, ranges cut anywhere);
every answer must equal a plain reference computed in Python over the same events (here and in
tests/support/event_match.py)."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest

from storage.embedded.columnar import rollups
from storage.embedded.columnar.sql import VISIT_FIELDS
from storage.embedded.events import SqliteEventStore
from storage.ports import Aggregate, Condition, EventFilter, Grouping
from storage.records import Event, step_mask
from tests.support.event_match import matches, prop_text
from tests.support.random_events import (
    DAY,
    FIELD_VALUES,
    FIELDS,
    HOUR,
    PROP_VALUES,
    SPAN,
    START,
    ZONES,
    make_events,
    random_condition,
)


def session_key(e: Event) -> str:
    return e.session_id or f"ev:{e.id}"


def metrics(events: list[Event]) -> tuple[int, ...]:
    sessions: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        sessions[session_key(e)].append(e)
    pageviews = [sum(e.name == "pageview" for e in evs) for evs in sessions.values()]
    return (
        len({e.visitor_id for e in events}),
        len(sessions),
        sum(pageviews),
        len(events),
        sum(1 for n in pageviews if n == 1),
        sum(max(e.ts for e in evs) - min(e.ts for e in evs) for evs in sessions.values()),
        min(e.ts for e in events),
        max(e.ts for e in events),
    )


def local_bucket(ts: int, unit: str, tz: ZoneInfo) -> int:
    """The UTC instant where the local bucket holding `ts` starts."""
    local = dt.datetime.fromtimestamp(ts / 1000, tz=tz)
    if unit in ("minute", "hour"):
        offset = int(local.utcoffset().total_seconds() * 1000)  # type: ignore[union-attr]
        size = 60_000 if unit == "minute" else HOUR
        return ts - (ts + offset) % size
    day = local.date()
    if unit == "week":
        day -= dt.timedelta(days=day.weekday())
    elif unit == "month":
        day = day.replace(day=1)
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=tz).timestamp() * 1000)


def expected(
    events: list[Event], flt: EventFilter, grouping: Grouping, sort: str, limit: int
) -> list[Aggregate]:
    chosen = [e for e in events if matches(e, flt)]
    key: Callable[[Event], Any]
    if grouping.kind in ("entry_page", "exit_page"):
        edges: dict[str, tuple[int, str, str]] = {}
        for e in chosen:
            if e.name == "pageview":
                mark, k = (e.ts, e.id, e.path), session_key(e)
                if k not in edges or (mark < edges[k] if grouping.kind == "entry_page" else mark > edges[k]):
                    edges[k] = mark
        key = lambda e: edges[session_key(e)][2] if session_key(e) in edges else None  # noqa: E731
    elif grouping.kind == "total":
        key = lambda e: None  # noqa: E731
    elif grouping.kind == "field" and grouping.field in VISIT_FIELDS:
        # a visit's attributes are its first event's (by ts, id) among the chosen events
        firsts: dict[str, tuple[int, str, str]] = {}
        for e in chosen:
            mark, k = (e.ts, e.id, getattr(e, grouping.field)), session_key(e)
            if k not in firsts or mark < firsts[k]:
                firsts[k] = mark
        key = lambda e: firsts[session_key(e)][2]  # noqa: E731
    elif grouping.kind == "field":
        key = lambda e: getattr(e, grouping.field)  # noqa: E731
    elif grouping.kind == "prop":
        key = lambda e: prop_text(e.props.get(grouping.field))  # noqa: E731
    else:
        zone = ZoneInfo(grouping.tz)
        key = lambda e: local_bucket(e.ts, grouping.unit, zone)  # noqa: E731
    groups: dict[Any, list[Event]] = defaultdict(list)
    for e in chosen:
        k = key(e)
        if k is not None or grouping.kind == "total":
            groups[k].append(e)
    rows = [Aggregate(key=k, **dict(zip(_NAMES, metrics(evs), strict=True))) for k, evs in groups.items()]
    if grouping.kind == "time":
        return sorted(rows, key=lambda r: r.key)  # type: ignore[arg-type, return-value]
    rows.sort(key=lambda r: (-getattr(r, sort), r.key))
    return rows[:limit] if limit else rows


_NAMES = ("visitors", "visits", "pageviews", "events", "bounces", "duration_ms", "first_ts", "last_ts")


def random_question(rng: random.Random, events: list[Event]) -> tuple[EventFilter, Grouping, str, int]:
    tz = rng.choice(ZONES)
    kind = rng.choice(["total", "time", "field", "field", "prop", "entry_page", "exit_page"])
    unit = rng.choice(["hour", "day", "week", "month", "minute"])
    if rng.random() < 0.5:  # whole local days
        zone = ZoneInfo(tz)
        first = (
            dt.datetime.fromtimestamp(START / 1000, tz=zone) + dt.timedelta(days=rng.randrange(0, 6))
        ).date()
        start = int(dt.datetime(first.year, first.month, first.day, tzinfo=zone).timestamp() * 1000)
        last = first + dt.timedelta(days=rng.randrange(1, 8))
        end = int(dt.datetime(last.year, last.month, last.day, tzinfo=zone).timestamp() * 1000)
    else:  # cut anywhere
        start = START + rng.randrange(-DAY, SPAN)
        end = start + rng.randrange(1, SPAN)
    if kind == "time" and unit == "minute":
        end = min(end, start + 6 * HOUR)
    equals: dict[str, str] = {}
    props: dict[str, str] = {}
    traits: dict[str, str] = {}
    prefix = ""
    sample = rng.choice(events)
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
        what = rng.random()
        if what < 0.6:
            field = rng.choice([f for f in FIELDS if f in FIELD_VALUES])
            equals[field] = getattr(sample, field) if rng.random() < 0.7 else rng.choice(FIELD_VALUES[field])
        elif what < 0.8:
            name = rng.choice(["plan", "seats"])
            props[name] = prop_text(rng.choice(PROP_VALUES)) or ""
        elif what < 0.9:
            traits["plan"] = rng.choice(["a", "b"])
        else:
            prefix = rng.choice(["/blog/", "/docs", "/"])
    conditions = tuple(random_condition(rng, sample) for _ in range(rng.choice([0, 0, 0, 1, 1, 2])))
    flt = EventFilter(
        site_id=rng.choice(["s1", "s1", "s2"]),
        start=start,
        end=end,
        equals=equals,
        props=props,
        traits=traits,
        path_prefix=prefix,
        conditions=conditions,
    )
    field = rng.choice(FIELDS) if kind == "field" else rng.choice(["plan", "seats"])
    grouping = Grouping(kind=kind, field=field if kind in ("field", "prop") else "", unit=unit, tz=tz)
    return flt, grouping, rng.choice(["visitors", "visits", "pageviews", "events"]), rng.choice([0, 3, 10])


@pytest.fixture
async def loaded(data_dir: Path, request: pytest.FixtureRequest) -> AsyncIterator[tuple[Any, list[Event]]]:
    """A store holding random events (seeded by the test's parameter), some compacted, some in the log."""
    rng = random.Random(request.param)
    events = make_events(rng, daily_ids=request.param >= DAILY_SEEDS[0])
    store = SqliteEventStore(data_dir, compact_interval_s=None)
    await store.open()
    order = list(events)
    rng.shuffle(order)  # late events: later appends hold earlier timestamps
    position = 0
    while position < len(order):
        size = rng.randrange(1, 40)
        batch = order[position : position + size]
        await store.append(batch)
        if rng.random() < 0.3:  # a retried batch: stored once
            await store.append(batch)
        if rng.random() < 0.25:
            await store.compact_now()
        position += size
    yield store, events
    await store.close()


SEEDS = list(range(6))
DAILY_SEEDS = [100, 101, 102]


@pytest.mark.parametrize("loaded", SEEDS, indirect=True)
async def test_random_questions_equal_the_reference(loaded: tuple[Any, list[Event]]) -> None:
    store, events = loaded
    rng = random.Random(len(events))
    answered = 0
    for _ in range(60):
        flt, grouping, sort, limit = random_question(rng, events)
        got = await store.aggregate(flt, grouping, sort=sort, limit=limit)
        want = expected(events, flt, grouping, sort, limit)
        assert got == want, (flt, grouping, sort, limit)
        answered += bool(want)
    assert answered >= 20  # most questions find events: the comparison is not of empty answers


@pytest.mark.parametrize("loaded", SEEDS[:3], indirect=True)
async def test_reads_counts_and_identity_days_equal_the_reference(loaded: tuple[Any, list[Event]]) -> None:
    store, events = loaded
    rng = random.Random(7)
    for _ in range(15):
        flt, grouping, _, _ = random_question(rng, events)
        chosen = sorted((e for e in events if matches(e, flt)), key=lambda e: e.ts)
        assert await store.count(flt) == len(chosen)
        read = [e async for batch in store.read(flt, batch_size=7) for e in batch]
        assert [e.ts for e in read] == [e.ts for e in chosen]
        assert sorted(e.id for e in read) == sorted(e.id for e in chosen)
        assert {e.id: e for e in read} == {e.id: e for e in chosen}
        zone = ZoneInfo(grouping.tz)
        pairs = sorted(
            {
                (f"u:{e.user_id}" if e.user_id else f"v:{e.visitor_id}",
                 dt.datetime.fromtimestamp(e.ts / 1000, tz=zone).date().isoformat())
                for e in chosen
            }
        )  # fmt: skip
        assert await store.identity_days(flt, grouping.tz) == pairs
        steps = [rng.choice([("page", "/"), ("page", "/blog/*"), ("event", "signup"), ("page", "/docs")])
                 for _ in range(rng.randrange(2, 5))]  # fmt: skip
        marks = [
            (f"u:{e.user_id}" if e.user_id else f"v:{e.visitor_id}", e.ts, e.id, step_mask(e, steps))
            for e in chosen
        ]
        assert sorted(await store.step_marks(flt, steps)) == sorted(m for m in marks if m[3])


def page_question(rng: random.Random, flt: EventFilter) -> tuple[EventFilter, Grouping]:
    """The dashboard's page breakdown over `flt`'s range: pageviews by path, half the time with one
    equality on a field that has page rows per value (rollups.PAIR_FIELDS), sometimes on another one."""
    equals = {"name": "pageview"}
    if rng.random() < 0.6:
        field = rng.choice([*rollups.PAIR_FIELDS, "hostname"])
        equals[field] = rng.choice(FIELD_VALUES[field])
    span = EventFilter(site_id=flt.site_id, start=flt.start, end=flt.end, equals=equals)
    return span, Grouping(kind="field", field="path")


def pair_question(rng: random.Random, flt: EventFilter) -> tuple[EventFilter, Grouping]:
    """A breakdown by any group field with one equality filter, mostly on a field that has rows per
    value (rollups.PAIR_FIELDS: the rolled answer), sometimes on another one (a scan)."""
    field = rng.choice([*rollups.PAIR_FIELDS, *rollups.PAIR_FIELDS, "hostname"])
    span = EventFilter(
        site_id=flt.site_id,
        start=flt.start,
        end=flt.end,
        equals={field: rng.choice(FIELD_VALUES[field])},
    )
    return span, Grouping(kind="field", field=rng.choice(FIELDS))


@pytest.mark.parametrize("loaded", DAILY_SEEDS, indirect=True)
async def test_answers_from_rollups_equal_the_reference(loaded: tuple[Any, list[Event]]) -> None:
    """Visitor ids rotating daily: the compactor rolls the sealed days up (UTC with every kind, and the
    time series of each timezone once asked), and answers that add rolled days to scanned edges and the
    events of day-crossing visits still equal the reference; then a late event invalidates them."""
    store, events = loaded
    for tz in ZONES:  # a time series in each zone asks for that zone's rollups
        await store.aggregate(
            EventFilter(site_id="s1", start=START, end=START + SPAN), Grouping(kind="time", tz=tz)
        )
    await store.compact_now()
    manifest = store.segment_dir.load()
    assert {r.tz for r in manifest.rollups if r.site == "s1"} == set(ZONES)
    rng = random.Random(len(events))
    used = filtered = paged = prefixed = 0
    for _ in range(200):
        flt, grouping, sort, limit = random_question(rng, events)
        # a summary or a day/week/month series in any rolled zone (every zone has every kind)
        unit, zone = rng.choice(["day", "week", "month"]), rng.choice(ZONES)
        summary_or_series = rng.choice([Grouping(), Grouping(kind="time", unit=unit, tz=zone)])
        if rng.random() < 0.3:
            flt, grouping = rng.choice([page_question, pair_question])(rng, flt)
        elif rng.random() < 0.15:  # a path prefix alone: directories from prefix rows, others scanned
            prefix = rng.choice(["/blog/", "/docs/", "/blog/", "/blog", "/"])
            flt = EventFilter(site_id=flt.site_id, start=flt.start, end=flt.end, path_prefix=prefix)
            grouping = summary_or_series
        elif rng.random() < 0.4:
            flt = EventFilter(site_id=flt.site_id, start=flt.start, end=flt.end)
        elif rng.random() < 0.5 and flt.equals:  # one filter on a field, with a summary or series
            field, value = next(iter(flt.equals.items()))
            if rng.random() < 0.5:  # source: the visit field whose values differ inside some visits here
                field, value = "source", rng.choice(FIELD_VALUES["source"])
            flt = EventFilter(site_id=flt.site_id, start=flt.start, end=flt.end, equals={field: value})
            grouping = summary_or_series
        plan = rollups.plan(manifest.rollups, flt, grouping, None)
        used += plan is not None
        filtered += plan is not None and plan.filtered is not None
        paged += plan is not None and plan.rows is not None
        prefixed += plan is not None and plan.filtered is not None and plan.filtered[0] == "prefix"
        got = await store.aggregate(flt, grouping, sort=sort, limit=limit)
        assert got == expected(events, flt, grouping, sort, limit), (flt, grouping, sort, limit)
    # the comparison covers rolled answers (filtered summaries and series, page breakdowns, path
    # prefixes), not only scans
    assert used >= 20 and filtered >= 5 and paged >= 10 and prefixed >= 3

    # A late event sharing a visitor with a rolled day: unused while in the log, dropped once compacted.
    late = msgspec.structs.replace(events[0], id="late-1", ts=events[0].ts + 1, name="signup")
    await store.append([late])
    whole = EventFilter(site_id=late.site_id, start=START, end=START + SPAN)
    for grouping in (Grouping(), Grouping(kind="field", field="source"), Grouping(kind="time", tz="UTC")):
        want = expected([*events, late], whole, grouping, "visitors", 0)
        assert await store.aggregate(whole, grouping) == want
    await store.compact_now()
    assert await store.aggregate(whole) == expected([*events, late], whole, Grouping(), "visitors", 0)


@pytest.mark.parametrize("loaded", DAILY_SEEDS[:1], indirect=True)
async def test_retention_keeps_the_rollups_of_the_days_it_keeps(loaded: tuple[Any, list[Event]]) -> None:
    """Purging before a cutoff keeps the rolled days that start after it (rewritten without older
    events) and answers still equal the reference over what is left."""
    store, events = loaded
    await store.compact_now()
    cutoff = START + 4 * DAY + 5 * HOUR
    await store.purge_before("s1", cutoff)
    manifest = store.segment_dir.load()
    kept = [r for r in manifest.rollups if r.site == "s1"]
    assert kept and all(rollups.day_start(d, r.tz) >= cutoff for r in kept for d in r.days)
    left = [e for e in events if e.site_id != "s1" or e.ts >= cutoff]
    rng = random.Random(3)
    for _ in range(30):
        flt, grouping, sort, limit = random_question(rng, left)
        flt = EventFilter(site_id="s1", start=flt.start, end=flt.end)
        if rng.random() < 0.4:
            flt, grouping = rng.choice([page_question, pair_question])(rng, flt)
        assert await store.aggregate(flt, grouping, sort=sort, limit=limit) == expected(
            left, flt, grouping, sort, limit
        ), (flt, grouping)
    await store.compact_now()
    assert {r.site for r in store.segment_dir.load().rollups} >= {"s1"}

    # Full rollups written before pages and pair rows (version 1) are not read for those questions,
    # then dropped and built again by the next pass.
    manifest = store.segment_dir.load()
    for entry in manifest.rollups:
        entry.version = 1
    store.segment_dir.save(replace(manifest, generation=manifest.generation + 1))
    flt = EventFilter(site_id="s1", start=cutoff, end=START + SPAN, equals={"country": "DE"})
    page = Grouping(kind="field", field="source")
    assert rollups.plan(store.segment_dir.load().rollups, flt, page, None) is None
    await store.compact_now()
    rebuilt = [r for r in store.segment_dir.load().rollups if r.site == "s1" and r.full]
    assert rebuilt and all(r.version == rollups.VERSION for r in rebuilt)
    assert rollups.plan(store.segment_dir.load().rollups, flt, page, None) is not None
    assert await store.aggregate(flt, page) == expected(left, flt, page, "visitors", 0)


@pytest.mark.parametrize("loaded", DAILY_SEEDS[:2], indirect=True)
async def test_conditions_pass_the_rollups_by_and_equal_the_reference(
    loaded: tuple[Any, list[Event]],
) -> None:
    """A negation, a contains or several values is never answered from rollups (no plan: a scan answers)
    and equals the reference, on summaries and day series, the shapes rollups answer with one equality;
    a one-value `is` condition (scanned) equals its equality twin (answered from rollups)."""
    store, events = loaded
    await store.compact_now()
    manifest = store.segment_dir.load()
    rng = random.Random(11)
    rolled = kept = 0
    for _ in range(40):
        span = {"site_id": "s1", "start": START + rng.randrange(0, 3) * DAY}
        span["end"] = span["start"] + rng.randrange(2, 7) * DAY
        grouping = rng.choice([Grouping(), Grouping(kind="time", unit="day", tz="UTC")])
        sample = rng.choice([e for e in events if e.site_id == "s1"])
        flt = EventFilter(**span, conditions=(random_condition(rng, sample),))
        assert rollups.plan(manifest.rollups, flt, grouping, None) is None, flt
        want = expected(events, flt, grouping, "visitors", 0)
        assert await store.aggregate(flt, grouping) == want, flt
        kept += bool(want)

        field = rng.choice(["country", "source", "browser", "name"])
        value = getattr(sample, field)
        twin = EventFilter(
            **span, conditions=(Condition(kind="field", name=field, op="is", values=(value,)),)
        )
        equality = EventFilter(**span, equals={field: value})
        assert rollups.plan(manifest.rollups, twin, grouping, None) is None
        rolled += rollups.plan(manifest.rollups, equality, grouping, None) is not None
        want = expected(events, equality, grouping, "visitors", 0)
        assert await store.aggregate(twin, grouping) == await store.aggregate(equality, grouping) == want
    assert rolled >= 20 and kept >= 20  # rolled answers and non-empty ones are compared, not only scans


@pytest.mark.parametrize("loaded", SEEDS[:3], indirect=True)
async def test_filtered_views_read_through_their_slice_equal_the_reference(
    loaded: tuple[Any, list[Event]],
) -> None:
    """A dashboard view asks one filter under many groupings: the first builds the view's slice of the
    segments, the others read it (slices.py); every answer equals the reference, and so does a scan
    with slices off."""
    store, events = loaded
    slices = store.engine.slices
    rng = random.Random(len(events) + 1)
    groupings = [
        Grouping(),
        Grouping(kind="time", unit="day", tz="Europe/Berlin"),
        Grouping(kind="entry_page"),
        Grouping(kind="prop", field="plan"),
        *(Grouping(kind="field", field=field) for field in ("path", "source", "browser", "name")),
    ]
    built_before, hits_before, sliced_views, views = slices.built, slices.hits, 0, 0
    while views < 8:
        flt, _, sort, limit = random_question(rng, events)
        if not (flt.equals or flt.props or flt.traits or flt.path_prefix or flt.conditions):
            continue
        views += 1
        for grouping in groupings:
            want = expected(events, flt, grouping, sort, limit)
            assert await store.aggregate(flt, grouping, sort=sort, limit=limit) == want, (flt, grouping)
        assert await store.count(flt) == len([e for e in events if matches(e, flt)])
        sliced_views += bool(store.engine.segments.load().files_for(flt.site_id, flt.start, flt.end))
    assert sliced_views >= 2
    # Each view over segments built its slice once; its other questions and the count read it (but
    # the few a one-filter rollup answers).
    assert slices.built - built_before == sliced_views
    assert slices.hits - hits_before >= sliced_views * (len(groupings) - 2)
    store.engine.slices = None
    for grouping in groupings:
        want = expected(events, flt, grouping, "visitors", 0)
        assert await store.aggregate(flt, grouping) == want, (flt, grouping)
