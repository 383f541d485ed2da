"""Side by side: the same stats questions on one source tree's embedded store, for comparing two commits.

Usage: python bench/query_side_by_side.py TREE EVENTS
       (e.g. a `git worktree` of an older commit, then this checkout; run them one after the other)

Loads EVENTS synthetic events of one site over 60 days into a fresh store of TREE (its `bulk_load` when the
tree has one, else `append`), then times each question over the last 30 days (uncached: the site's cache
version is bumped first; 3 runs, 1 when a run takes over 20 s) and prints one JSON line.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

SITE, TZ, DAYS = "bench-site", "Europe/Berlin", 60
QUESTIONS: list[tuple[str, str, dict[str, str], list[str]]] = [
    ("summary", "summary", {}, []),
    ("breakdown browser", "breakdown", {"by": "browser"}, []),
    ("breakdown utm_source", "breakdown", {"by": "utm_source"}, []),
    ("breakdown event", "breakdown", {"by": "event"}, []),
    ("summary country==DE", "summary", {}, ["country==DE"]),
    ("breakdown page country==DE", "breakdown", {"by": "page"}, ["country==DE"]),
    ("timeseries hour", "timeseries", {"interval": "hour"}, []),
    ("entry_page 1 day", "breakdown", {"by": "entry_page", "days": "1"}, []),
]


async def measure(events: int) -> dict[str, Any]:
    """Load and time every question on the tree whose modules are first on sys.path."""
    from domain.stats.cache import StatsCache
    from domain.stats.query import parse_query
    from domain.stats.service import StatsService
    from domain.stats.synthetic import TrafficModel
    from storage.embedded.events import SqliteEventStore
    from storage.embedded.memory_kv import MemoryKeyValue

    workdir = Path(tempfile.mkdtemp(prefix="eddy-sbs-"))
    options = (
        {"compact_interval_s": None}
        if "compact_interval_s" in SqliteEventStore.__init__.__code__.co_varnames
        else {}
    )
    store: Any = SqliteEventStore(workdir, **options)
    await store.open()
    try:
        now = time.time()
        today = dt.datetime.fromtimestamp(now, tz=ZoneInfo(TZ)).date()
        model = TrafficModel(SITE, seed=7, tz=TZ)
        started = time.perf_counter()
        batches = model.events(
            today - dt.timedelta(days=DAYS - 1), DAYS, events / 2.08 / DAYS, people=max(1000, events // 20)
        )
        if hasattr(store, "bulk_load"):
            stored = await store.bulk_load(batches)
        else:
            stored = 0
            for batch in batches:
                stored += await store.append(batch)
        out: dict[str, Any] = {"events": stored, "load_s": round(time.perf_counter() - started, 1)}
        cache = StatsCache(MemoryKeyValue())
        service = StatsService(store, cache, clock=lambda: now)
        for label, kind, params, filters in QUESTIONS:
            window = dict(params)
            days = int(window.pop("days", "30"))
            window["from"] = (today - dt.timedelta(days=days - 1)).isoformat()
            query = parse_query(
                window, filters, default_tz=TZ, now_ms=int(now * 1000), need_by=kind == "breakdown"
            )
            timings: list[float] = []
            for _ in range(3):
                await cache.bump(SITE)
                began = time.perf_counter()
                await getattr(service, kind)(SITE, query)
                timings.append(round((time.perf_counter() - began) * 1000, 1))
                if timings[-1] > 20_000:
                    break
            out[label] = timings
            print(label, timings, file=sys.stderr)
        return out
    finally:
        await store.close()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str]) -> int:
    """Run on TREE with EVENTS events; print the JSON line."""
    tree, events = argv[0], int(argv[1])
    sys.path.insert(0, str(Path(tree).resolve()))
    print(json.dumps(asyncio.run(measure(events))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
