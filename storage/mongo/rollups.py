"""Hourly pre-aggregates of the MongoDB event store: on-demand materialized views (`$group` + `$merge`).

Once a UTC hour H is `SETTLE_MS` old (late events and running sessions have arrived), one worker at a time
(a lease document in `rollup_state`) rolls it up for every site into `rollup_hours`, one document per
(site, H, dimension, value) with `_id` = {s, h, k, v} and the same fields at the top level for the index
{s, k, h}. Dimensions: the total (k = "total") and `path` (pageviews only: the page breakdown), `source`,
`country`, `device`. Fields, mirroring the embedded store's rollups:

- `events`, `pageviews`: exact counts of the hour;
- `visitors`: first touches: visitors whose first event of that UTC day (with that value) falls in H, so
  a sum over whole UTC days is the number of distinct (visitor, day) pairs, i.e. distinct visitors, since
  visitor ids rotate with the daily salt;
- `lo`, `hi`: first and last event ts of the hour;
- total only: `visits`, `bounces`, `duration` of sessions whose first event falls in H (their events
  within `SESSION_REACH_MS` either side counted).

Rolling up an hour reads the events of its UTC day so far (first touches need them) through the
events' {ts} index, and replaces its documents (`whenMatched: "replace"`, then the session fields merged in),
so a rerun after a crash, or by the next lease holder, rebuilds the same documents: idempotent. The
watermark (`rollup_state` {_id: "watermark", through}) moves one hour at a time after both stages.

Queries (storage/mongo/events.py) use the pre-aggregates for unfiltered totals, day/week/month
timeseries in zones with whole-hour offsets, and breakdowns by the four dimensions sorted by visitors,
pageviews or events, over ranges of whole UTC hours at least `MIN_RANGE_MS` long: the hours before the
watermark come from `rollup_hours` (one indexed `$match` + `$group`, sorted and limited in the pipeline
when nothing is added after), the hours after it from raw events, with visitors of that tail counted as
first touches of their UTC day as well. Breakdowns from pre-aggregates carry visits, bounces and
duration as -1 (unknown), as the port allows.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any
from zoneinfo import ZoneInfo

from bson import ObjectId
from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from storage.ports import EventFilter, Grouping

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
SETTLE_MS = 3 * HOUR_MS
SESSION_REACH_MS = 3 * HOUR_MS
MIN_RANGE_MS = 2 * DAY_MS
LEASE_MS = 120_000
DIMS = ("path", "source", "country", "device")
TOTAL = "total"  # the dimension key of the site total
CALENDAR_UNITS = ("day", "week", "month")
_SESSION_KEY = {"$cond": [{"$eq": ["$session_id", ""]}, {"$concat": ["ev:", "$id"]}, "$session_id"]}
_IS_PAGEVIEW = {"$cond": [{"$eq": ["$meta.name", "pageview"]}, 1, 0]}


def _date(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def hour_pipeline(hour_ms: int, into: str) -> list[dict[str, Any]]:
    """Counts and first-touch visitors of one closed hour, every site and dimension, merged into `into`."""
    hour, end, day = _date(hour_ms), _date(hour_ms + HOUR_MS), _date(hour_ms - hour_ms % DAY_MS)
    in_hour = {"$gte": ["$ts", hour]}
    # [{k, v}, ...]: one entry per dimension, the total first.
    dims = {"$objectToArray": {TOTAL: "", **{dim: f"${dim}" for dim in DIMS}}}
    return [
        {"$match": {"ts": {"$gte": day, "$lt": end}}},
        {
            "$project": {
                "_id": 0,
                "s": "$meta.site",
                "vis": "$visitor_id",
                "ts": 1,
                "pv": _IS_PAGEVIEW,
                "dims": dims,
            }
        },
        {"$unwind": "$dims"},
        {"$match": {"$or": [{"dims.k": {"$ne": "path"}}, {"pv": 1}]}},  # pages count pageviews only
        {
            "$group": {
                "_id": {"s": "$s", "k": "$dims.k", "v": "$dims.v", "vis": "$vis"},
                "first": {"$min": "$ts"},
                "events": {"$sum": {"$cond": [in_hour, 1, 0]}},
                "pageviews": {"$sum": {"$cond": [in_hour, "$pv", 0]}},
                "lo": {"$min": {"$cond": [in_hour, "$ts", None]}},
                "hi": {"$max": {"$cond": [in_hour, "$ts", None]}},
            }
        },
        {
            "$group": {
                "_id": {"s": "$_id.s", "h": hour, "k": "$_id.k", "v": "$_id.v"},
                "events": {"$sum": "$events"},
                "pageviews": {"$sum": "$pageviews"},
                "visitors": {"$sum": {"$cond": [{"$gte": ["$first", hour]}, 1, 0]}},
                "lo": {"$min": "$lo"},
                "hi": {"$max": "$hi"},
            }
        },
        {"$match": {"events": {"$gt": 0}}},
        {"$set": {"s": "$_id.s", "h": "$_id.h", "k": "$_id.k", "v": "$_id.v"}},
        {"$merge": {"into": into, "on": "_id", "whenMatched": "replace", "whenNotMatched": "insert"}},
    ]


def sessions_pipeline(hour_ms: int, into: str) -> list[dict[str, Any]]:
    """Visits, bounces and duration of the sessions that began in one closed hour, merged into the
    total's documents of that hour."""
    hour, end = _date(hour_ms), _date(hour_ms + HOUR_MS)
    return [
        {
            "$match": {
                "ts": {
                    "$gte": _date(hour_ms - SESSION_REACH_MS),
                    "$lt": _date(hour_ms + HOUR_MS + SESSION_REACH_MS),
                }
            }
        },
        {
            "$group": {
                "_id": {"s": "$meta.site", "sk": _SESSION_KEY},
                "lo": {"$min": "$ts"},
                "hi": {"$max": "$ts"},
                "pv": {"$sum": _IS_PAGEVIEW},
            }
        },
        {"$match": {"lo": {"$gte": hour, "$lt": end}}},
        {
            "$group": {
                "_id": {"s": "$_id.s", "h": hour, "k": TOTAL, "v": ""},
                "visits": {"$sum": 1},
                "bounces": {"$sum": {"$cond": [{"$eq": ["$pv", 1]}, 1, 0]}},
                "duration": {"$sum": {"$subtract": ["$hi", "$lo"]}},
            }
        },
        {"$merge": {"into": into, "on": "_id", "whenMatched": "merge", "whenNotMatched": "discard"}},
    ]


