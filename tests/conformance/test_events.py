"""EventStore conformance: append durably, dedupe ids, read in order with filters, count, purge."""

from __future__ import annotations

from typing import Any

import pytest

from storage.ports import Condition, EventFilter
from storage.records import Event
from tests.support.event_fixtures import T0


def ev(i: int, **fields: Any) -> Event:
    values: dict[str, Any] = {
        "id": f"e{i}",
        "site_id": "s1",
        "ts": T0 + i * 1000,
        "name": "pageview",
        "path": "/",
    }
    values.update(fields)
    return Event(**values)


async def read_all(events: Any, flt: EventFilter, batch_size: int = 1000) -> list[Event]:
    out: list[Event] = []
    async for batch in events.read(flt, batch_size=batch_size):
        assert 0 < len(batch) <= batch_size
        out.extend(batch)
    return out


async def test_append_then_read_roundtrip(events: Any) -> None:
    full = ev(
        1,
        url="https://example.com/a?x=1",
        path="/a",
        hostname="example.com",
        title="A",
        referrer="https://news.example/",
        source="news.example",
        utm_source="nl",
        utm_medium="email",
        utm_campaign="spring",
        utm_term="t",
        utm_content="c",
        country="GB",
        browser="Firefox",
        os="Linux",
        device="desktop",
        screen="1920x1080",
        visitor_id="v1",
        session_id="sess1",
        user_id="user-1",
        props={"plan": "pro", "n": 3, "x": 1.5, "ok": True},
        traits={"age_band": "25-34", "gender": "f"},
    )
    assert await events.append([full, ev(2)]) == 2
    got = await read_all(events, EventFilter(site_id="s1", start=T0, end=T0 + 10_000))
    assert got == [full, ev(2)]


@pytest.mark.reliability
async def test_duplicate_ids_are_stored_once(events: Any) -> None:
    assert await events.append([ev(1), ev(2), ev(2)]) == 2
    assert await events.append([ev(1), ev(3)]) == 1
    # same id on another site is a different event
    assert await events.append([ev(1, site_id="s2")]) == 1
    flt = EventFilter(site_id="s1", start=T0, end=T0 + 10_000)
    assert await events.count(flt) == 3
    assert [e.id for e in await read_all(events, flt)] == ["e1", "e2", "e3"]


async def test_read_is_time_ordered_and_batched(events: Any) -> None:
    batch = [ev(i) for i in reversed(range(25))]
    assert await events.append(batch) == 25
    got = await read_all(events, EventFilter(site_id="s1", start=T0, end=T0 + 100_000), batch_size=7)
    assert [e.id for e in got] == [f"e{i}" for i in range(25)]


async def test_range_is_half_open_and_site_scoped(events: Any) -> None:
    await events.append([ev(0), ev(1), ev(2), ev(1, site_id="other", id="o1")])
    flt = EventFilter(site_id="s1", start=T0 + 1000, end=T0 + 2000)
    assert [e.id for e in await read_all(events, flt)] == ["e1"]
    assert await events.count(EventFilter(site_id="other", start=T0, end=T0 + 10_000)) == 1


async def test_filters_on_fields_props_traits_and_path_prefix(events: Any) -> None:
    await events.append(
        [
            ev(1, name="signup", path="/blog/a", country="DE", props={"plan": "pro", "n": 2, "ok": True}),
            ev(2, name="pageview", path="/blog/b", country="DE", traits={"gender": "f"}),
            ev(3, name="pageview", path="/about", country="FR", props={"plan": "free", "ok": False}),
        ]
    )
    span = {"site_id": "s1", "start": T0, "end": T0 + 10_000}
    assert await events.count(EventFilter(**span, equals={"name": "pageview"})) == 2
    assert await events.count(EventFilter(**span, equals={"country": "DE", "name": "signup"})) == 1
    assert await events.count(EventFilter(**span, path_prefix="/blog/")) == 2
    assert await events.count(EventFilter(**span, path_prefix="/blog/%")) == 0
    assert await events.count(EventFilter(**span, props={"plan": "pro"})) == 1
    assert await events.count(EventFilter(**span, props={"n": "2"})) == 1
    assert await events.count(EventFilter(**span, props={"ok": "true"})) == 1
    assert await events.count(EventFilter(**span, props={"ok": "false"})) == 1
    assert await events.count(EventFilter(**span, traits={"gender": "f"})) == 1
    got = await read_all(events, EventFilter(**span, equals={"country": "DE"}, path_prefix="/blog"))
    assert [e.id for e in got] == ["e1", "e2"]


def cond(name: str, op: str, *values: str, negate: bool = False, kind: str = "field") -> Condition:
    return Condition(kind=kind, name=name, op=op, values=values, negate=negate)


