"""Filtered slices: the segment rows one filtered view reads, kept in memory for the view's other panels.

A dashboard view asks seven to ten questions at once (summary, chart, breakdowns, the compared period),
all over the same site, range and filters. With filters the rollups cannot answer, each question scans
the range's segments for the few rows that match. The first question of the view builds the slice
instead: the matching segment rows, every column, as an Arrow table; the others read the slice, a few
thousand rows instead of the range's hundreds of thousands (measured in BENCHMARKS.md, "Filtered views").

Exact by construction: segment files never change, and a slice is keyed by the manifest generation that
named its files, the site, the range and the whole filter; a newer generation (compaction, merge, purge,
deletion) drops every older slice. The uncompacted tail is never sliced: each question reads it as before.

Bounded: a slice holds at most `max_rows` rows (a filter that keeps more is marked too wide and its
questions scan as before, at the cost of one cut-short build), the slices together at most `max_bytes`,
least recently used dropped first, and a slice unused for `ttl_s` is dropped at the next lookup.
Questions that need the same slice while it is being built wait for it (one build per view, not one per
panel), each up to its own time budget.

A too-wide build costs the most (it reads `max_rows` rows of every column, then throws them away): for a
filter not seen before, the rows it keeps in the first 1/SAMPLE of the range are counted first
(`count(start, end)`: its own columns only; the first part, as a range's end is often still to come), and
a filter that would keep over `max_rows` at that density is not built (measured at 10M events, a filter
just over the bound: its first question 1.5-2.3 s -> 0.66 s; a narrow filter's first 0.32 -> 0.41 s).
What was found is remembered per site and filter, whatever the range: the lowest density (rows per ms) of
a too-wide filter, so a later range of it that would hold more than `max_rows` rows at that density (the
compared period, a longer range) is scanned at once, and that a filter fitted, so its later ranges are
built without the count. Guesses only about where the time goes: answers are the scan's either way.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
import pyarrow as pa

from storage.embedded.columnar.segments import EV_COLUMNS
from storage.ports import EventFilter

DEFAULT_MAX_ROWS = 250_000
DEFAULT_MAX_BYTES = 128 * 1024 * 1024
DEFAULT_TTL_S = 120.0
# Too-wide filters remembered (site and filter, any range), least recently seen forgotten first.
WIDE_FILTERS = 1024
# A new filter's rows are counted in the first 1/SAMPLE of its range before a first build: a quarter of
# 30 days holds a whole week, so the weekly shape of traffic does not sway the guess.
SAMPLE = 4


# Columns no aggregate, count or people question reads (the session is read through its hash `sh`): a
# slice leaves them out (40% less to build at 1M events) unless the filter itself looks at them. Reads
# that return whole events (exports) never go through a slice.
UNREAD_COLUMNS = frozenset({"url", "title", "props", "session_id"})


def slice_columns(flt: EventFilter) -> tuple[str, ...]:
    """The columns a slice of `flt` keeps: ev's columns but the unread ones the filter does not name."""
    named = set(flt.equals) | {c.name for c in flt.conditions if c.kind == "field"}
    kept = tuple(c for c in EV_COLUMNS if c not in UNREAD_COLUMNS or c in named)
    return (*kept, "vh", "sh")


def slice_select(flt: EventFilter, table: str) -> str:
    """The SELECT of `table` (a slice of `flt`) as `ev`'s columns, NULL for the ones it left out."""
    kept = set(slice_columns(flt))
    columns = [c if c in kept else f"NULL::VARCHAR AS {c}" for c in EV_COLUMNS]
    return f"SELECT {', '.join(columns)}, vh, sh FROM {table}"


def is_filtered(flt: EventFilter) -> bool:
    """Whether the filter keeps fewer events than its site and range (the only filters worth a slice)."""
    return bool(flt.equals or flt.props or flt.traits or flt.path_prefix or flt.conditions)


@dataclass
class _Entry:
    generation: int
    table: pa.Table | None = None  # None: being built, or too wide (see `wide`)
    wide: bool = False
    ready: threading.Event = field(default_factory=threading.Event)
    used_at: float = 0.0