def whole_hour_offsets(tz: str, start: int, end: int) -> bool:
    """Whether `tz` keeps whole-hour UTC offsets over [start, end) (sampled every 3 hours and at the end:
    offsets change at most twice a year and last months)."""
    zone = ZoneInfo(tz)
    at = start
    while True:
        offset = dt.datetime.fromtimestamp(at / 1000, tz=zone).utcoffset()
        if offset is None or offset.total_seconds() % 3600:
            return False
        if at >= end:
            return True
        at = min(at + 3 * HOUR_MS, end)


def rollup_dim(flt: EventFilter, grouping: Grouping, sort: str) -> str | None:
    """The dimension ("" for the total) the pre-aggregates answer this query from, or None (raw events).
    The same questions as the embedded store's rollups: unfiltered totals and calendar timeseries, the page
    breakdown (pageviews only) and the source, country and device breakdowns."""
    if flt.props or flt.traits or flt.path_prefix or flt.conditions:
        return None
    if flt.start % HOUR_MS or flt.end % HOUR_MS or flt.end - flt.start < MIN_RANGE_MS:
        return None
    if grouping.kind == "total" and not flt.equals:
        return ""
    if grouping.kind == "time" and not flt.equals:
        if grouping.unit in CALENDAR_UNITS and whole_hour_offsets(grouping.tz, flt.start, flt.end):
            return ""
        return None
    if grouping.kind != "field" or sort == "visits":
        return None
    if grouping.field == "path" and flt.equals == {"name": "pageview"}:
        return "path"
    if grouping.field in DIMS and grouping.field != "path" and not flt.equals:
        return grouping.field
    return None


def rollup_query(flt: EventFilter, grouping: Grouping, dim: str, end_ms: int) -> list[dict[str, Any]]:
    """The pipeline over `rollup_hours` for [flt.start, end_ms), grouped as the query asks."""
    if grouping.kind == "time":
        trunc: dict[str, Any] = {"date": "$h", "unit": grouping.unit, "timezone": grouping.tz}
        if grouping.unit == "week":
            trunc["startOfWeek"] = "monday"
        key: Any = {"$dateTrunc": trunc}
    elif grouping.kind == "total":
        key = {"$literal": 0}
    else:
        key = "$v"
    sums = {
        field: {"$sum": f"${field}"}
        for field in ("events", "pageviews", "visitors", "visits", "bounces", "duration")
    }
    return [
        {
            "$match": {
                "s": flt.site_id,
                "k": dim or TOTAL,
                "h": {"$gte": _date(flt.start), "$lt": _date(end_ms)},
            }
        },
        {"$group": {"_id": key, **sums, "lo": {"$min": "$lo"}, "hi": {"$max": "$hi"}}},
    ]


