"""Aggregation pipelines for `EventStore.aggregate` and `identity_days` on the time-series collection.

Every pipeline starts with the `$match` of `event_query` (meta.site + ts first, so the bucket index on
{meta.site, ts} is used) and uses only operators of MongoDB >= 6.0. One pipeline answers one aggregate:
events are grouped per (group, session) with the session's visitors as a set; `$unwind` of that set with
its index then yields one row per (group, session, visitor) where only index 0 carries the session's
metrics, so grouping by (group, visitor) and then by group gives visits, pageviews, bounces and duration
from the sessions and the exact distinct visitors, in one scan. Breakdowns are sorted and limited inside
the pipeline (`$sort` + `$limit`), so only the requested groups leave the server.

Time buckets: day, week and month use `$dateTrunc` in the timezone (local calendar units). Hours and
minutes are computed as `ts` minus the time since the local hour (minute) started, from `$minute`,
`$second` and `$millisecond` in the timezone: `$dateTrunc` bins hours from a reference date in 2000, and
zones whose offset then was different (Asia/Colombo was +06:00, now +05:30) would get :00Z buckets
instead of :30Z. Subtracting keeps each instant in its own local hour, the repeated hour of a DST
fall-back included, as the embedded store does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from storage.event_filter_sql import check_key_name
from storage.ports import AGGREGATE_SORTS, GROUP_FIELDS, Aggregate, Grouping

# The pipelines take the leading match (`event_query`) and the prop-as-text expression builder
# (`canonical_text`) from storage.mongo.events, which imports this module.
TextOf = Callable[[str], Any]

_SESSION_KEY = {"$cond": [{"$eq": ["$session_id", ""]}, {"$concat": ["ev:", "$id"]}, "$session_id"]}
_IS_PAGEVIEW = {"$cond": [{"$eq": ["$meta.name", "pageview"]}, 1, 0]}


def local_unit_start(unit: str, tz: str) -> dict[str, Any]:
    """The UTC instant the local hour (or minute) of `ts` in `tz` began."""
    part = {"date": "$ts", "timezone": tz}
    since = [{"$multiply": [{"$second": part}, 1000]}, {"$millisecond": part}]
    if unit == "hour":
        since.append({"$multiply": [{"$minute": part}, 60_000]})
    return {"$subtract": ["$ts", {"$add": since}]}


def group_expression(grouping: Grouping, text_of: TextOf) -> Any:
    """The expression computing the group key of one event."""
    if grouping.kind == "total":
        return {"$literal": 0}
    if grouping.kind == "field":
        if grouping.field not in GROUP_FIELDS:
            raise ValueError(f"cannot group by {grouping.field!r}")
        return "$meta.name" if grouping.field == "name" else f"${grouping.field}"
    if grouping.kind == "prop":
        return text_of(f"$props.{check_key_name(grouping.field)}")
    if grouping.kind == "time":
        if grouping.unit in ("hour", "minute"):
            return local_unit_start(grouping.unit, grouping.tz)
        trunc: dict[str, Any] = {"date": "$ts", "unit": grouping.unit, "timezone": grouping.tz}
        if grouping.unit == "week":
            trunc["startOfWeek"] = "monday"
        return {"$dateTrunc": trunc}
    raise ValueError(f"unknown grouping {grouping.kind!r}")


def _first_of(flag: str) -> dict[str, Any]:
    return {"$cond": [{"$eq": ["$k", 0]}, flag, 0]}


# (group, session, visitor) rows -> per group: visitors exactly, session metrics once per session.
_TOTALS = [
    {"$unwind": {"path": "$vs", "includeArrayIndex": "k"}},
    {
        "$group": {
            "_id": {"g": "$_id.g", "v": "$vs"},
            "visits": {"$sum": _first_of(1)},
            "events": {"$sum": _first_of("$n")},
            "pageviews": {"$sum": _first_of("$pv")},
            "bounces": {"$sum": _first_of({"$cond": [{"$eq": ["$pv", 1]}, 1, 0]})},
            "duration": {"$sum": _first_of({"$subtract": ["$hi", "$lo"]})},
            "lo": {"$min": "$lo"},
            "hi": {"$max": "$hi"},
        }
    },
    {
        "$group": {
            "_id": "$_id.g",
            "visitors": {"$sum": 1},
            "visits": {"$sum": "$visits"},
            "events": {"$sum": "$events"},
            "pageviews": {"$sum": "$pageviews"},
            "bounces": {"$sum": "$bounces"},
            "duration": {"$sum": "$duration"},
            "lo": {"$min": "$lo"},
            "hi": {"$max": "$hi"},
        }
    },
]


def aggregate_pipeline(
    query: dict[str, Any], grouping: Grouping, text_of: TextOf, *, sort: str = "visitors", limit: int = 0
) -> list[dict[str, Any]]:
    """The pipeline answering one aggregate query over the events matching `query`."""
    check_sort(sort)
    match = {"$match": query}
    if grouping.kind in ("entry_page", "exit_page"):
        pick = "$min" if grouping.kind == "entry_page" else "$max"
        sessions: list[dict[str, Any]] = [
            match,
            {
                "$group": {
                    "_id": _SESSION_KEY,
                    "n": {"$sum": 1},
                    "pv": {"$sum": _IS_PAGEVIEW},
                    "lo": {"$min": "$ts"},
                    "hi": {"$max": "$ts"},
                    # $min/$max skip nulls: the first/last pageview by (ts, id) of the session.
                    "edge": {
                        pick: {
                            "$cond": [
                                {"$eq": ["$meta.name", "pageview"]},
                                {"t": "$ts", "i": "$id", "p": "$path"},
                                None,
                            ]
                        }
                    },
                    "vs": {"$addToSet": "$visitor_id"},
                }
            },
            {"$match": {"edge": {"$ne": None}}},
            {"$set": {"_id": {"g": "$edge.p", "s": "$_id"}}},
        ]
    else:
        sessions = [
            match,
            {
                "$project": {
                    "_id": 0,
                    "g": group_expression(grouping, text_of),
                    "sk": _SESSION_KEY,
                    "v": "$visitor_id",
                    "ts": 1,
                    "pv": _IS_PAGEVIEW,
                }
            },
            {"$match": {"g": {"$ne": None}}},
            {
                "$group": {
                    "_id": {"g": "$g", "s": "$sk"},
                    "n": {"$sum": 1},
                    "pv": {"$sum": "$pv"},
                    "lo": {"$min": "$ts"},
                    "hi": {"$max": "$ts"},
                    "vs": {"$addToSet": "$v"},
                }
            },
        ]
    pipeline = [*sessions, *_TOTALS]
    if grouping.kind in ("time", "total"):
        pipeline.append({"$sort": {"_id": 1}})
    else:
        pipeline.append({"$sort": {sort: -1, "_id": 1}})
        if limit:
            pipeline.append({"$limit": int(limit)})
    return pipeline


def to_aggregates(
    rows: list[dict[str, Any]], grouping: Grouping, to_ms: Callable[[Any], int]
) -> list[Aggregate]:
    """The port's Aggregates for the pipeline's rows (already in the port's order)."""
    out = []
    for row in rows:
        key = row["_id"]
        if grouping.kind == "total":
            out_key: str | int | None = None
        elif grouping.kind == "time":
            out_key = to_ms(key)
        else:
            out_key = str(key)
        out.append(
            Aggregate(
                key=out_key,
                visitors=int(row["visitors"]),
                visits=int(row["visits"]),
                pageviews=int(row["pageviews"]),
                events=int(row["events"]),
                bounces=int(row["bounces"]),
                duration_ms=int(row["duration"]),
                first_ts=to_ms(row["lo"]),
                last_ts=to_ms(row["hi"]),
            )
        )
    return out


def check_sort(sort: str) -> None:
    """Raise ValueError for a sort the port does not define."""
    if sort not in AGGREGATE_SORTS:
        raise ValueError(f"cannot sort by {sort!r}")


def identity_days_pipeline(query: dict[str, Any], tz: str) -> list[dict]:
    """Distinct (identity, local date) pairs, sorted."""
    who = {
        "$cond": [
            {"$ne": ["$user_id", ""]},
            {"$concat": ["u:", "$user_id"]},
            {"$concat": ["v:", "$visitor_id"]},
        ]
    }
    day = {"$dateToString": {"format": "%Y-%m-%d", "date": "$ts", "timezone": tz}}
    return [
        {"$match": query},
        {"$group": {"_id": {"w": who, "d": day}}},
        {"$sort": {"_id.w": 1, "_id.d": 1}},
    ]
