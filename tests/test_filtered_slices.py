"""The filtered views' slices (storage/embedded/columnar/slices.py): one build per view however many
questions ask at once, bounded rows, bytes and age, never a slice of files a newer manifest dropped, and
(through a real store) answers equal to scans, purged events gone at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from storage.embedded.columnar.slices import SAMPLE, FilteredSlices, slice_columns
from storage.embedded.events import SqliteEventStore
from storage.ports import Condition, EventFilter, Grouping
from storage.records import Event

FLT = EventFilter(site_id="s", start=0, end=10, equals={"browser": "Firefox"})
OTHER = EventFilter(site_id="s", start=0, end=10, equals={"browser": "Safari"})


def table(rows: int, width: int = 1) -> pa.Table:
    return pa.table({"v": ["x" * width] * rows})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_questions_asking_at_once_wait_for_one_build() -> None:
    slices = FilteredSlices()
    started, release = threading.Event(), threading.Event()
    builds: list[int] = []

    def build(limit: int) -> pa.Table:
        builds.append(limit)
        started.set()
        release.wait(5)
        return table(3)

    got: list[pa.Table | None] = []
    owner = threading.Thread(target=lambda: got.append(slices.get(1, FLT, build, 5)))
    owner.start()
    assert started.wait(5)
    waiters = [threading.Thread(target=lambda: got.append(slices.get(1, FLT, build, 5))) for _ in range(3)]
    for waiter in waiters:
        waiter.start()
    release.set()
    for thread in (owner, *waiters):
        thread.join(5)
    assert builds == [slices.max_rows + 1]
    assert [t.num_rows for t in got if t is not None] == [3, 3, 3, 3]
    assert (slices.built, slices.hits) == (1, 3)


def test_a_filter_keeping_too_many_rows_is_scanned_and_not_built_again() -> None:
    slices = FilteredSlices(max_rows=5)
    builds: list[int] = []

    def build(limit: int) -> pa.Table:
        builds.append(limit)
        return table(limit)  # the filter keeps more than the cap: the build stops one row past it

    assert slices.get(1, FLT, build, 1) is None
    assert slices.get(1, FLT, build, 1) is None
    assert builds == [6]
    assert slices.held_bytes() == 0


def test_a_filter_too_wide_over_one_range_is_not_built_over_another_as_wide() -> None:
    """The compared period (same length, earlier) and a longer range of a filter found too wide are
    scanned without a build; a range short enough to hold fewer rows at that density is built, and so
    is the same range under another filter or site, or in a later generation's (densities outlive it)."""
    slices = FilteredSlices(max_rows=5)
    builds: list[tuple[int, int]] = []

    def build_for(flt: EventFilter, rows: int) -> Callable[[int], pa.Table]:
        def build(limit: int) -> pa.Table:
            builds.append((flt.start, flt.end))
            return table(min(limit, rows))

        return build

    def ranged(start: int, end: int, base: EventFilter = FLT) -> EventFilter:
        return EventFilter(site_id=base.site_id, start=start, end=end, equals=base.equals)

    month = ranged(1000, 2000)  # 6 rows or more over 1000 ms: at least 0.006 a ms
    assert slices.get(1, month, build_for(month, 600), 1) is None
    previous = ranged(0, 1000)
    assert slices.get(1, previous, build_for(previous, 600), 1) is None
    longer = ranged(0, 3000)
    assert slices.get(2, longer, build_for(longer, 1800), 1) is None
    assert builds == [(1000, 2000)] and slices.skipped == 2
    short = ranged(1000, 1500)  # 0.006 a ms x 500 ms = 3 rows: worth a build
    assert slices.get(2, short, build_for(short, 3), 1) is not None
    other = ranged(1000, 2000, OTHER)
    assert slices.get(2, other, build_for(other, 2), 1) is not None
    assert builds == [(1000, 2000), (1000, 1500), (1000, 2000)]


