"""MongoDB-only conformance cases that need a real server (MONGODB_URI; CI runs them against 6.0 and 7.0
single-node replica sets, .github/workflows/mongo.yml). Without MONGODB_URI every case here skips with the
reason printed.

- hour/minute buckets in half-hour and 45-minute zones (Asia/Colombo, Australia/Lord_Howe with its
  half-hour DST, Pacific/Norfolk, Asia/Kathmandu) and float props equal the embedded store's answers;
- purges: exact on 7.0+, whole UTC days on 6.x, no error on either;
- explain(): reads and aggregates use the {meta.site, ts} index;
- faults through `configureFailPoint failCommand` (needs the server started with
  `--setParameter enableTestCommands=1`): a batch retried after failed claims, a write-concern error on the
  events insert, and a connection closed on the non-retryable "done" update is stored once;
- two processes opening the stores on an empty database at the same moment both start;
- a changed retention is applied to the existing collection.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from storage.embedded.events import SqliteEventStore
from storage.mongo.events import MongoEventStore
from storage.ports import EventFilter, Grouping
from storage.records import Event
from tests.support.event_fixtures import ZONES, daily_visitor_events, ms, spread_events
from tests.support.mongo import (
    MONGO_RETENTION_DAYS,
    MONGODB_URI,
    drop_mongo_prefix,
    mongo_prefix,
    needs_mongo,
)

pytestmark = [needs_mongo, pytest.mark.mongo]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def pair(data_dir: Path, unique_prefix: str) -> Any:
    """(sqlite store, mongo store), both holding `spread_events()`."""
    sqlite = SqliteEventStore(data_dir)
    prefix = mongo_prefix(unique_prefix)
    mongo = MongoEventStore(MONGODB_URI or "", prefix=prefix, retention_days=MONGO_RETENTION_DAYS)
    events = spread_events()
    for store in (sqlite, mongo):
        await store.open()
        for start in range(0, len(events), 250):
            await store.append(events[start : start + 250])
    yield sqlite, mongo
    await sqlite.close()
    await mongo.close()
    await drop_mongo_prefix(prefix)


@pytest.fixture
async def mongo(unique_prefix: str) -> Any:
    prefix = mongo_prefix(unique_prefix)
    store = MongoEventStore(MONGODB_URI or "", prefix=prefix, retention_days=MONGO_RETENTION_DAYS)
    await store.open()
    yield store
    await store.close()
    await drop_mongo_prefix(prefix)


WHOLE = EventFilter(site_id="s1", start=ms(2025, 4, 1), end=ms(2025, 11, 1))


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("unit", ["minute", "hour", "day", "week"])
async def test_time_buckets_match_the_embedded_store(pair: Any, tz: str, unit: str) -> None:
    sqlite, mongo = pair
    grouping = Grouping(kind="time", unit=unit, tz=tz)
    assert await mongo.aggregate(WHOLE, grouping) == await sqlite.aggregate(WHOLE, grouping)


async def test_float_props_group_and_filter_like_the_embedded_store(pair: Any) -> None:
    sqlite, mongo = pair
    grouping = Grouping(kind="prop", field="x")
    got = await mongo.aggregate(WHOLE, grouping, sort="events")
    assert got == await sqlite.aggregate(WHOLE, grouping, sort="events")
    assert {row.key for row in got} >= {"2.0", "1e-05", "3", "true", "0.3"}
    for text in ("2.0", "1e-05", "true", "0.3"):
        flt = EventFilter(site_id="s1", start=WHOLE.start, end=WHOLE.end, props={"x": text})
        assert await mongo.count(flt) == await sqlite.count(flt) > 0


@pytest.mark.parametrize("sort", ["visitors", "visits", "pageviews", "events"])
async def test_breakdowns_sorted_and_limited_like_the_embedded_store(pair: Any, sort: str) -> None:
    sqlite, mongo = pair
    for grouping in (Grouping(kind="field", field="path"), Grouping(kind="entry_page"), Grouping()):
        expected = await sqlite.aggregate(WHOLE, grouping, sort=sort, limit=3)
        assert await mongo.aggregate(WHOLE, grouping, sort=sort, limit=3) == expected


async def test_purge_is_exact_on_7_and_by_whole_days_on_6(mongo: MongoEventStore) -> None:
    day = 86_400_000
    base = ms(2025, 6, 1)
    events = [Event(id=f"p{i}", site_id="s1", ts=base + i * 6 * 3600_000, name="pageview") for i in range(12)]
    assert await mongo.append(events) == 12
    cutoff = base + day + 9 * 3600_000  # 09:00 on the second day
    await mongo.purge_before("s1", cutoff)
    flt = EventFilter(site_id="s1", start=0, end=base * 2)
    left = [e.id async for batch in mongo.read(flt) for e in batch]
    if mongo.server_version >= (7, 0):
        assert left == [e.id for e in events if e.ts >= cutoff]
    else:
        assert left == [e.id for e in events if e.ts >= base + day]


def _plan_text(explained: Any) -> str:
    return repr(explained)


async def test_reads_and_aggregates_use_the_site_time_index(pair: Any) -> None:
    from storage.mongo.aggregates import aggregate_pipeline
    from storage.mongo.events import canonical_text, event_query

    _, mongo = pair
    name = mongo.events.name
    for grouping in (Grouping(), Grouping(kind="field", field="path"), Grouping(kind="time", unit="hour")):
        pipeline = aggregate_pipeline(event_query(WHOLE), grouping, canonical_text)
        plan = await mongo._db.command(
            {"explain": {"aggregate": name, "pipeline": pipeline, "cursor": {}}, "verbosity": "queryPlanner"}
        )
        assert "ix_site_ts" in _plan_text(plan) and "IXSCAN" in _plan_text(plan), plan
    find = {
        "find": name,
        "filter": event_query(WHOLE),
        "sort": {"meta.site": 1, "ts": 1},
        "hint": "ix_site_ts",
    }
    plan = await mongo._db.command({"explain": find, "verbosity": "queryPlanner"})
    text = _plan_text(plan)
    print("read plan:", text[:2000])
    assert "ix_site_ts" in text and "IXSCAN" in text


# ---- faults through failCommand fail points -------------------------------------------------------------


async def _fail_point(store: MongoEventStore, mode: Any, data: dict[str, Any]) -> None:
    from pymongo.errors import OperationFailure

    admin = store._db.client.admin
    try:
        await admin.command(
            {"configureFailPoint": "failCommand", "mode": mode, "data": {"appName": "eddy", **data}}
        )
    except OperationFailure as error:
        pytest.skip(f"the server refuses fail points (start it with enableTestCommands=1): {error}")


async def _fail_point_off(store: MongoEventStore) -> None:
    await store._db.client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})


def _batch(n: int) -> list[Event]:
    return [Event(id=f"f{i}", site_id="s1", ts=ms(2025, 6, 1) + i, name="pageview") for i in range(n)]


async def _stored_once(store: MongoEventStore, n: int) -> None:
    flt = EventFilter(site_id="s1", start=0, end=ms(2030, 1, 1))
    ids = [e.id async for batch in store.read(flt) for e in batch]
    assert sorted(ids) == sorted(f"f{i}" for i in range(n))


# A write that fails once, each way the driver can report it, then is retried: each event stored once.
_WRITE_FAILURES = [
    # No RetryableWriteError label: with timeoutMS set PyMongo would otherwise retry until it succeeds
    # (pymongo/mongo_client_shared.py: unlimited retries under a client timeout).
    pytest.param(
        {"times": 1},
        {"failCommands": ["insert"], "errorCode": 91, "errorLabels": []},
        id="failed-claims",
    ),
    # Code 64 is not retryable: the driver reports the error after the write was applied.
    pytest.param(
        {"skip": 1, "times": 1},
        {
            "failCommands": ["insert"],
            "writeConcernError": {
                "code": 64,
                "codeName": "WriteConcernFailed",
                "errmsg": "waiting for replication timed out",
            },
        },
        id="write-concern-error-on-the-events-insert",
    ),
    # The first update of a fresh batch marks its claims done; update_many is never retried by the driver.
    pytest.param(
        {"times": 1},
        {"failCommands": ["update"], "closeConnection": True},
        id="connection-closed-on-the-done-update",
    ),
]


@pytest.mark.reliability
@pytest.mark.parametrize(("mode", "data"), _WRITE_FAILURES)
async def test_a_failed_write_then_retry_store_once(
    mongo: MongoEventStore, mode: dict[str, Any], data: dict[str, Any]
) -> None:
    from storage.errors import StoreUnavailableError

    await _fail_point(mongo, mode, data)
    try:
        with pytest.raises(StoreUnavailableError):
            await mongo.append(_batch(20))
    finally:
        await _fail_point_off(mongo)
    assert await mongo.append(_batch(20)) == 20
    await _stored_once(mongo, 20)


# ---- start-up -------------------------------------------------------------------------------------------

_START = """
import asyncio, sys, time
from storage.mongo.client import MongoConnection
from storage.mongo.documents import MongoDocumentStore
from storage.mongo.events import MongoEventStore
async def main():
    while time.time() < float(sys.argv[2]):
        await asyncio.sleep(0.001)
    connection = MongoConnection(sys.argv[1])
    docs = MongoDocumentStore(connection, prefix=sys.argv[3])
    events = MongoEventStore(connection, prefix=sys.argv[3])
    await docs.open()
    await events.open()
    await docs.close()
    await events.close()
    print("started")