def first_touch_pipeline(query: dict[str, Any], group_key: Any, tail_start_ms: int) -> list[dict[str, Any]]:
    """Visitors of the raw tail counted as first touches of their UTC day: `query` must cover the tail
    from the start of its first UTC day; a visitor counts where its first event of the day (within the
    group) falls at or after the tail's start."""
    return [
        {"$match": query},
        {"$group": {"_id": {"g": group_key, "v": "$visitor_id", "d": "$meta.d"}, "first": {"$min": "$ts"}}},
        {"$match": {"first": {"$gte": _date(tail_start_ms)}}},
        {"$group": {"_id": "$_id.g", "visitors": {"$sum": 1}}},
    ]


class Rollups:
    """The pre-aggregate collections of one store and the worker that fills them."""

    def __init__(self, db: Any, prefix: str, events: str) -> None:
        self.hours_name = f"{prefix}rollup_hours"
        self.hours = db[self.hours_name]
        self.state = db[f"{prefix}rollup_state"]
        self.events = db[events]
        self.owner = ObjectId()

    async def create_indexes(self) -> None:
        await self.hours.create_index([("s", ASCENDING), ("k", ASCENDING), ("h", ASCENDING)], name="ix_s_k_h")

    async def acquire(self, now_ms: int) -> bool:
        """Take or renew the worker lease; False while another worker holds it."""
        try:
            await self.state.find_one_and_update(
                {"_id": "lease", "$or": [{"until": {"$lt": now_ms}}, {"owner": self.owner}]},
                {"$set": {"owner": self.owner, "until": now_ms + LEASE_MS}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return False  # the lease document exists and is held: the upsert collided with it
        return True

    async def release(self) -> None:
        await self.state.update_one({"_id": "lease", "owner": self.owner}, {"$set": {"until": 0}})

    async def watermark(self) -> int | None:
        """Hours before this (UTC ms) are rolled up; None before the first run."""
        doc = await self.state.find_one({"_id": "watermark"})
        return int(doc["through"]) if doc else None

    async def _first_hour(self) -> int | None:
        cursor = self.events.find({}, {"ts": 1}).sort([("ts", ASCENDING)]).limit(1)
        async for doc in cursor:
            ts = doc["ts"]
            if ts.tzinfo is None:
                ts = ts.replace(tzinfo=dt.UTC)
            ms = int(ts.timestamp() * 1000)
            return ms - ms % HOUR_MS
        return None

    async def roll_hour(self, hour_ms: int) -> None:
        """Rebuild one hour's documents (idempotent)."""
        for pipeline in (
            hour_pipeline(hour_ms, self.hours_name),
            sessions_pipeline(hour_ms, self.hours_name),
        ):
            cursor = await self.events.aggregate(pipeline, allowDiskUse=True)
            async for _ in cursor:
                pass

    async def catch_up(self, now_ms: int | None = None, *, max_hours: int = 24 * 400) -> int:
        """Roll up every closed hour after the watermark while holding the lease; returns how many."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        if not await self.acquire(int(time.time() * 1000)):
            return 0
        done = 0
        try:
            hour = await self.watermark()
            if hour is None:
                hour = await self._first_hour()
                if hour is None:
                    return 0
            while hour + HOUR_MS + SETTLE_MS <= now_ms and done < max_hours:
                await self.roll_hour(hour)
                hour += HOUR_MS
                done += 1
                await self.state.update_one({"_id": "watermark"}, {"$set": {"through": hour}}, upsert=True)
                if not await self.acquire(int(time.time() * 1000)):
                    break  # lost the lease (paused past it): the next holder continues from the watermark
        finally:
            await self.release()
        return done

    async def delete(self, site_id: str, before_ms: int | None = None) -> None:
        """Drop a site's pre-aggregates (those of hours entirely before `before_ms`, when given)."""
        query: dict[str, Any] = {"s": site_id}
        if before_ms is not None:
            query["h"] = {"$lte": _date(before_ms - HOUR_MS)}
        await self.hours.delete_many(query)
