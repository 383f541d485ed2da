"""Differential test of the people rows of sealed days (storage/embedded/columnar/people_rows.py): DAU/WAU/MAU
and weekly cohorts read the sealed days' distinct (day, person) rows and scan only the edges and the tail.
Random events (ties, late events, retried batches, two sites) in timezones with a DST change and a +05:30
offset; unfiltered questions over whole days and ranges cut anywhere must equal the plain reference, and
the store must report that the rows answered them (`people_rows_read`), so a silent fall back to the scan
fails here. Also: a late event into a sealed day, manifests without people rows (and rows made with
another DuckDB hash), rollup files concatenated, retention trimming the rows, filters (always a scan)."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import msgspec
import pytest

from storage.embedded.columnar import people_rows, rollups
from storage.embedded.events import SqliteEventStore
from storage.ports import EventFilter, Grouping
from storage.records import Event
from tests.support.event_match import matches
from tests.support.people_reference import (
    open_random_store,
    random_range,
    reference_active,
    reference_cohorts,
)
from tests.support.random_events import DAY, HOUR, SPAN, START, ZONES, make_events, with_ties


@pytest.fixture
async def rolled(data_dir: Path, request: pytest.FixtureRequest) -> AsyncIterator[tuple[Any, list[Event]]]:
    """A store of random events whose sealed days are rolled up, with people rows, in every zone."""
    store, events = await open_random_store(data_dir, request.param)
    for tz in ZONES:  # a day series in each zone asks for that zone's rollups
        await store.aggregate(
            EventFilter(site_id="s1", start=START, end=START + SPAN), Grouping(kind="time", tz=tz)
        )
    await store.compact_now()
    yield store, events
    await store.close()


def plain_range(rng: random.Random, tz: str, site: str = "s1") -> EventFilter:
    """An unfiltered range: whole local days of `tz` half the time, else cut anywhere."""
    start, end = random_range(rng, tz, (-2, 9))
    return EventFilter(site_id=site, start=start, end=end)


async def ask_both(store: Any, events: list[Event], flt: EventFilter, tz: str, rng: random.Random) -> bool:
    """Ask cohorts and DAU/WAU/MAU, compare both with the reference; True when the people rows answered
    both (the store's counter moved by two), False when neither did."""
    chosen = [e for e in events if matches(e, flt)]
    before = store.people_rows_read
    assert sorted(await store.week_cohorts(flt, tz)) == reference_cohorts(chosen, tz), (flt, tz)
    first = dt.datetime.fromtimestamp(flt.start / 1000, tz=ZoneInfo(tz)).date() + dt.timedelta(
        days=rng.randrange(0, 3)
    )
    last = first + dt.timedelta(days=rng.randrange(0, 40))
    got = await store.active_people(flt, tz, first.isoformat(), last.isoformat())
    assert got == reference_active(chosen, tz, first, last), (flt, tz, first, last)
    moved = store.people_rows_read - before
    assert moved in (0, 2)
    return moved == 2


def expected_plan(store: Any, flt: EventFilter, tz: str) -> rollups.Plan | None:
    """The plan the store should take for an unfiltered question now (no uncompacted events)."""
    key = people_rows.hash_key(duckdb.connect())
    return people_rows.plan(store.segment_dir.load().rollups, flt, tz, None, key)


@pytest.mark.parametrize("rolled", [0, 1, 2, 3], indirect=True)
async def test_answers_from_people_rows_equal_the_reference(rolled: tuple[Any, list[Event]]) -> None:
    store, events = rolled
    manifest = store.segment_dir.load()
    assert {r.tz for r in manifest.rollups if r.site == "s1"} == set(ZONES)
    assert all(r.people and r.people_key for r in manifest.rollups)
    rng = random.Random(len(events))
    used = 0
    for _ in range(30):
        tz = rng.choice(ZONES)
        flt = plain_range(rng, tz, rng.choice(["s1", "s1", "s2"]))
        plan = expected_plan(store, flt, tz)
        assert await ask_both(store, events, flt, tz, rng) == (plan is not None), (flt, tz)
        used += plan is not None
    assert used >= 12  # most questions read the rows: the comparison is not of scans only

    # A filter is never answered from the rows: the same range with one equality is a scan.
    flt = EventFilter(site_id="s1", start=START - DAY, end=START + SPAN + DAY, equals={"country": "DE"})
    assert not await ask_both(store, events, flt, "UTC", rng)
    # Switched off (the benchmark's scan column): a scan, the same answers.
    store.use_rollups = False
    assert not await ask_both(store, events, plain_range(rng, "UTC"), "UTC", rng)


@pytest.mark.parametrize("rolled", [4], indirect=True)
async def test_a_late_event_into_a_sealed_day(rolled: tuple[Any, list[Event]]) -> None:
    """A new person on a rolled day: while in the log the rows are not read (the tail holds an event older
    than the rolled days), once compacted the site's rollups are dropped and built again with it."""
    store, events = rolled
    late = msgspec.structs.replace(events[0], id="late-1", site_id="s1", visitor_id="newcomer", user_id="")
    late = msgspec.structs.replace(late, ts=START + 3 * DAY + 5 * HOUR)
    await store.append([late])
    everything = [*events, late]
    rng = random.Random(5)
    whole = EventFilter(site_id="s1", start=START - DAY, end=START + SPAN + DAY)
    for tz in ZONES:
        assert expected_plan(store, whole, tz) is not None  # the rows exist, but the tail says no
        assert not await ask_both(store, everything, whole, tz, rng)
    await store.compact_now()
    for tz in ZONES:
        assert await ask_both(store, everything, whole, tz, rng)


@pytest.mark.parametrize("rolled", [5], indirect=True)
async def test_rows_missing_or_made_with_another_hash_are_built_again(
    rolled: tuple[Any, list[Event]],
) -> None:
    """Rollups of older manifests (no people rows) and rows whose hash fingerprint differs are not read
    (a scan answers, equally), and the next compaction pass builds them."""
    store, events = rolled
    rng = random.Random(6)
    whole = EventFilter(site_id="s1", start=START - DAY, end=START + SPAN + DAY)
    manifest = store.segment_dir.load()
    for index, entry in enumerate(manifest.rollups):
        manifest.rollups[index] = (
            replace(entry, people="", people_key=0) if index % 2 else replace(entry, people_key=7)
        )
    store.segment_dir.save(replace(manifest, generation=manifest.generation + 1))
    for tz in ZONES:
        assert not await ask_both(store, events, whole, tz, rng)
    await store.compact_now()
    rebuilt = store.segment_dir.load().rollups
    assert all(r.people and r.people_key == people_rows.hash_key(duckdb.connect()) for r in rebuilt)
    for tz in ZONES:
        assert await ask_both(store, events, whole, tz, rng)


async def test_rows_of_days_rolled_one_by_one_and_concatenated(data_dir: Path) -> None:
    """Days sealing one a pass (the compactor's clock moving a day at a time): the rows of each pass's
    file, then of the concatenated files, answer with the unsealed days scanned."""
    rng = random.Random(6)
    events = with_ties(rng, make_events(rng))
    store = SqliteEventStore(data_dir, compact_interval_s=None)
    await store.open()
    try:
        await store.append(events)
        for day in range(12):
            store.compactor._clock = lambda day=day: (START + day * DAY + rollups.SEAL_LAG_MS) / 1000
            await store.compact_now()
            files = [r for r in store.segment_dir.load().rollups if r.site == "s1"]
            assert all(r.people for r in files)
            assert all(len([r for r in files if r.tz == tz]) <= rollups.MAX_FILES for tz in ZONES)
            tz = rng.choice(ZONES)
            await ask_both(store, events, plain_range(rng, tz), tz, rng)
            whole = EventFilter(site_id="s1", start=START - DAY, end=START + SPAN + DAY)
            assert await ask_both(store, events, whole, "UTC", rng) == (day >= 1), day
        utc = [r for r in store.segment_dir.load().rollups if r.site == "s1" and r.tz == "UTC"]
        assert max(len(r.days) for r in utc) > 1  # some files were concatenated
    finally:
        await store.close()


@pytest.mark.parametrize("rolled", [7], indirect=True)
async def test_retention_trims_the_rows(rolled: tuple[Any, list[Event]]) -> None:
    """Purging before a cutoff keeps the people rows of the days after it only, and answers equal the
    reference over what is left."""
    store, events = rolled
    cutoff = START + 4 * DAY + 5 * HOUR
    await store.purge_before("s1", cutoff)
    manifest = store.segment_dir.load()
    kept = [r for r in manifest.rollups if r.site == "s1"]
    assert kept and all(r.people for r in kept)
    for entry in kept:  # no row of a purged day stays on disk
        file = store.segment_dir.path / entry.people
        days = {d for (d,) in duckdb.sql(f"SELECT DISTINCT dn FROM read_parquet('{file}')").fetchall()}
        assert days <= set(entry.days) and min(rollups.day_start(d, entry.tz) for d in days) >= cutoff
    left = [e for e in events if e.site_id != "s1" or e.ts >= cutoff]
    rng = random.Random(8)
    used = 0
    for _ in range(12):
        tz = rng.choice(ZONES)
        used += await ask_both(store, left, plain_range(rng, tz), tz, rng)
    assert used >= 4
