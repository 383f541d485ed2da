"""Import throughput: an Umami export of N events (made up, tests/support/umami_export.py) imported into
an in-process Eddy on the embedded store through ImportService: the reading pass (zip → spool) and the
whole import (reading, then the event store's `append` 5,000 at a time), then the same file again (every
id already stored: nothing written)."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from domain.imports.rows import Tally
from domain.imports.spool import Spool
from domain.imports.umami import spool_umami
from tests.support.app import make_test_context
from tests.support.umami_export import umami_zip


def add_arguments(parser: Any) -> None:
    """--import-events: how many events the export holds."""
    parser.add_argument("--import-events", type=int, default=100_000, help="events in the Umami export")


async def _bench(events: int, work: Path) -> list[dict[str, Any]]:
    body, _ = umami_zip(events=events)
    source = work / "export.zip"
    source.write_bytes(body)
    started = time.perf_counter()
    spool = Spool(work / "reading.spool")
    spool_umami(source, "bench", Tally(), spool)
    spool.count()
    spool.close()
    reading = time.perf_counter() - started
    ctx = make_test_context(work / "data")
    await ctx.start()
    rows = [{"step": "reading pass only (zip to spool)", "seconds": round(reading, 1)}]
    try:
        for step in ("whole import", "same file again"):
            upload = work / f"{step}.zip"
            upload.write_bytes(body)
            started = time.perf_counter()
            job = await ctx.imports.begin("bench", "bench", "umami", upload)
            await ctx.imports.wait(job["id"])
            seconds = time.perf_counter() - started
            done = await ctx.imports.get("bench", job["id"])
            rows.append(
                {
                    "step": step,
                    "seconds": round(seconds, 1),
                    "events/s": round(events / seconds),
                    "imported": done["rows_imported"],
                    "already stored": done["rows_duplicate"],
                }
            )
    finally:
        await ctx.stop()
    return rows


def run(args: Any) -> dict[str, Any]:
    """Import an Umami export twice and time it."""
    events = getattr(args, "import_events", 100_000)
    with tempfile.TemporaryDirectory(prefix="eddy-bench-imports-") as work:
        rows = asyncio.run(_bench(events, Path(work)))
    return {
        "title": f"Umami import of {events:,} events (embedded store)",
        "rows": rows,
        "notes": ["events/s counts the whole file over the whole import (reading, checking, writing)"],
    }
