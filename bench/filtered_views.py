"""Filtered dashboard views with and without slices (storage/embedded/columnar/slices.py), side by side.

One site of synthetic traffic (bench/query.py's model, 60 days) is bulk-loaded; then ten views, each with
three filters the rollups cannot answer (browser, page, country), ask what the dashboard asks at once:
summary, daily series, five breakdowns, and the previous period's summary and series. Each view runs
twice, once with slices and once without, in alternating order; wall time and process CPU time (every
thread: DuckDB's included) per view are reported.

Usage: python -m bench.filtered_views [--events 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import time
from zoneinfo import ZoneInfo

from bench.query import DAYS, EVENTS_PER_SESSION, SITE, TZ, scratch_store
from domain.stats.synthetic import TrafficModel
from storage.embedded.columnar.slices import FilteredSlices
from storage.ports import EventFilter, Grouping

COUNTRIES = ("US", "DE", "GB", "FR", "IN", "BR", "CA", "JP", "NL", "ES")
GROUPINGS = [
    Grouping(),
    Grouping(kind="time", unit="day", tz=TZ),
    *(Grouping(kind="field", field=f) for f in ("path", "source", "country", "browser", "name")),
]


async def measure(events: int) -> dict[str, list[tuple[float, float]]]:
    """Load the store and time every view in both modes: {mode: [(wall ms, cpu ms)]}."""
    async with scratch_store("views") as store:
        now = time.time()
        today = dt.datetime.fromtimestamp(now, tz=ZoneInfo(TZ)).date()
        model = TrafficModel(SITE, seed=7, tz=TZ)
        per_day = events / EVENTS_PER_SESSION / DAYS
        first = today - dt.timedelta(days=DAYS - 1)
        await store.bulk_load(model.events(first, DAYS, per_day, people=max(1000, events // 20)))
        start = int(
            dt.datetime.combine(today - dt.timedelta(days=29), dt.time(), ZoneInfo(TZ)).timestamp() * 1000
        )
        end = int(now * 1000)
        results: dict[str, list[tuple[float, float]]] = {"slices": [], "no slices": []}
        for index, country in enumerate(COUNTRIES):
            modes = ["slices", "no slices"] if index % 2 else ["no slices", "slices"]
            for mode in modes:
                store.engine.slices = FilteredSlices() if mode == "slices" else None
                equals = {
                    "browser": "Firefox" if index % 2 else "Chrome",
                    "path": "/pricing" if index % 3 else "/",
                    "country": country,
                }
                now_flt = EventFilter(site_id=SITE, start=start, end=end, equals=equals)
                before = EventFilter(site_id=SITE, start=2 * start - end, end=start, equals=equals)
                wall, cpu = time.perf_counter(), time.process_time()
                await asyncio.gather(
                    *(store.aggregate(now_flt, g, limit=10) for g in GROUPINGS),
                    *(store.aggregate(before, g) for g in GROUPINGS[:2]),
                )
                results[mode].append(
                    ((time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000)
                )
        return results


def main(argv: list[str] | None = None) -> int:
    """Run and print one line per mode."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    for mode, values in asyncio.run(measure(args.events)).items():
        walls, cpus = [w for w, _ in values], [c for _, c in values]
        print(
            f"{mode}: wall p50 {statistics.median(walls):.0f} ms, max {max(walls):.0f} ms;"
            f" cpu p50 {statistics.median(cpus):.0f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
