"""Query benchmark: p50/p95 of every stats question on the embedded store at 1M and 10M events.

For each size, synthetic traffic of one site over 60 days (domain/stats/synthetic.py: diurnal and weekly
shape, sessions, sources, pages) is written with the store's bulk load path (`EventStore.bulk_load`:
straight into columnar segments) and timed. Then, over the last 30 days in the site's timezone, each
question runs `--query-runs` times uncached (the site's cache version is bumped before each run, so the
store answers) and as many times cached (served from the in-process query cache):

summary; timeseries by minute (last 3 days: the bucket cap), hour, day, week and month; a breakdown by
every dimension; breakdowns and summaries with one filter and with three; funnel, retention, DAU/WAU/MAU.

Usage: python -m bench --only query [--query-events 1000000,10000000] [--query-runs 20]
       python -m bench.query --events 1000000 [--query-labels funnel,retention,DAU]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from domain.stats.answers import StatsAnswer
from domain.stats.cache import StatsCache
from domain.stats.funnels import parse_steps
from domain.stats.query import parse_query
from domain.stats.service import StatsService
from domain.stats.synthetic import TrafficModel
from storage.embedded.events import SqliteEventStore
from storage.embedded.memory_kv import MemoryKeyValue
from storage.ports import EventFilter, Grouping

SITE = "bench-site"
TZ = "Europe/Berlin"
DAYS = 60
EVENTS_PER_SESSION = 2.08  # measured mean of the traffic model (weekly shape included)
SLOW_MS = 1000.0
SLOW_RUNS = 3
DIMENSIONS = ("page", "entry_page", "exit_page", "source", "referrer", "utm_source", "utm_medium",
              "utm_campaign", "country", "browser", "os", "device", "event", "prop:plan")  # fmt: skip
ONE_FILTER = ["country==DE"]
THREE_FILTERS = ["country==DE;device==desktop;browser==Chrome"]
QUERIES: list[tuple[str, str, dict[str, str], list[str]]] = [
    ("summary", "summary", {}, []),
    ("timeseries minute (3 days)", "timeseries", {"interval": "minute", "days": "3"}, []),
    *[
        (f"timeseries {unit}", "timeseries", {"interval": unit}, [])
        for unit in ("hour", "day", "week", "month")
    ],
    *[(f"breakdown {by}", "breakdown", {"by": by}, []) for by in DIMENSIONS],
    ("summary, country==DE", "summary", {}, ONE_FILTER),
    ("summary, browser==Firefox", "summary", {}, ["browser==Firefox"]),
    ("timeseries day, country==DE", "timeseries", {"interval": "day"}, ONE_FILTER),
    ("timeseries day, page==/blog/*", "timeseries", {"interval": "day"}, ["page==/blog/*"]),
    ("breakdown page, country==DE", "breakdown", {"by": "page"}, ONE_FILTER),
    ("breakdown source, country==DE", "breakdown", {"by": "source"}, ONE_FILTER),
    ("breakdown source, 3 filters", "breakdown", {"by": "source"}, THREE_FILTERS),
    ("summary, 3 filters", "summary", {}, THREE_FILTERS),
    ("funnel / -> /pricing -> signup", "funnel", {"steps": "page:/,page:/pricing,event:signup"}, []),
    ("retention (weekly cohorts)", "retention", {}, []),
    ("DAU/WAU/MAU", "active", {}, []),
]


def add_arguments(parser: Any) -> None:
    """The benchmark's flags."""
    parser.add_argument(
        "--query-events",
        "--events",
        dest="query_events",
        default="1000000,10000000",
        help="comma-separated store sizes (events)",
    )
    parser.add_argument("--query-runs", type=int, default=20, help="runs per query and mode")
    parser.add_argument(
        "--query-labels",
        default="",
        help="comma-separated pieces of query labels: run only the questions whose label holds one"
        " (e.g. funnel,retention,DAU); all when empty",
    )
    parser.add_argument(
        "--query-store",
        "--store",
        dest="query_store",
        default="",
        help="keep the store in this folder: loaded on the first run, reused (with its clock) by later"
        " runs, e.g. to time two versions of the engine on the same events (one size only)",
    )
    parser.add_argument(
        "--three-filters",
        dest="query_three_filters",
        default=THREE_FILTERS[0],
        help="the filters of the '3 filters' questions (e.g. a narrow set: country==DE;device==mobile;"
        "browser==Safari)",
    )
    parser.add_argument(
        "--no-scan",
        dest="query_scan",
        action="store_false",
        help="skip the side-by-side answers without rollups (at 100M events they take minutes each)",
    )


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


