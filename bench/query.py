"""Query benchmark: p50/p95 of the stats queries on the embedded store at 1M and 10M events.

For each size, synthetic traffic of one site over 60 days (domain/stats/synthetic.py: diurnal and weekly
shape, sessions, sources, pages) is appended to a fresh SQLite event store in a temp dir through the
store's normal `append` (batches of 20k events: id dedupe, rollups, one transaction each). Then, over
the last 30 days in the site's timezone, each query runs `--query-runs` times uncached (the site's cache
version is bumped before each run, so the store answers) and as many times cached (served from the
in-process cache):

summary (with the previous period), timeseries daily and hourly, breakdown by page and by source.

Usage: python -m bench --only query [--query-events 1000000,10000000] [--query-runs 20]
       python -m bench.query --events 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from domain.stats.cache import StatsCache
from domain.stats.query import parse_query
from domain.stats.service import StatsService
from domain.stats.synthetic import TrafficModel
from storage.embedded.events import SqliteEventStore
from storage.embedded.memory_kv import MemoryKeyValue
from storage.ports import EventFilter

SITE = "bench-site"
TZ = "Europe/Berlin"
DAYS = 60
EVENTS_PER_SESSION = 2.08  # measured mean of the traffic model (weekly shape included)
SLOW_MS = 1000.0
SLOW_RUNS = 3
QUERIES = [
    ("summary", "summary", {}),
    ("timeseries day", "timeseries", {"interval": "day"}),
    ("timeseries hour", "timeseries", {"interval": "hour"}),
    ("breakdown page", "breakdown", {"by": "page"}),
    ("breakdown source", "breakdown", {"by": "source"}),
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


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


async def load(store: SqliteEventStore, events: int, end_day: dt.date) -> tuple[int, float]:
    """Append ~`events` synthetic events ending on `end_day`; returns (stored, seconds)."""
    model = TrafficModel(SITE, seed=7, tz=TZ)
    per_day = events / EVENTS_PER_SESSION / DAYS
    started = time.perf_counter()
    stored = 0
    first = end_day - dt.timedelta(days=DAYS - 1)
    for batch in model.events(first, DAYS, per_day, people=max(1000, events // 20)):
        stored += await store.append(batch)
    return stored, time.perf_counter() - started


async def measure(size: int, runs: int) -> list[dict[str, Any]]:
    """Load one store of `size` events and time every query cold and cached."""
    workdir = Path(tempfile.mkdtemp(prefix="eddy-bench-query-"))
    store = SqliteEventStore(workdir)
    await store.open()
    try:
        now = time.time()
        today = dt.datetime.fromtimestamp(now, tz=dt.UTC).date()
        stored, seconds = await load(store, size, today)
        print(f"loaded {stored} events in {seconds:.1f} s ({stored / seconds:,.0f}/s)", file=sys.stderr)
        cache = StatsCache(MemoryKeyValue())
        service = StatsService(store, cache, clock=lambda: now)
        rows: list[dict[str, Any]] = []
        for label, kind, params in QUERIES:
            query = parse_query(
                params, (), default_tz=TZ, now_ms=int(now * 1000), need_by=kind == "breakdown"
            )
            method = getattr(service, kind)
            timings: dict[str, list[float]] = {"cold": [], "cached": []}
            for run_index in range(runs):
                await cache.bump(SITE)
                started = time.perf_counter()
                answer = await method(SITE, query)
                timings["cold"].append((time.perf_counter() - started) * 1000)
                assert answer["cached"] is False
                if run_index == SLOW_RUNS - 1 and min(timings["cold"]) > SLOW_MS:
                    break  # raw scans of millions of events: a few runs tell enough
            for _ in range(runs):
                started = time.perf_counter()
                answer = await method(SITE, query)
                timings["cached"].append((time.perf_counter() - started) * 1000)
                assert answer["cached"] is True
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
        note = f"load {seconds:.0f} s ({stored / seconds:,.0f}/s); 30 days hold {in_range:,} events"
        rows.append(
            {"events": f"{stored:,}", "query (30 days)": note, "mode": "", "p50 ms": "", "p95 ms": ""}
        )
        return rows
    finally:
        await store.close()
        shutil.rmtree(workdir, ignore_errors=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run every size; returns the table rows."""
    sizes = [int(part) for part in str(args.query_events).split(",") if part.strip()]
    rows: list[dict[str, Any]] = []
    for size in sizes:
        rows.extend(asyncio.run(measure(size, args.query_runs)))
    return {
        "title": "Stats queries on the embedded store (SQLite), last 30 of 60 days",
        "rows": rows,
        "notes": [
            "cold = the site's cache version bumped before each run, so the store answers; "
            "cached = the same query answered from the in-process query cache",
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
