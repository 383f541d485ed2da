"""Aggregation pipelines for `EventStore.aggregate` and `identity_days` on the time-series collection.

Every pipeline starts with the `$match` of `event_query` (meta.site + ts first, so the bucket index on
{meta.site, ts} is used) and uses only operators of MongoDB >= 6.0 (`$dateTrunc` with a timezone,
`$dateToString`, `$group`, `$min`/`$max` over documents). Visitors are counted by a second pipeline over
the same match (distinct (group, visitor) pairs), run concurrently, so no `$facet` document can hit the
16 MB limit on breakdowns with many groups.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from storage.event_filter_sql import check_key_name
from storage.ports import AGGREGATE_SORTS, GROUP_FIELDS, Grouping

# The pipelines take the leading match (`event_query`) and the prop-as-text expression builder
# (`canonical_text`) from storage.mongo.events, which imports this module.
TextOf = Callable[[str], dict[str, Any]]

_SESSION_KEY = {"$cond": [{"$eq": ["$session_id", ""]}, {"$concat": ["ev:", "$id"]}, "$session_id"]}
_IS_PAGEVIEW = {"$cond": [{"$eq": ["$meta.name", "pageview"]}, 1, 0]}


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
        trunc: dict[str, Any] = {"date": "$ts", "unit": grouping.unit, "timezone": grouping.tz}
        if grouping.unit == "week":
            trunc["startOfWeek"] = "monday"
        return {"$dateTrunc": trunc}
    raise ValueError(f"unknown grouping {grouping.kind!r}")


def _session_totals(group_id: Any) -> dict[str, Any]:
    return {
        "$group": {
            "_id": group_id,
            "visits": {"$sum": 1},
            "events": {"$sum": "$n"},
            "pageviews": {"$sum": "$pv"},
            "bounces": {"$sum": {"$cond": [{"$eq": ["$pv", 1]}, 1, 0]}},
            "duration": {"$sum": {"$subtract": ["$hi", "$lo"]}},
            "lo": {"$min": "$lo"},
            "hi": {"$max": "$hi"},
        }
    }


def aggregate_pipelines(
    query: dict[str, Any], grouping: Grouping, text_of: TextOf
) -> tuple[list[dict], list[dict]]:
    """(visits pipeline, visitors pipeline) for one aggregate query over the events matching `query`."""
    match = {"$match": query}
    if grouping.kind in ("entry_page", "exit_page"):
        pick = "$min" if grouping.kind == "entry_page" else "$max"
        sessions = [
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
            {"$set": {"g": "$edge.p"}},
        ]
        visits = [*sessions, _session_totals("$g")]
        visitors = [
            *sessions,
            {"$unwind": "$vs"},
            {"$group": {"_id": {"g": "$g", "v": "$vs"}}},
            {"$group": {"_id": "$_id.g", "visitors": {"$sum": 1}}},
        ]
        return visits, visitors
    keyed = [
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
    ]
    visits = [
        *keyed,
        {
            "$group": {
                "_id": {"g": "$g", "s": "$sk"},
                "n": {"$sum": 1},
                "pv": {"$sum": "$pv"},
                "lo": {"$min": "$ts"},
                "hi": {"$max": "$ts"},
            }
        },
        _session_totals("$_id.g"),
    ]
    visitors = [
        *keyed,
        {"$group": {"_id": {"g": "$g", "v": "$v"}}},
        {"$group": {"_id": "$_id.g", "visitors": {"$sum": 1}}},
    ]
    return visits, visitors


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
