"""The MongoDB aggregation pipelines, checked without a server: each starts with the match on
meta.site + ts (so the time-series bucket index is used) and uses only operators MongoDB 6.0 has."""

from __future__ import annotations

from typing import Any

import pytest

from storage.mongo.aggregates import aggregate_pipelines, identity_days_pipeline
from storage.mongo.events import canonical_text, event_query
from storage.ports import EventFilter, Grouping

# Every stage and expression operator the pipelines may use (all present in MongoDB 6.0).
MONGO_60 = {
    "$match", "$project", "$group", "$set", "$unwind", "$sort", "$sum", "$min", "$max", "$addToSet",
    "$cond", "$eq", "$ne", "$concat", "$literal", "$subtract", "$dateTrunc", "$dateToString", "$switch",
    "$type", "$toString", "$gte", "$lt", "$expr", "$and", "$substrCP",
}  # fmt: skip
GROUPINGS = [
    Grouping(),
    Grouping(kind="time", unit="hour", tz="Europe/Berlin"),
    Grouping(kind="time", unit="week", tz="Europe/Berlin"),
    Grouping(kind="field", field="path"),
    Grouping(kind="field", field="name"),
    Grouping(kind="prop", field="plan"),
    Grouping(kind="entry_page"),
    Grouping(kind="exit_page"),
]


def operators(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key.startswith("$"):
                found.add(key)
            found |= operators(item)
    elif isinstance(value, list):
        for item in value:
            found |= operators(item)
    return found


@pytest.mark.parametrize("grouping", GROUPINGS, ids=lambda g: f"{g.kind}-{g.field or g.unit}")
def test_pipelines_lead_with_the_indexed_match(grouping: Grouping) -> None:
    flt = EventFilter(site_id="s1", start=0, end=1000, equals={"country": "DE"}, props={"plan": "pro"})
    for pipeline in aggregate_pipelines(event_query(flt), grouping, canonical_text):
        first = pipeline[0]["$match"]
        assert list(first)[:2] == ["meta.site", "ts"] and first["meta.site"] == "s1"
        assert operators(pipeline) <= MONGO_60, operators(pipeline) - MONGO_60
    if grouping.kind == "time":
        trunc = aggregate_pipelines(event_query(flt), grouping, canonical_text)[0][1]["$project"]["g"]
        assert trunc["$dateTrunc"]["timezone"] == "Europe/Berlin"
        assert ("startOfWeek" in trunc["$dateTrunc"]) == (grouping.unit == "week")


def test_identity_days_pipeline() -> None:
    pipeline = identity_days_pipeline(event_query(EventFilter(site_id="s1", start=0, end=1)), "Asia/Kolkata")
    assert list(pipeline[0]["$match"])[:2] == ["meta.site", "ts"]
    assert operators(pipeline) <= MONGO_60


def test_unknown_groupings_are_refused() -> None:
    with pytest.raises(ValueError):
        aggregate_pipelines({}, Grouping(kind="field", field="visitor_id"), canonical_text)
    with pytest.raises(ValueError):
        aggregate_pipelines({}, Grouping(kind="prop", field="$where"), canonical_text)
