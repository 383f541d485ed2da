"""Several processes appending to one SQLite event store (`--processes N` on one data dir): every event is
stored and counted once, even when the processes race with the
same ids."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from storage.embedded.events import SqliteEventStore
from storage.ports import EventFilter, Grouping

ROOT = Path(__file__).resolve().parents[1]
HOUR = 3_600_000
T0 = 1_780_000_000_000 - 1_780_000_000_000 % HOUR
EVENTS = 3000

# Appends events 0..EVENTS-1 in batches of 100, in an order of its own, and prints how many it stored.
APPENDER = f"""
import asyncio, sys
from pathlib import Path
from storage.embedded.events import SqliteEventStore
from storage.records import Event

async def main(data_dir, reverse):
    store = SqliteEventStore(Path(data_dir))
    await store.open()
    ids = list(range({EVENTS}))
    if reverse:
        ids.reverse()
    stored = 0
    for start in range(0, len(ids), 100):
        batch = [
            Event(id=f"e{{n}}", site_id="s1", ts={T0} + n, name="pageview", path=f"/p{{n % 7}}",
                  visitor_id=f"v{{n % 50}}", session_id=f"s{{n % 50}}")
            for n in ids[start:start + 100]
        ]
        stored += await store.append(batch)
    await store.close()
    print(stored)

asyncio.run(main(sys.argv[1], sys.argv[2] == "1"))
"""


async def test_two_processes_racing_on_the_same_ids_store_each_event_once(data_dir: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", APPENDER, str(data_dir), str(n)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in (0, 1, 0)
    ]
    outputs = [proc.communicate(timeout=60)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0]
    assert sum(int(out) for out in outputs) == EVENTS  # each event counted by exactly one process

    store = SqliteEventStore(data_dir)
    await store.open()
    try:
        flt = EventFilter(site_id="s1", start=T0, end=T0 + HOUR)
        assert await store.count(flt) == EVENTS
        ids = [event.id async for batch in store.read(flt) for event in batch]
        assert sorted(ids) == sorted(f"e{n}" for n in range(EVENTS))
        total: Any = (await store.aggregate(flt))[0]
        assert (total.events, total.pageviews, total.visitors) == (EVENTS, EVENTS, 50)
        pages = await store.aggregate(
            EventFilter(site_id="s1", start=T0, end=T0 + HOUR, equals={"name": "pageview"}),
            Grouping(kind="field", field="path"),
        )
        assert sum(page.pageviews for page in pages) == EVENTS
    finally:
        await store.close()