def test_a_filter_not_seen_before_is_sampled_before_its_first_build() -> None:
    """A new filter is counted in the first 1/SAMPLE of its range first: too wide at that density, it is
    never built (nor sampled again for the compared period); fitting, it is built, and its later ranges
    are built without a count."""
    slices = FilteredSlices(max_rows=5)
    calls: list[tuple[str, int, int]] = []

    def source(rows: int) -> tuple[Callable[[int], pa.Table], float, Callable[[int, int], int]]:
        """(build, wait, count) of a filter keeping `rows` rows spread evenly over 1000 ms."""

        def build(limit: int) -> pa.Table:
            calls.append(("build", 0, 0))
            return table(min(limit, rows))

        def count(start: int, end: int) -> int:
            calls.append(("count", start, end))
            return rows * (end - start) // 1000

        return build, 1.0, count

    wide = EventFilter(site_id="s", start=1000, end=2000, equals={"browser": "Firefox"})
    assert slices.get(1, wide, *source(600)) is None
    compared = EventFilter(site_id="s", start=0, end=1000, equals={"browser": "Firefox"})
    assert slices.get(1, compared, *source(600)) is None
    assert calls == [("count", 1000, 1000 + 1000 // SAMPLE)]
    assert slices.counted == 1 and slices.skipped == 1 and slices.built == 0

    calls.clear()
    narrow = EventFilter(site_id="s", start=1000, end=2000, equals={"browser": "Safari"})
    assert slices.get(1, narrow, *source(3)) is not None
    later = EventFilter(site_id="s", start=2000, end=3000, equals={"browser": "Safari"})
    assert slices.get(1, later, *source(4)) is not None
    assert [call[0] for call in calls] == ["count", "build", "build"]


def test_slices_are_dropped_least_recently_used_first_past_the_byte_bound() -> None:
    one = table(10, width=100).nbytes
    slices = FilteredSlices(max_bytes=2 * one + one // 2)
    third = EventFilter(site_id="s", start=0, end=10, equals={"browser": "Edge"})
    for flt in (FLT, OTHER):
        slices.get(1, flt, lambda limit: table(10, width=100), 1)
    slices.get(1, FLT, lambda limit: pytest.fail("FLT is kept"), 1)  # FLT is now the most recent
    slices.get(1, third, lambda limit: table(10, width=100), 1)
    assert slices.held_bytes() == 2 * one
    rebuilt: list[str] = []
    slices.get(1, OTHER, lambda limit: rebuilt.append("OTHER") or table(1), 1)
    slices.get(1, FLT, lambda limit: rebuilt.append("FLT") or table(1), 1)
    assert rebuilt == ["OTHER"]  # OTHER was the least recently used: dropped; FLT was kept


def test_a_slice_unused_for_its_ttl_and_those_of_older_generations_are_dropped() -> None:
    clock = Clock()
    slices = FilteredSlices(ttl_s=60, clock=clock)
    slices.get(1, FLT, lambda limit: table(2), 1)
    clock.now += 59
    slices.get(1, FLT, lambda limit: pytest.fail("still fresh"), 1)
    clock.now += 61
    assert slices.get(1, FLT, lambda limit: table(4), 1).num_rows == 4  # type: ignore[union-attr]
    slices.get(1, OTHER, lambda limit: table(5), 1)
    # A newer manifest (compaction, purge, deletion): the slices of the old files are gone at once.
    assert slices.get(2, FLT, lambda limit: table(6), 1).num_rows == 6  # type: ignore[union-attr]
    assert slices.held_bytes() == table(6).nbytes


def test_a_failed_build_is_raised_and_the_next_question_builds_again() -> None:
    slices = FilteredSlices()

    def broken(limit: int) -> pa.Table:
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        slices.get(1, FLT, broken, 1)
    assert slices.get(1, FLT, lambda limit: table(2), 1).num_rows == 2  # type: ignore[union-attr]


def test_a_slice_keeps_the_columns_its_filter_names() -> None:
    assert "url" not in slice_columns(FLT)
    assert "url" in slice_columns(EventFilter(site_id="s", start=0, end=1, equals={"url": "u"}))
    title_is = Condition(kind="field", name="title", op="is", values=("t",))
    named = EventFilter(site_id="s", start=0, end=1, conditions=(title_is,))
    assert "title" in slice_columns(named)


def event(n: int, **fields: str) -> Event:
    return Event(
        id=f"e{n}",
        site_id="s",
        ts=1_000_000 + n * 60_000,
        name="pageview",
        url=f"https://x.example/p{n % 3}",
        path=f"/p{n % 3}",
        title=f"Page {n % 3}",
        visitor_id=f"v{n % 7}",
        session_id=f"s{n % 11}",
        **fields,
    )


async def test_filtered_questions_through_a_store_equal_scans_and_see_purges(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path, compact_interval_s=None)
    await store.open()
    try:
        await store.append([event(n, browser="Firefox" if n % 2 else "Chrome") for n in range(200)])
        await store.compact_now()
        await store.append([event(n, browser="Firefox") for n in range(200, 220)])  # the tail
        flt = EventFilter(
            site_id="s", start=0, end=10**12, equals={"browser": "Firefox", "url": "https://x.example/p1"}
        )
        groupings = [Grouping(), Grouping(kind="field", field="path"), Grouping(kind="entry_page")]
        sliced = [await store.aggregate(flt, g) for g in groupings]
        assert store.engine.slices is not None and store.engine.slices.hits == len(groupings) - 1
        slices, store.engine.slices = store.engine.slices, None
        assert [await store.aggregate(flt, g) for g in groupings] == sliced
        store.engine.slices = slices
        assert sliced[0][0].events == len([n for n in range(220) if n % 3 == 1 and (n % 2 or n >= 200)])

        await store.purge_before("s", 1_000_000 + 100 * 60_000)
        after = await store.aggregate(flt, Grouping())
        assert after[0].first_ts >= 1_000_000 + 100 * 60_000
        assert after[0].events == len([n for n in range(100, 220) if n % 3 == 1 and (n % 2 or n >= 200)])
    finally:
        await store.close()
