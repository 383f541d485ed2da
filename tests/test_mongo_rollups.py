"""MongoDB pre-aggregates without a server: the worker lease, catching up closed hours idempotently, the
pipelines' shape, which queries they answer, and how pre-aggregated hours and the raw tail combine
(aggregation answers are canned at the PyMongo boundary; tests/conformance/test_mongo_server.py compares
real answers on a server)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from storage.mongo.events import MongoEventStore
from storage.mongo.rollups import (
    HOUR_MS,
    LEASE_MS,
    SETTLE_MS,
    Rollups,
    hour_pipeline,
    rollup_dim,
    sessions_pipeline,
)
from storage.ports import Condition, EventFilter, Grouping
from storage.records import Event
from tests.support.mongo import MONGO_60, operators
from tests.support.mongo_fake import FakeConnection, FakeDatabase

DAY = 86_400_000
T0 = 1_750_032_000_000  # 2025-06-16 00:00 UTC, a whole day


def at(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


async def open_store(db: FakeDatabase) -> MongoEventStore:
    store = MongoEventStore(FakeConnection(db))
    await store.open()
    return store


async def rolled_up_through(db: FakeDatabase, through: int) -> MongoEventStore:
    """A store whose hours before `through` (epoch ms) are rolled up."""
    store = await open_store(db)
    assert store.rollups is not None
    await store.rollups.state.update_one({"_id": "watermark"}, {"$set": {"through": through}}, upsert=True)
    return store


async def test_one_worker_holds_the_lease_at_a_time() -> None:
    db = FakeDatabase()
    first, second = Rollups(db, "", "events"), Rollups(db, "", "events")
    assert await first.acquire(1_000)
    assert not await second.acquire(2_000)
    assert await first.acquire(3_000)  # renewing its own lease
    assert await second.acquire(3_000 + LEASE_MS + 1)  # expired: taken over
    assert not await first.acquire(3_000 + LEASE_MS + 2)
    await second.release()
    assert await first.acquire(3_000 + LEASE_MS + 3)


async def test_catch_up_rolls_closed_hours_in_order_once() -> None:
    db = FakeDatabase()
    store = await open_store(db)
    await store.append(
        [Event(id=f"e{i}", site_id="s", ts=T0 + i * 1_200_000, name="pageview") for i in range(9)]
    )
    assert store.rollups is not None
    now = T0 + 10 * HOUR_MS
    done = await store.rollups.catch_up(now)
    # Closed and settled: hours whose end is SETTLE_MS in the past.
    assert done == (now - SETTLE_MS) // HOUR_MS - T0 // HOUR_MS
    merges = [p for name, p in db.pipelines if name == "events"]
    assert len(merges) == 2 * done
    for i in range(done):
        events_stage, sessions_stage = merges[2 * i], merges[2 * i + 1]
        assert events_stage == hour_pipeline(T0 + i * HOUR_MS, "rollup_hours")
        assert sessions_stage == sessions_pipeline(T0 + i * HOUR_MS, "rollup_hours")
    assert await store.rollups.watermark() == T0 + done * HOUR_MS
    assert await store.rollups.catch_up(now) == 0  # nothing new closed: no work repeated
    assert await store.rollups.catch_up(now + HOUR_MS) == 1


async def test_catch_up_yields_to_a_worker_holding_the_lease() -> None:
    db = FakeDatabase()
    store = await open_store(db)
    await store.append([Event(id="e", site_id="s", ts=T0, name="pageview")])
    other = Rollups(db, "", "events")
    assert await other.acquire(int(dt.datetime.now(dt.UTC).timestamp() * 1000))
    assert store.rollups is not None
    assert await store.rollups.catch_up(T0 + 10 * HOUR_MS) == 0
    assert not [p for name, p in db.pipelines if name == "events"]


def test_hour_pipelines_rebuild_idempotently_with_6_0_operators() -> None:
    hour = T0 + 5 * HOUR_MS
    events = hour_pipeline(hour, "rollup_hours")
    assert events[0] == {
        "$match": {"ts": {"$gte": at(T0), "$lt": at(hour + HOUR_MS)}}
    }  # from the day's start
    assert events[-1]["$merge"]["whenMatched"] == "replace"
    sessions = sessions_pipeline(hour, "rollup_hours")
    assert sessions[-1]["$merge"] == {
        "into": "rollup_hours",
        "on": "_id",
        "whenMatched": "merge",
        "whenNotMatched": "discard",
    }
    allowed = MONGO_60 | {"$merge", "$unwind", "$lte", "$gt", "$objectToArray"}
    assert operators(events) | operators(sessions) <= allowed


def test_which_queries_the_pre_aggregates_answer() -> None:
    span = {"site_id": "s", "start": T0, "end": T0 + 3 * DAY}
    flt = EventFilter(**span)
    assert rollup_dim(flt, Grouping(), "visitors") == ""
    assert rollup_dim(flt, Grouping(kind="time", unit="day", tz="Europe/Berlin"), "visitors") == ""
    assert rollup_dim(flt, Grouping(kind="time", unit="day", tz="Asia/Colombo"), "visitors") is None
    assert rollup_dim(flt, Grouping(kind="time", unit="hour", tz="UTC"), "visitors") is None
    pages = EventFilter(**span, equals={"name": "pageview"})
    assert rollup_dim(pages, Grouping(kind="field", field="path"), "pageviews") == "path"
    assert rollup_dim(flt, Grouping(kind="field", field="path"), "pageviews") is None
    assert rollup_dim(flt, Grouping(kind="field", field="source"), "events") == "source"
    assert rollup_dim(flt, Grouping(kind="field", field="source"), "visits") is None
    assert rollup_dim(flt, Grouping(kind="field", field="browser"), "events") is None
    assert rollup_dim(EventFilter(**span, props={"plan": "pro"}), Grouping(), "visitors") is None
    for condition in (
        Condition(kind="field", name="country", op="is", values=("DE",), negate=True),
        Condition(kind="field", name="country", op="is", values=("DE", "FR")),
        Condition(kind="field", name="path", op="contains", values=("blog",)),
    ):  # negations, several values and contains are answered from raw events
        conditioned = EventFilter(**span, conditions=(condition,))
        assert rollup_dim(conditioned, Grouping(), "visitors") is None
        assert rollup_dim(conditioned, Grouping(kind="field", field="source"), "events") is None
        assert rollup_dim(conditioned, Grouping(kind="time", unit="day", tz="UTC"), "visitors") is None
    assert rollup_dim(EventFilter(site_id="s", start=T0 + 1, end=T0 + 3 * DAY), Grouping(), "events") is None
    assert rollup_dim(EventFilter(site_id="s", start=T0, end=T0 + DAY), Grouping(), "events") is None


def _row(key: Any, events: int, visitors: int, lo: int, hi: int, **more: int) -> dict[str, Any]:
    return {
        "_id": key,
        "events": events,
        "pageviews": events,
        "visitors": visitors,
        "lo": at(lo),
        "hi": at(hi),
        **more,
    }


async def test_pre_aggregated_hours_and_the_raw_tail_add_up() -> None:
    db = FakeDatabase()
    store = await rolled_up_through(db, T0 + 2 * DAY)
    flt = EventFilter(site_id="s", start=T0, end=T0 + 3 * DAY)
    sessions = {"visits": 7, "bounces": 3, "duration": 60_000}
    db.answers["rollup_hours"] = [[_row(0, 100, 40, T0 + 5, T0 + DAY, **sessions)]]
    db.answers["events"] = [
        [_row(0, 10, 9, T0 + 2 * DAY + 1, T0 + 2 * DAY + 99, visits=2, bounces=1, duration=500)],  # tail
        [{"_id": 0, "visitors": 4}],  # first touches of the tail's day that fall in the tail
    ]
    (total,) = await store.aggregate(flt)
    assert (total.events, total.pageviews, total.visitors) == (110, 110, 44)
    assert (total.visits, total.bounces, total.duration_ms) == (9, 4, 60_500)
    assert (total.first_ts, total.last_ts) == (T0 + 5, T0 + 2 * DAY + 99)
    rollup_match = next(p for name, p in db.pipelines if name == "rollup_hours")[0]["$match"]
    assert rollup_match == {"s": "s", "k": "total", "h": {"$gte": at(T0), "$lt": at(T0 + 2 * DAY)}}
    touches = [p for name, p in db.pipelines if name == "events"][-1]
    assert touches[0]["$match"]["ts"]["$gte"] == at(T0 + 2 * DAY)  # from the tail day's start


async def test_breakdowns_from_pre_aggregates_sort_and_limit_and_leave_sessions_unknown() -> None:
    db = FakeDatabase()
    store = await rolled_up_through(db, T0 + 5 * DAY)
    flt = EventFilter(site_id="s", start=T0, end=T0 + 3 * DAY)
    db.answers["rollup_hours"] = [[_row("Google", 50, 20, T0, T0 + 9), _row("Direct", 30, 25, T0, T0 + 8)]]
    rows = await store.aggregate(flt, Grouping(kind="field", field="source"), sort="events", limit=2)
    assert [(r.key, r.events, r.visitors, r.visits, r.bounces, r.duration_ms) for r in rows] == [
        ("Google", 50, 20, -1, -1, -1),
        ("Direct", 30, 25, -1, -1, -1),
    ]
    pipeline = next(p for name, p in db.pipelines if name == "rollup_hours")
    assert pipeline[-2:] == [{"$sort": {"events": -1, "_id": 1}}, {"$limit": 2}]  # no tail: in the pipeline
    assert not [p for name, p in db.pipelines if name == "events"]


async def test_without_a_watermark_queries_read_raw_events() -> None:
    db = FakeDatabase()
    store = await open_store(db)
    db.answers["events"] = [[]]
    assert await store.aggregate(EventFilter(site_id="s", start=T0, end=T0 + 3 * DAY)) == []
    assert [name for name, _ in db.pipelines] == ["events"]


def _counts(rows: list[Any]) -> list[tuple[Any, int, int, int]]:
    return [(r.key, r.events, r.pageviews, r.visitors) for r in rows]


async def test_answers_from_pre_aggregates_equal_raw_answers(tmp_path: Any) -> None:
    """End to end with the pipelines evaluated by mongomock: append, roll every hour up, answer totals
    and breakdowns from the pre-aggregates alone and with a raw tail; the embedded store (raw events)
    gives the same events, pageviews and visitors (visitor ids scoped to their UTC day, as the daily
    salt makes them), and with no tail the same sessions too."""
    from storage.embedded.events import SqliteEventStore
    from tests.support.event_fixtures import daily_visitor_events, ms

    events = daily_visitor_events(sessions_per_day=60)
    db = FakeDatabase()
    db.evaluate = True
    store = await open_store(db)
    sqlite = SqliteEventStore(tmp_path)
    await sqlite.open()
    try:
        for part in range(0, len(events), 900):
            await store.append(events[part : part + 900])
            await sqlite.append(events[part : part + 900])
        assert store.rollups is not None
        flt = EventFilter(site_id="s1", start=ms(2025, 6, 2), end=ms(2025, 6, 5))
        pages = EventFilter(site_id="s1", start=flt.start, end=flt.end, equals={"name": "pageview"})
        breakdowns = [(flt, Grouping(kind="field", field=f)) for f in ("source", "country", "device")]
        breakdowns.append((pages, Grouping(kind="field", field="path")))

        now = ms(2025, 6, 5, 4)
        assert await store.rollups.catch_up(now) == (now - SETTLE_MS - ms(2025, 6, 2)) // HOUR_MS
        for watermark, whole in ((now - SETTLE_MS, True), (ms(2025, 6, 3, 10), False)):
            # An earlier watermark: the hours after it come from raw events (the tail).
            hours = db["rollup_hours"]
            hours.docs = [d for d in hours.docs if d["h"] < at(watermark)]
            await store.rollups.state.update_one({"_id": "watermark"}, {"$set": {"through": watermark}})
            db.pipelines.clear()
            (total,) = await store.aggregate(flt)
            (raw,) = await sqlite.aggregate(flt)
            assert any(name == "rollup_hours" for name, _ in db.pipelines)  # answered from pre-aggregates
            assert any(name == "events" for name, _ in db.pipelines) is not whole  # and a raw tail
            if whole:
                assert total == raw
            assert _counts([total]) == _counts([raw])
            assert (total.first_ts, total.last_ts) == (raw.first_ts, raw.last_ts)
            for query, grouping in breakdowns:
                for sort in ("visitors", "pageviews", "events"):
                    got = await store.aggregate(query, grouping, sort=sort, limit=3)
                    assert _counts(got) == _counts(
                        await sqlite.aggregate(query, grouping, sort=sort, limit=3)
                    )
                    assert {r.visits for r in got} == {-1}
    finally:
        await sqlite.close()