asyncio.run(main())
"""


@pytest.mark.slow
def test_two_processes_start_together_on_an_empty_database(unique_prefix: str) -> None:
    prefix = mongo_prefix(unique_prefix)
    at = str(time.time() + 3)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _START, MONGODB_URI or "", at, prefix],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        outputs = [proc.communicate(timeout=60)[0] for proc in procs]
    finally:
        asyncio.run(drop_mongo_prefix(prefix))  # a sync test: no loop runs here
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    assert all("started" in out for out in outputs)


async def test_a_changed_retention_reaches_the_server(mongo: MongoEventStore, unique_prefix: str) -> None:
    prefix = mongo_prefix(unique_prefix)
    again = MongoEventStore(MONGODB_URI or "", prefix=prefix, retention_days=30)
    await again.open()
    try:
        cursor = await again._db.list_collections(filter={"name": f"{prefix}events"})
        infos = [info async for info in cursor]
        assert infos[0]["options"]["expireAfterSeconds"] == 30 * 86400
    finally:
        await again.close()


# ---- pre-aggregates ---------------------------------------------------------------------------------------


def _counts(rows: list[Any]) -> list[tuple[Any, int, int, int]]:
    return [(r.key, r.events, r.pageviews, r.visitors) for r in rows]


async def _drop(store: MongoEventStore, prefix: str) -> None:
    for name in await store._db.list_collection_names():
        if name.startswith(prefix):
            await store._db.drop_collection(name)


async def test_pre_aggregates_answer_like_raw_events(data_dir: Path, unique_prefix: str) -> None:
    prefix = mongo_prefix(unique_prefix)
    sqlite = SqliteEventStore(data_dir)
    mongo = MongoEventStore(MONGODB_URI or "", prefix=prefix, retention_days=MONGO_RETENTION_DAYS)
    events = daily_visitor_events()
    await sqlite.open()
    await mongo.open()
    try:
        for store in (sqlite, mongo):
            for start in range(0, len(events), 500):
                await store.append(events[start : start + 500])
        assert mongo.rollups is not None
        hours = await mongo.rollups.catch_up(ms(2025, 6, 6))
        assert hours >= 72 and await mongo.rollups.watermark() is not None
        flt = EventFilter(site_id="s1", start=ms(2025, 6, 2), end=ms(2025, 6, 5))
        (raw_total,) = await sqlite.aggregate(flt)
        (total,) = await mongo.aggregate(flt)
        assert total == raw_total
        for tz in ("UTC", "Europe/Berlin"):
            grouping = Grouping(kind="time", unit="day", tz=tz)
            assert _counts(await mongo.aggregate(flt, grouping)) == _counts(
                await sqlite.aggregate(flt, grouping)
            )
        for field in ("source", "country", "device"):
            grouping = Grouping(kind="field", field=field)
            got = await mongo.aggregate(flt, grouping, sort="events", limit=2)
            assert _counts(got) == _counts(await sqlite.aggregate(flt, grouping, sort="events", limit=2))
            assert {r.visits for r in got} == {-1}
        pages = EventFilter(site_id="s1", start=flt.start, end=flt.end, equals={"name": "pageview"})
        grouping = Grouping(kind="field", field="path")
        got = await mongo.aggregate(pages, grouping, sort="pageviews")
        assert _counts(got) == _counts(await sqlite.aggregate(pages, grouping, sort="pageviews"))
        # A rerun rebuilds the same documents.
        before = [
            doc async for doc in mongo.rollups.hours.find({}, {"_id": 0}).sort([("h", 1), ("k", 1), ("v", 1)])
        ]
        await mongo.rollups.roll_hour(ms(2025, 6, 3, 10))
        after = [
            doc async for doc in mongo.rollups.hours.find({}, {"_id": 0}).sort([("h", 1), ("k", 1), ("v", 1)])
        ]
        assert after == before
        plan = await mongo._db.command(
            {
                "explain": {
                    "aggregate": mongo.rollups.hours_name,
                    "pipeline": [{"$match": {"s": "s1", "k": ""}}],
                    "cursor": {},
                },
                "verbosity": "queryPlanner",
            }
        )
        assert "ix_s_k_h" in repr(plan)
        from storage.mongo.rollups import hour_pipeline

        rollup_read = hour_pipeline(ms(2025, 6, 3, 10), mongo.rollups.hours_name)[:-1]
        plan = await mongo._db.command(
            {
                "explain": {"aggregate": mongo.events.name, "pipeline": rollup_read, "cursor": {}},
                "verbosity": "queryPlanner",
            }
        )
        assert "ix_ts" in repr(plan), plan
    finally:
        await _drop(mongo, prefix)
        await sqlite.close()
        await mongo.close()
