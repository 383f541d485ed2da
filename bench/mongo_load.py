"""MongoDB load: append ~N synthetic events (one site, 60 days) to a real server, then time the stats queries.

Run by the MongoDB CI workflow (.github/workflows/mongo.yml) against 6.0 and 7.0; needs a server
(`--uri` or MONGODB_URI), so it is not one of `python -m bench`'s default benchmarks. Events come from the
same traffic model as bench/query.py, through the store's normal `append` (claims, then events) in batches
of 5,000. Then, over the last 30 days in Europe/Berlin, each query runs `--runs` times uncached: first on
raw events, then again after the hourly pre-aggregates have caught up. Everything is written under a fresh
collection prefix that is dropped at the end (`--keep` keeps it).

Usage: python -m bench.mongo_load --events 1000000 --uri mongodb://127.0.0.1:27017/eddy?replicaSet=rs0
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import sys
import time
import uuid
from typing import Any

from domain.stats.cache import StatsCache
from domain.stats.query import parse_query
from domain.stats.service import StatsService
from domain.stats.synthetic import TrafficModel
from storage.embedded.memory_kv import MemoryKeyValue
from storage.mongo.events import MongoEventStore

SITE = "bench-site"
TZ = "Europe/Berlin"
DAYS = 60
EVENTS_PER_SESSION = 2.08
BATCH = 5000
QUERIES = [
    ("summary", "summary", {}),
    ("timeseries day", "timeseries", {"interval": "day"}),
    ("timeseries hour", "timeseries", {"interval": "hour"}),
    ("breakdown page", "breakdown", {"by": "page"}),
    ("breakdown source", "breakdown", {"by": "source"}),
    ("breakdown country", "breakdown", {"by": "country"}),
]


async def load(store: MongoEventStore, events: int, end_day: dt.date) -> tuple[int, float]:
    """Append ~`events` synthetic events ending on `end_day`; returns (stored, seconds)."""
    model = TrafficModel(SITE, seed=7, tz=TZ)
    per_day = events / EVENTS_PER_SESSION / DAYS
    started = time.perf_counter()
    stored = 0
    pending: list[Any] = []
    first = end_day - dt.timedelta(days=DAYS - 1)
    for batch in model.events(first, DAYS, per_day, people=max(1000, events // 20)):
        pending.extend(batch)
        if len(pending) >= BATCH:
            stored += await store.append(pending)
            pending = []
    if pending:
        stored += await store.append(pending)
    return stored, time.perf_counter() - started


async def time_queries(service: StatsService, cache: StatsCache, now: float, runs: int, label: str) -> None:
    for name, kind, params in QUERIES:
        query = parse_query(params, (), default_tz=TZ, now_ms=int(now * 1000), need_by=kind == "breakdown")
        timings = []
        for _ in range(runs):
            await cache.bump(SITE)
            started = time.perf_counter()
            await getattr(service, kind)(SITE, query)
            timings.append((time.perf_counter() - started) * 1000)
        print(
            f"{label:8} {name:18} p50 {statistics.median(timings):9.1f} ms   max {max(timings):9.1f} ms"
            f"   ({runs} runs)",
            flush=True,
        )


async def main_async(args: argparse.Namespace) -> None:
    prefix = f"bench_{uuid.uuid4().hex[:8]}_"
    store = MongoEventStore(args.uri, prefix=prefix, retention_days=3650)
    await store.open()
    try:
        print(f"server {'.'.join(map(str, store.server_version))}, prefix {prefix}", flush=True)
        now = time.time()
        today = dt.datetime.fromtimestamp(now, tz=dt.UTC).date()
        stored, seconds = await load(store, args.events, today)
        print(f"appended {stored:,} events in {seconds:.1f} s ({stored / seconds:,.0f} events/s)", flush=True)
        cache = StatsCache(MemoryKeyValue())
        service = StatsService(store, cache, clock=lambda: now)
        await time_queries(service, cache, now, args.runs, "raw")
        started = time.perf_counter()
        hours = await store.rollups.catch_up(int(now * 1000))
        print(f"pre-aggregated {hours} closed hours in {time.perf_counter() - started:.1f} s", flush=True)
        await time_queries(service, cache, now, args.runs, "rollups")
    finally:
        if not args.keep:
            db = store._db
            for name in await db.list_collection_names():
                if name.startswith(prefix):
                    await db.drop_collection(name)
        await store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mongo_load")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--uri", default=os.environ.get("MONGODB_URI"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the collections afterwards")
    args = parser.parse_args(argv)
    if not args.uri:
        parser.error("--uri or MONGODB_URI is required")
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