async def test_conditions_negate_contain_and_take_several_values(events: Any) -> None:
    """Every store: `is` one of several values, negations that keep events lacking the prop or trait,
    contains ignoring the case of A-Z (only), prefixes, and regex or LIKE characters taken literally."""
    await events.append(
        [
            ev(1, name="signup", path="/Blog/Post", country="DE", props={"plan": "Pro", "n": 2}),
            ev(2, path="/blog/b", country="FR", traits={"gender": "f"}, props={"plan": "free"}),
            ev(3, path="/about.us", country="US", props={"ok": True}),
            ev(4, path="/über/Ünit", country="", source="a|b"),
            ev(5, path="/a%b_c", country="GB", traits={"gender": "m"}),
        ]
    )
    span = {"site_id": "s1", "start": T0, "end": T0 + 10_000}

    async def ids(*conditions: Condition) -> list[str]:
        got = [e.id for e in await read_all(events, EventFilter(**span, conditions=conditions))]
        assert await events.count(EventFilter(**span, conditions=conditions)) == len(got)
        return got

    assert await ids(cond("country", "is", "DE", "FR")) == ["e1", "e2"]
    assert await ids(cond("country", "is", "DE", "FR", negate=True)) == ["e3", "e4", "e5"]
    assert await ids(cond("country", "is", "", negate=True)) == ["e1", "e2", "e3", "e5"]
    assert await ids(cond("name", "is", "pageview", negate=True)) == ["e1"]
    assert await ids(cond("path", "contains", "BLOG")) == ["e1", "e2"]
    assert await ids(cond("path", "contains", "blog", negate=True)) == ["e3", "e4", "e5"]
    assert await ids(cond("path", "contains", "ÜBER")) == []  # Ü and ü are different letters here
    assert await ids(cond("path", "contains", "Ünit", "post")) == ["e1", "e4"]
    assert await ids(cond("path", "contains", ".")) == ["e3"]  # no regex: a dot is a dot
    assert await ids(cond("path", "contains", "%b_")) == ["e5"]  # no LIKE: % and _ are themselves
    assert await ids(cond("source", "contains", "|")) == ["e4"]
    assert await ids(cond("path", "starts_with", "/blog", "/a")) == ["e2", "e3", "e5"]
    assert await ids(cond("path", "starts_with", "/blog", negate=True)) == ["e1", "e3", "e4", "e5"]
    assert await ids(cond("plan", "is", "Pro", "free", kind="prop")) == ["e1", "e2"]
    assert await ids(cond("plan", "is", "Pro", kind="prop", negate=True)) == ["e2", "e3", "e4", "e5"]
    assert await ids(cond("plan", "contains", "pro", kind="prop")) == ["e1"]
    assert await ids(cond("plan", "contains", "r", kind="prop", negate=True)) == ["e3", "e4", "e5"]
    assert await ids(cond("n", "is", "2", kind="prop")) == ["e1"]
    assert await ids(cond("ok", "contains", "TRU", kind="prop")) == ["e3"]
    assert await ids(cond("gender", "is", "f", kind="trait", negate=True)) == ["e1", "e3", "e4", "e5"]
    assert await ids(cond("gender", "contains", "M", kind="trait")) == ["e5"]
    both = (cond("country", "is", "DE", "FR", "US"), cond("path", "contains", "blog", negate=True))
    assert await ids(*both) == ["e3"]
    got = await read_all(events, EventFilter(**span, equals={"name": "pageview"}, conditions=both[:1]))
    assert [e.id for e in got] == ["e2", "e3"]


async def test_purge_before_and_delete_site(events: Any) -> None:
    if getattr(events, "server_version", (99,)) < (7, 0):
        pytest.skip("MongoDB 6.x deletes time-series events by whole UTC days: test_mongo_server covers it")
    await events.append([ev(i) for i in range(10)] + [ev(1, site_id="s2")])
    await events.purge_before("s1", T0 + 5000)
    everything = EventFilter(site_id="s1", start=0, end=T0 * 2)
    assert [e.id for e in await read_all(events, everything)] == [f"e{i}" for i in range(5, 10)]
    await events.delete_site("s1")
    assert await events.count(everything) == 0
    assert await events.count(EventFilter(site_id="s2", start=0, end=T0 * 2)) == 1


async def test_append_empty_and_ping(events: Any) -> None:
    assert await events.append([]) == 0
    await events.ping()


async def test_bulk_load_is_read_back_like_appended_events(events: Any) -> None:
    """Bulk-loaded events answer like appended ones, beside them."""
    base = 1_767_225_600_000  # 2026-01-01
    loaded = [
        Event(id=f"bulk{i}", site_id="bulk-site", ts=base + i * 60_000, name="pageview", path=f"/p{i % 3}",
              visitor_id=f"v{i % 5}", session_id=f"s{i % 4}", props={"n": i})
        for i in range(40)
    ]  # fmt: skip
    assert await events.bulk_load([loaded[:15], loaded[15:30]]) == 30

    async def more() -> Any:
        yield loaded[30:]

    assert await events.bulk_load(more()) == 10
    appended = [Event(id="live", site_id="bulk-site", ts=base + 5, name="signup", visitor_id="v1")]
    await events.append(appended)
    flt = EventFilter(site_id="bulk-site", start=base, end=base + 86_400_000)
    assert await events.count(flt) == 41
    read = [e async for batch in events.read(flt, batch_size=9) for e in batch]
    assert [e.id for e in read][:2] == ["bulk0", "live"]
    assert {e.id: e for e in read} == {e.id: e for e in loaded + appended}
    [total] = await events.aggregate(flt)
    assert (total.events, total.pageviews, total.visitors, total.visits) == (41, 40, 5, 5)
