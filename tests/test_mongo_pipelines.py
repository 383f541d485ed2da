"""The MongoDB aggregation pipelines, checked without a server: each starts with the match on
meta.site + ts (so the time-series bucket index is used), uses only operators MongoDB 6.0 has, counts
visitors in the same pass as visits, and sorts and limits breakdowns inside the pipeline."""

from __future__ import annotations

import pytest

from storage.mongo.aggregates import aggregate_pipeline, identity_days_pipeline, local_unit_start
from storage.mongo.events import canonical_text, event_document, event_query
from storage.ports import EventFilter, Grouping
from storage.records import Event
from tests.support.mongo import MONGO_60, operators

GROUPINGS = [
    Grouping(),
    Grouping(kind="time", unit="hour", tz="Asia/Colombo"),
    Grouping(kind="time", unit="minute", tz="Australia/Lord_Howe"),
    Grouping(kind="time", unit="week", tz="Europe/Berlin"),
    Grouping(kind="field", field="path"),
    Grouping(kind="field", field="name"),
    Grouping(kind="prop", field="plan"),
    Grouping(kind="entry_page"),
    Grouping(kind="exit_page"),
]


@pytest.mark.parametrize("grouping", GROUPINGS, ids=lambda g: f"{g.kind}-{g.field or g.unit}")
def test_pipelines_lead_with_the_indexed_match(grouping: Grouping) -> None:
    flt = EventFilter(site_id="s1", start=0, end=1000, equals={"country": "DE"}, props={"plan": "pro"})
    pipeline = aggregate_pipeline(event_query(flt), grouping, canonical_text, sort="pageviews", limit=10)
    first = pipeline[0]["$match"]
    assert list(first)[:2] == ["meta.site", "ts"] and first["meta.site"] == "s1"
    assert operators(pipeline) <= MONGO_60, operators(pipeline) - MONGO_60
    stages = [next(iter(stage)) for stage in pipeline]
    assert stages.count("$match") <= 2 and "$unwind" in stages  # one pass: visitors with the visits
    if grouping.kind in ("total", "time"):
        assert pipeline[-1] == {"$sort": {"_id": 1}}
    else:
        assert pipeline[-2:] == [{"$sort": {"pageviews": -1, "_id": 1}}, {"$limit": 10}]


def test_hours_and_minutes_subtract_the_local_time_since_the_unit_began() -> None:
    """$dateTrunc bins hours from a reference date in 2000 (Colombo was +06:00 then): not used."""
    hour = aggregate_pipeline({}, Grouping(kind="time", unit="hour", tz="Asia/Colombo"), canonical_text)
    assert "$dateTrunc" not in operators(hour)
    assert hour[1]["$project"]["g"] == local_unit_start("hour", "Asia/Colombo")
    parts = operators(local_unit_start("hour", "Asia/Colombo"))
    assert {"$minute", "$second", "$millisecond"} <= parts
    assert "$minute" not in operators(local_unit_start("minute", "UTC"))
    day = aggregate_pipeline({}, Grouping(kind="time", unit="day", tz="Asia/Colombo"), canonical_text)
    assert "$dateTrunc" in operators(day)


def test_prop_filters_and_groups_use_the_stored_text() -> None:
    doc = event_document(
        Event(id="e", site_id="s", ts=0, name="x", props={"f": 2.0, "t": 1e-05, "n": 3, "b": True, "s": "2"})
    )
    assert doc["pt"] == {"f": "2.0", "t": "1e-05", "n": "3", "b": "true"}  # strings are their own text
    query = event_query(EventFilter(site_id="s", start=0, end=1, props={"f": "2.0"}))
    assert {"$or": [{"pt.f": "2.0"}, {"props.f": "2.0"}]} in query["$and"]
    assert canonical_text("$props.f") == {"$ifNull": ["$pt.f", "$props.f"]}


def test_identity_days_pipeline() -> None:
    pipeline = identity_days_pipeline(event_query(EventFilter(site_id="s1", start=0, end=1)), "Asia/Kolkata")
    assert list(pipeline[0]["$match"])[:2] == ["meta.site", "ts"]
    assert operators(pipeline) <= MONGO_60


def test_unknown_groupings_and_sorts_are_refused() -> None:
    with pytest.raises(ValueError):
        aggregate_pipeline({}, Grouping(kind="field", field="visitor_id"), canonical_text)
    with pytest.raises(ValueError):
        aggregate_pipeline({}, Grouping(kind="prop", field="$where"), canonical_text)
    with pytest.raises(ValueError):
        aggregate_pipeline({}, Grouping(kind="field", field="path"), canonical_text, sort="duration")