async def load(store: SqliteEventStore, events: int, end_day: dt.date) -> tuple[int, float]:
    """Bulk-load ~`events` synthetic events ending on `end_day`; returns (stored, seconds), the
    seconds including the generation of the events."""
    model = TrafficModel(SITE, seed=7, tz=TZ)
    per_day = events / EVENTS_PER_SESSION / DAYS
    started = time.perf_counter()
    first = end_day - dt.timedelta(days=DAYS - 1)
    stored = await store.bulk_load(model.events(first, DAYS, per_day, people=max(1000, events // 20)))
    return stored, time.perf_counter() - started


async def ask(service: StatsService, kind: str, query: Any, params: dict[str, str]) -> StatsAnswer:
    """One question through the stats service."""
    if kind == "funnel":
        return await service.funnel(SITE, query, parse_steps(params["steps"]), 86_400)
    return await getattr(service, kind)(SITE, query)  # type: ignore[no-any-return]


def chosen_queries(labels: str, three: str = "") -> list[tuple[str, str, dict[str, str], list[str]]]:
    """The QUERIES whose label holds one of the comma-separated pieces of `labels` (all when empty), the
    three-filter ones asked with `three` when given."""
    pieces = [piece.strip() for piece in labels.split(",") if piece.strip()]
    chosen = [q for q in QUERIES if not pieces or any(piece in q[0] for piece in pieces)]
    if not three:
        return chosen
    return [(label, kind, params, [three] if f == THREE_FILTERS else f) for label, kind, params, f in chosen]


# The questions the rollups (and their people rows) may answer: without any of them, building them is
# skipped.
ROLLED_KINDS = ("summary", "timeseries", "breakdown", "retention", "active")


async def measure(
    size: int, runs: int, labels: str = "", scan: bool = True, keep: str = "", three: str = ""
) -> list[dict[str, Any]]:
    """Load one store of `size` events and time every chosen query cold and cached (and by scans alone,
    side by side, unless `scan` is false). With `keep`, the store lives in that folder and a store
    loaded there before is reused, with the clock of its load."""
    queries = chosen_queries(labels, three)
    async with kept_store(Path(keep)) if keep else scratch_store("query") as store:
        loaded_at = store.segment_dir.path.parent / "bench-now"
        if loaded_at.exists():
            now = float(loaded_at.read_text())
            today = dt.datetime.fromtimestamp(now, tz=ZoneInfo(TZ)).date()
            stored = await store.count(EventFilter(site_id=SITE, start=0, end=2**62))
            loading = f"reused the {stored:,} events loaded in {loaded_at.parent}"
        else:
            now = time.time()
            today = dt.datetime.fromtimestamp(now, tz=ZoneInfo(TZ)).date()
            stored, seconds = await load(store, size, today)
            loading = f"load {seconds:.0f} s ({stored / seconds:,.0f}/s)"
            if keep:
                loaded_at.write_text(repr(now))
        print(loading, file=sys.stderr)
        cache = StatsCache(MemoryKeyValue())
        service = StatsService(store, cache, clock=lambda: now)
        # The compactor's rollups of sealed days: UTC and, once a time series in the site's timezone was
        # asked, that zone (both with every kind), each with the days' people rows. Built as the
        # compactor process would, timed (a kept store builds only what it lacks).
        started = time.perf_counter()
        if any(kind in ROLLED_KINDS for _, kind, _, _ in queries):
            await store.aggregate(
                EventFilter(site_id=SITE, start=0, end=int(now * 1000)), Grouping(kind="time", tz=TZ)
            )
            await store.compact_now()
        rollup_seconds = time.perf_counter() - started
        print(f"rollups built in {rollup_seconds:.1f} s", file=sys.stderr)
        rows: list[dict[str, Any]] = []
        for label, kind, params, filters in queries:
            window = dict(params)
            days = int(window.pop("days", "30"))
            window.pop("steps", None)
            window["from"] = (today - dt.timedelta(days=days - 1)).isoformat()
            query = parse_query(
                window, filters, default_tz=TZ, now_ms=int(now * 1000), need_by=kind == "breakdown"
            )
            timings: dict[str, list[float]] = {"cold": [], "cached": []}
            if scan:
                timings["scan (no rollups)"] = []
            store.use_rollups = False  # the same question answered by scans only, side by side
            for _ in range(min(runs, SLOW_RUNS) if scan else 0):
                await cache.bump(SITE)
                started = time.perf_counter()
                await ask(service, kind, query, params)
                timings["scan (no rollups)"].append((time.perf_counter() - started) * 1000)
            store.use_rollups = True
            for run_index in range(runs):
                await cache.bump(SITE)
                started = time.perf_counter()
                answer = await ask(service, kind, query, params)
                timings["cold"].append((time.perf_counter() - started) * 1000)
                assert answer.cached is False
                if run_index == SLOW_RUNS - 1 and min(timings["cold"]) > SLOW_MS:
                    break  # raw scans of millions of events: a few runs tell enough
            for _ in range(runs):
                started = time.perf_counter()
                answer = await ask(service, kind, query, params)
                timings["cached"].append((time.perf_counter() - started) * 1000)
                assert answer.cached is True
            for mode, values in timings.items():
                row = {
                    "events": f"{stored:,}",
                    "query (30 days)": label,
                    "mode": mode,
                    "p50 ms": round(statistics.median(values), 2),
                    "p95 ms": round(percentile(values, 0.95), 2),
                }
                print(row, file=sys.stderr)  # progress: a long run shows its figures as they come
                rows.append(row)
        in_range = await store.count(EventFilter(site_id=SITE, start=query.start, end=query.end))
        note = (
            f"{loading}; rollups {rollup_seconds:.0f} s;"
            f" 30 days hold {in_range:,} events; {people_rows_held(store)}"
        )
        rows.append(
            {"events": f"{stored:,}", "query (30 days)": note, "mode": "", "p50 ms": "", "p95 ms": ""}
        )
        return rows


@contextlib.asynccontextmanager
async def scratch_store(name: str) -> AsyncIterator[SqliteEventStore]:
    """An embedded event store in a new temporary folder (no background compaction: the benchmarks
    compact when they mean to), deleted with its folder afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix=f"eddy-bench-{name}-"))
    try:
        async with kept_store(workdir) as store:
            yield store
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.asynccontextmanager
async def kept_store(folder: Path) -> AsyncIterator[SqliteEventStore]:
    """An embedded event store in `folder` (created when missing; no background compaction), kept
    afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    store = SqliteEventStore(folder, compact_interval_s=None)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def people_rows_held(store: SqliteEventStore) -> str:
    """How many people rows the rollups hold, per timezone, and their size on disk."""
    held = []
    entries = store.segment_dir.load().rollups
    for tz in sorted({r.tz for r in entries}):
        files = [store.segment_dir.path / r.people for r in entries if r.tz == tz and r.people]
        if files:
            listed = ", ".join(f"'{f}'" for f in files)
            rows = duckdb.sql(f"SELECT count(*) FROM read_parquet([{listed}])").fetchall()[0][0]
            size = sum(f.stat().st_size for f in files) / 1e6
            held.append(f"{tz} {rows:,} ({size:.1f} MB)")
    return "people rows " + (", ".join(held) or "none")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run every size; returns the table rows."""
    sizes = [int(part) for part in str(args.query_events).split(",") if part.strip()]
    rows: list[dict[str, Any]] = []
    for size in sizes:
        keep = str(getattr(args, "query_store", ""))
        three = str(getattr(args, "query_three_filters", ""))
        runs, labels, scan = args.query_runs, args.query_labels, args.query_scan
        rows.extend(asyncio.run(measure(size, runs, labels, scan, keep, three)))
    return {
        "title": "Stats questions on the embedded store (columnar segments, DuckDB), last 30 of 60 days",
        "rows": rows,
        "notes": [
            "cold = the site's cache version bumped before each run, so the store answers; "
            "cached = the same query answered from the in-process query cache; "
            "scan (no rollups) = cold with the store's rollups and people rows switched off (the previous"
            " engine)",
            f"queries slower than {SLOW_MS:.0f} ms cold ran {SLOW_RUNS} times (p95 = the slowest)",
        ],
    }


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.query`: this benchmark alone."""
    parser = argparse.ArgumentParser(prog="python -m bench.query")
    add_arguments(parser)
    result = run(parser.parse_args(argv))
    for row in result["rows"]:
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
