"""Metrics benchmark: the cost of a /metrics scrape as sites and user-declared metrics grow, and how
many metric samples a second one process records (the domain call behind POST /api/v1/metrics).

Each size runs in a fresh child process (prometheus-client picks single or multiprocess values at
start): `single` is one process's registry, `multiprocess` is the merge of memory-mapped files that
`--processes N` scrapes pay (here one worker's files).

    python -m bench --only metrics [--metrics-sites 10,100] [--metrics-scrapes 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LABEL_VALUES = 20  # values per label per metric (below the cap)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """This benchmark's flags."""
    parser.add_argument("--metrics-sites", default="10,100", help="site counts to measure (comma-separated)")
    parser.add_argument("--metrics-scrapes", type=int, default=20, help="scrapes timed per size")


async def _measure(sites: int, scrapes: int, data_dir: Path) -> dict[str, Any]:
    from domain.user_metrics.service import Sample
    from runtime.secrets import load_or_create_secrets
    from server.services import build_context
    from settings.config import Config
    from storage.records import Event

    ctx = build_context(Config(data_dir=data_dir), load_or_create_secrets(data_dir, env={}))
    await ctx.start()
    try:
        now = time.time()
        for s in range(sites):
            for name, kind in (("signups", "counter"), ("basket", "gauge"), ("load_seconds", "histogram")):
                doc = {
                    "id": f"m{s}{name}",
                    "site_id": f"site{s}",
                    "name": name,
                    "type": kind,
                    "help": name,
                    "labels": ["page"],
                    "buckets": None,
                    "created_at": now,
                    "updated_at": now,
                }
                await ctx.stores.docs.insert("metric_configs", doc)
        await ctx.user_metrics.reload()
        recorded = 0
        started = time.perf_counter()
        for s in range(sites):
            batch = [
                Sample(name, float(i), {"page": f"/p{i % LABEL_VALUES}"})
                for i in range(60)
                for name in ("signups", "basket", "load_seconds")
            ]
            recorded += await ctx.user_metrics.record(f"site{s}", batch)
        record_s = time.perf_counter() - started
        ctx.metrics.on_events(
            [Event(id=f"e{s}", site_id=f"site{s}", ts=int(now * 1000), name="pageview") for s in range(sites)]
        )
        size = len(ctx.metrics.exposition())
        timings = []
        for _ in range(scrapes):
            started = time.perf_counter()
            ctx.metrics.exposition()
            timings.append(time.perf_counter() - started)
        timings.sort()
        return {
            "scrape_ms_p50": round(timings[len(timings) // 2] * 1000, 2),
            "scrape_ms_max": round(timings[-1] * 1000, 2),
            "scrape_kib": round(size / 1024, 1),
            "samples_per_s": int(recorded / record_s),
        }
    finally:
        await ctx.stop()


def _child(sites: int, scrapes: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(_measure(sites, scrapes, Path(tmp)))
    print(json.dumps(result))


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Measure every size in both modes, each in a fresh process."""
    rows = []
    for sites in [int(n) for n in args.metrics_sites.split(",") if n.strip()]:
        for mode in ("single", "multiprocess"):
            with tempfile.TemporaryDirectory() as multiproc:
                env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
                if mode == "multiprocess":
                    env["PROMETHEUS_MULTIPROC_DIR"] = multiproc
                out = subprocess.run(
                    [sys.executable, "-m", "bench.metrics", str(sites), str(args.metrics_scrapes)],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=Path(__file__).resolve().parents[1],
                )
            measured = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append({"sites": sites, "user_families": sites * 3, "mode": mode, **measured})
    return {
        "title": "metrics: /metrics scrape cost and metric sample recording",
        "rows": rows,
        "notes": [
            f"each site declares a counter, a gauge and a histogram with one label of {LABEL_VALUES} values",
            "samples_per_s: UserMetrics.record in batches of 180 (the HTTP layer not included)",
        ],
    }


if __name__ == "__main__":
    _child(int(sys.argv[1]), int(sys.argv[2]))
