"""Rollups in the zones a site is asked in, and the path prefix rows: which directory prefixes a path is
rolled under, how many zones a site gets, and rollups of older versions (time kinds only) built again
with every kind so that a filtered day series in the site's zone is a sum of rows."""

from __future__ import annotations

import os
import random
import time
from dataclasses import replace
from pathlib import Path

import duckdb

from storage.embedded.columnar import rollups
from storage.ports import EventFilter, Grouping
from tests.support.event_match import matches
from tests.support.people_reference import open_random_store
from tests.support.random_events import SPAN, START, ZONES
from tests.test_engine_differential import expected


def reference_prefixes(path: str) -> set[str]:
    """Every prefix `rolled_prefix` accepts that `path` starts with (a rolled prefix ends with '/')."""
    return {path[: i + 1] for i, c in enumerate(path) if c == "/" and rollups.rolled_prefix(path[: i + 1])}


def test_the_prefixes_of_random_paths_are_the_rolled_prefixes_they_start_with() -> None:
    rng = random.Random(5)
    pieces = ["", "a", "blog", "ü", "x y", "%2F", "2026", ".", "..", "'"]
    paths = ["", "/", "//", "/blog", "/blog/", "a/b/c", "/a/b/c/d/e/f"]
    for _ in range(400):
        parts = [rng.choice(pieces) for _ in range(rng.randrange(1, 8))]
        lead = "/" if rng.random() < 0.9 else ""
        paths.append(lead + "/".join(parts) + ("/" if rng.random() < 0.3 else ""))
    rows = duckdb.sql(
        f"SELECT p, {rollups.prefixes_sql('p')} FROM (SELECT unnest(?::VARCHAR[]) AS p)", params=[paths]
    ).fetchall()
    assert len(rows) == len(paths)
    for path, listed in rows:
        assert set(listed or []) == reference_prefixes(path), path
        assert len(listed or []) == len(set(listed or []))  # each prefix once: no event counted twice
    # prefixes a filter may name but that are not rolled: the root, too deep, not a directory
    assert not rollups.rolled_prefix("/")
    assert not rollups.rolled_prefix("/a/b/c/d/")
    assert not rollups.rolled_prefix("/blog")
    assert rollups.rolled_prefix("/a/b/c/")


def test_a_site_is_rolled_in_its_most_recently_asked_zones_only(tmp_path: Path) -> None:
    zones = ["Europe/Berlin", "Asia/Kolkata", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]
    now = time.time()
    for age, tz in enumerate(zones):
        rollups.want(tmp_path, "busy", tz)
        path = rollups._want_path(tmp_path, "busy", tz)
        os.utime(path, (now - 60 * age, now - 60 * age))  # Berlin newest, Sydney oldest
    rollups.want(tmp_path, "quiet", "Asia/Tokyo")
    wanted = rollups.wanted(tmp_path)
    assert sorted(tz for site, tz in wanted if site == "busy") == sorted(zones[: rollups.MAX_ZONES])
    assert [tz for site, tz in wanted if site == "quiet"] == ["Asia/Tokyo"]
    # asking again in an old zone makes it one of the newest
    rollups.want(tmp_path, "busy", "Australia/Sydney")
    assert ("busy", "Australia/Sydney") in rollups.wanted(tmp_path)


async def test_time_only_rollups_are_built_again_with_every_kind(data_dir: Path) -> None:
    """A manifest of VERSION 2 (zones other than UTC rolled for time series only): the compactor drops
    those rollups and builds every zone again with every kind; then a day series filtered by one
    field or by a path prefix, in each zone, comes from that zone's rows and equals the reference."""
    store, events = await open_random_store(data_dir, 3)
    try:
        for tz in ZONES:
            await store.aggregate(
                EventFilter(site_id="s1", start=START, end=START + SPAN), Grouping(kind="time", tz=tz)
            )
        await store.compact_now()
        manifest = store.segment_dir.load()
        old = [replace(r, full=r.tz == rollups.UTC, version=2) for r in manifest.rollups]
        store.segment_dir.save(replace(manifest, generation=manifest.generation + 1, rollups=old))
        flt = EventFilter(site_id="s1", start=START, end=START + SPAN, path_prefix="/blog/")
        series = Grouping(kind="time", unit="day", tz="Asia/Kolkata")
        assert rollups.plan(old, flt, series, None) is None  # no prefix rows in a VERSION 2 rollup
        assert await store.aggregate(flt, series) == expected(events, flt, series, "visitors", 0)

        await store.compact_now()
        rebuilt = store.segment_dir.load().rollups
        assert {r.tz for r in rebuilt if r.site == "s1"} == set(ZONES)
        assert all(r.full and r.version == rollups.VERSION for r in rebuilt)
        rng = random.Random(11)
        for tz in ZONES:
            for flt in (
                EventFilter(site_id="s1", start=START, end=START + SPAN, path_prefix="/blog/"),
                EventFilter(site_id="s1", start=START, end=START + SPAN, equals={"country": "DE"}),
                EventFilter(site_id="s1", start=START, end=START + SPAN, equals={"source": "Google"}),
            ):
                grouping = Grouping(kind="time", unit=rng.choice(["day", "week"]), tz=tz)
                plan = rollups.plan(rebuilt, flt, grouping, None)
                assert plan is not None and plan.tz == tz and plan.filtered is not None
                assert any(matches(e, flt) for e in events)
                assert await store.aggregate(flt, grouping) == expected(events, flt, grouping, "visitors", 0)
    finally:
        await store.close()
