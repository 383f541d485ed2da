"""The MongoDB pipelines evaluated by mongomock (a second, independent evaluator of the aggregation
language; not MongoDB) against the embedded store's answers for the same events: totals, field and prop
breakdowns with every sort and a limit, float props, filters, and hour/minute buckets in half-hour and
45-minute zones. Entry/exit pages (`$min` over documents), calendar buckets (`$dateTrunc`) and path
prefixes (`$substrCP`) are beyond mongomock and are covered on a real server by
tests/conformance/test_mongo_server.py."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import mongomock
import pytest

from storage.embedded.events import SqliteEventStore
from storage.mongo.aggregates import aggregate_pipeline, to_aggregates
from storage.mongo.events import canonical_text, event_document, event_query, regex_literal, to_ms
from storage.ports import Aggregate, EventFilter, Grouping
from tests.support.event_fixtures import FIXTURE, ZONES, spread_events
from tests.support.event_match import matches
from tests.support.random_events import SPAN, START, make_events, random_condition

EVENTS = FIXTURE + spread_events()
WHOLE = EventFilter(site_id="s1", start=0, end=2_000_000_000_000)


@pytest.fixture(scope="module")
def mock_events() -> Any:
    coll = mongomock.MongoClient(tz_aware=True).db.events
    coll.insert_many([event_document(e) for e in EVENTS])
    return coll


@pytest.fixture
async def sqlite(tmp_path: Path) -> Any:
    store = SqliteEventStore(tmp_path)
    await store.open()
    for start in range(0, len(EVENTS), 500):
        await store.append(EVENTS[start : start + 500])
    yield store
    await store.close()


def mongo_answer(
    coll: Any, flt: EventFilter, grouping: Grouping, sort: str = "visitors", limit: int = 0
) -> list[Aggregate]:
    rows = list(
        coll.aggregate(aggregate_pipeline(event_query(flt), grouping, canonical_text, sort=sort, limit=limit))
    )
    return to_aggregates(rows, grouping, to_ms)


@pytest.mark.parametrize("sort", ["visitors", "visits", "pageviews", "events"])
async def test_breakdowns_match_the_embedded_store(mock_events: Any, sqlite: Any, sort: str) -> None:
    for grouping in (
        Grouping(),
        Grouping(kind="field", field="path"),
        Grouping(kind="field", field="source"),
        Grouping(kind="field", field="country"),
        Grouping(kind="field", field="name"),
        Grouping(kind="prop", field="plan"),
        Grouping(kind="prop", field="x"),
        Grouping(kind="prop", field="seats"),
    ):
        for limit in (0, 2):
            expected = await sqlite.aggregate(WHOLE, grouping, sort=sort, limit=limit)
            assert mongo_answer(mock_events, WHOLE, grouping, sort, limit) == expected, (grouping, limit)


@pytest.mark.parametrize("tz", ZONES)
async def test_hour_and_minute_buckets_match_in_odd_offset_zones(
    mock_events: Any, sqlite: Any, tz: str
) -> None:
    for unit in ("hour", "minute"):
        grouping = Grouping(kind="time", unit=unit, tz=tz)
        assert mongo_answer(mock_events, WHOLE, grouping) == await sqlite.aggregate(WHOLE, grouping)


async def test_filters_match_the_embedded_store(mock_events: Any, sqlite: Any) -> None:
    for extra in (
        {"props": {"x": "2.0"}},
        {"props": {"x": "1e-05"}},
        {"props": {"x": "true"}},
        {"props": {"seats": "2"}},
        {"props": {"plan": "pro"}, "equals": {"country": "DE"}},
        {"traits": {"gender": "f"}},
        {"equals": {"name": "pageview", "source": "Google"}},
    ):
        flt = EventFilter(site_id="s1", start=WHOLE.start, end=WHOLE.end, **extra)
        count = mock_events.count_documents(event_query(flt))
        assert count == await sqlite.count(flt) > 0, extra
        assert mongo_answer(mock_events, flt, Grouping()) == await sqlite.aggregate(flt, Grouping()), extra


def test_conditions_select_what_the_reference_selects() -> None:
    """Negations, contains (case of A-Z ignored, regex characters literal) and several values, translated
    for MongoDB, keep exactly the events the plain reference keeps (random events and conditions)."""
    rng = random.Random(5)
    events = make_events(rng)
    coll = mongomock.MongoClient(tz_aware=True).db.events
    coll.insert_many([event_document(e) for e in events])
    span = {"site_id": "s1", "start": START, "end": START + SPAN}
    kept = 0
    for _ in range(300):
        sample = rng.choice(events)
        conditions = tuple(random_condition(rng, sample) for _ in range(rng.choice([1, 1, 2])))
        flt = EventFilter(**span, conditions=conditions)
        got = sorted(doc["id"] for doc in coll.find(event_query(flt), {"id": 1}))
        want = sorted(e.id for e in events if matches(e, flt))
        assert got == want, conditions
        kept += bool(want)
    assert kept >= 150


def test_regex_literals_match_only_themselves() -> None:
    """Every ASCII character, a few non-ASCII ones, as a contains or prefix pattern (Python's re, as
    mongomock runs it, reads the escapes as PCRE does)."""
    texts = ["".join(chr(c) for c in range(1, 128)), "a.b*c+d?e(f)[g]{h}|i^j$k\\l", "/über/Ünit ✓"]
    for text in texts:
        assert re.fullmatch(regex_literal(text, fold=False), text)
        assert re.fullmatch(regex_literal(text, fold=True), text.swapcase() if text.isascii() else text)
        assert not re.fullmatch(regex_literal(text, fold=False), text + "x")
    assert not re.search(regex_literal("a.c", fold=True), "abc")