class FilteredSlices:
    """The slices of one query engine (thread-safe: its worker threads share it)."""

    def __init__(
        self,
        *,
        max_rows: int = DEFAULT_MAX_ROWS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[int, bytes], _Entry] = OrderedDict()
        self._generation = 0
        # site and filter (range left out) -> lowest rows per ms seen when too wide; 0.0 when it fitted
        self._wide_density: OrderedDict[bytes, float] = OrderedDict()
        self.built = 0  # slices built (kept or found too wide)
        self.skipped = 0  # builds not tried: the filter was too wide before at that density
        self.counted = 0  # filters counted before a first build
        self.hits = 0  # questions answered from a slice another question built

    def held_bytes(self) -> int:
        """Memory the kept slices take."""
        with self._lock:
            return sum(e.table.nbytes for e in self._entries.values() if e.table is not None)

    def get(
        self,
        generation: int,
        flt: EventFilter,
        build: Callable[[int], pa.Table],
        wait_s: float,
        count: Callable[[int, int], int] | None = None,
    ) -> pa.Table | None:
        """The slice of `flt` over the segments of `generation`, built with `build(limit)` (which returns at
        most `limit` rows) when no question built it yet; None when the filter keeps too many rows, or the
        build failed or took longer than `wait_s` (the caller then scans as before). `count(start, end)`
        (the rows the filter keeps in that part of its range) samples a filter not seen before."""
        key = (generation, msgspec.json.encode(flt))
        wide_key = msgspec.json.encode(msgspec.structs.replace(flt, start=0, end=0))
        span = max(1, flt.end - flt.start)
        with self._lock:
            self._forget_older(generation)
            entry = self._entries.get(key)
            density = self._wide_density.get(wide_key)
            if entry is None and density is not None and density * span > self.max_rows:
                self._wide_density.move_to_end(wide_key)
                self._entries[key] = self._wide_entry(generation)
                self.skipped += 1
                return None
            if entry is None:
                entry = _Entry(generation)
                self._entries[key] = entry
                owner = True
            else:
                owner = False
                self._entries.move_to_end(key)
        if not owner:
            if not entry.ready.wait(wait_s):
                return None
            with self._lock:
                entry.used_at = self._clock()
                if entry.table is not None:
                    self.hits += 1
            return entry.table
        try:
            if count is not None and density is None:
                sample_end = min(flt.end, flt.start + max(1, span // SAMPLE))
                sampled = count(flt.start, sample_end) / max(1, sample_end - flt.start)
                wide = sampled * span > self.max_rows
                with self._lock:
                    self.counted += 1
                    if wide:
                        self._remember(wide_key, sampled)
                        entry.wide, entry.used_at = True, self._clock()
                if wide:
                    entry.ready.set()  # questions waiting on this entry see no table: they scan
                    return None
            table = build(self.max_rows + 1)
        except BaseException:
            with self._lock:
                if self._entries.get(key) is entry:
                    del self._entries[key]
            entry.ready.set()
            raise
        with self._lock:
            self.built += 1
            entry.used_at = self._clock()
            if table.num_rows > self.max_rows or table.nbytes > self.max_bytes // 2:
                entry.wide = True  # remembered, so the view's other questions do not try again
                if table.num_rows > self.max_rows:  # at least this dense (the build was cut short)
                    self._remember(wide_key, table.num_rows / span)
            else:
                entry.table = table
                if wide_key not in self._wide_density:
                    self._remember(wide_key, 0.0)  # fitted: later ranges build without a count
            self._trim()
        entry.ready.set()
        return entry.table

    def _wide_entry(self, generation: int) -> _Entry:
        entry = _Entry(generation, wide=True, used_at=self._clock())
        entry.ready.set()
        return entry

    def _remember(self, wide_key: bytes, density: float) -> None:
        """Note a filter's density (0.0: it fitted); a too-wide one keeps the lowest seen. Lock held."""
        known = self._wide_density.get(wide_key)
        if known and density:
            density = min(known, density)
        elif known:
            density = known  # found too wide over some range before: a fitting shorter one does not undo it
        self._wide_density[wide_key] = density
        self._wide_density.move_to_end(wide_key)
        while len(self._wide_density) > WIDE_FILTERS:
            self._wide_density.popitem(last=False)

    def _forget_older(self, generation: int) -> None:
        """Drop the slices of generations before `generation` (their files may be gone: purge, deletion)
        and those unused for ttl_s. Called with the lock held."""
        if generation > self._generation:
            self._generation = generation
        now = self._clock()
        for key, entry in list(self._entries.items()):
            stale = entry.ready.is_set() and now - entry.used_at > self.ttl_s
            if entry.generation < self._generation or stale:
                del self._entries[key]

    def _trim(self) -> None:
        """Drop least recently used slices until the kept ones fit max_bytes. Called with the lock held."""
        held = sum(e.table.nbytes for e in self._entries.values() if e.table is not None)
        for key, entry in list(self._entries.items()):
            if held <= self.max_bytes:
                return
            if entry.table is not None:
                held -= entry.table.nbytes
                del self._entries[key]
