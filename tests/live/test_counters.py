"""Live counters, views, filters and streams as units: what one process counts, how deltas from several
processes merge into one view, and how a stream bounds what it queues."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import orjson
import pytest

from domain.errors import Invalid
from domain.live import counters
from domain.live.counters import PendingCounts
from domain.live.messages import OTHER, SiteDelta, Top, bounded_counts, decode_delta, encode_delta
from domain.live.stream import FILTER_KEYS, Filters, LiveStream, parse_filters
from domain.live.view import EPS_WINDOW_S, RECENT_LIMIT, TOP_WINDOW_S, SiteView
from domain.stats.query import FILTER_FIELDS
from tests.support.live import event


def test_pending_counts_per_site_and_take_resets() -> None:
    pending = PendingCounts()
    touched = pending.add(
        [
            event("a", path="/", source="google", country="DE", visitor_id="v1", ts=1_000),
            event("a", path="/pricing", source="", country="DE", visitor_id="v1", ts=3_000),
            event("a", path="/", source="google", country="FR", visitor_id="v2", ts=2_000),
            event("b", path="/x", visitor_id="w"),
        ]
    )
    assert touched == {"a", "b"}
    taken = pending.take("a", now_ms=5)
    assert taken is not None
    delta, visitors = taken
    assert delta.n == 3 and delta.at == 5
    assert delta.pages == {"/": 2, "/pricing": 1}
    assert delta.sources == {"google": 2, "(direct)": 1}
    assert delta.countries == {"DE": 2, "FR": 1}
    assert [item["path"] for item in delta.recent] == ["/", "/pricing", "/"]
    assert visitors == {"v1": 3.0, "v2": 2.0}  # last seen, epoch seconds
    assert pending.take("a", now_ms=6) is None
    assert pending.sites() == ["b"]


def _counted_event_by_event(events: list[Any], max_keys: int, max_visitors: int) -> dict[str, Any]:
    """What PendingCounts.add must produce, written the plain way: one event at a time, in order."""
    sites: dict[str, Any] = {}
    for item in events:
        site = sites.setdefault(
            item.site_id,
            {
                "n": 0,
                "pages": {},
                "sources": {},
                "countries": {},
                "visitors": {},
                "recent": [],
                "visits": set(),
            },
        )
        site["n"] += 1
        visit = item.session_id or item.id  # a visit's source counts once, at its first event
        source = "" if visit in site["visits"] else item.source or "(direct)"
        site["visits"].add(visit)
        keys = [("pages", item.path), ("sources", source), ("countries", item.country)]
        for name, key in keys:
            if not key:
                continue
            counter = site[name]
            key = key if key in counter or len(counter) < max_keys else "(other)"
            counter[key] = counter.get(key, 0) + 1
        if item.visitor_id:
            seen, visitors = item.ts / 1000.0, site["visitors"]
            if item.visitor_id in visitors:
                visitors[item.visitor_id] = max(visitors[item.visitor_id], seen)
            elif len(visitors) < max_visitors:
                visitors[item.visitor_id] = seen
        site["recent"].append(item.path)
    return sites


@pytest.mark.parametrize("seed", range(20))
def test_batch_counting_matches_counting_event_by_event(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # Small caps so that the "(other)" cut-off and the visitor cap are crossed inside one batch.
    monkeypatch.setattr(counters, "MAX_PENDING_KEYS", 4)
    monkeypatch.setattr(counters, "MAX_PENDING_VISITORS", 3)
    rng = random.Random(seed)
    batches = [
        [
            event(
                rng.choice(["a", "a", "a", "b"]) if seed % 2 else "a",
                path=rng.choice(["/", "/a", "/b", "/c", "/d", "/e", ""]),
                source=rng.choice(["", "google", "bing", "t.co", "hn", "ddg"]),
                country=rng.choice(["", "DE", "FR", "US", "JP", "BR"]),
                visitor_id=rng.choice(["", "v1", "v2", "v3", "v4", "v5"]),
                session_id=rng.choice(["", "", "s1", "s2", "s3"]),
                ts=rng.randrange(1_000, 9_000),  # out of order: a visitor keeps its latest
            )
            for _ in range(rng.randrange(1, 60))
        ]
        for _ in range(3)
    ]
    pending = PendingCounts()
    for batch in batches:
        assert pending.add(batch) == {item.site_id for item in batch}
    expected = _counted_event_by_event([item for batch in batches for item in batch], 4, 3)
    assert set(pending.sites()) == set(expected)
    for site_id, want in expected.items():
        delta, visitors = pending.take(site_id, now_ms=0)  # type: ignore[misc]
        assert delta.n == want["n"]
        assert delta.pages == bounded_counts(want["pages"])
        assert delta.sources == bounded_counts(want["sources"])
        assert delta.countries == bounded_counts(want["countries"])
        assert visitors == want["visitors"]
        assert [item["path"] for item in delta.recent] == want["recent"][-20:]


def test_delta_bounds_recent_events_text_and_distinct_keys() -> None:
    pending = PendingCounts()
    pending.add([event("a", path=f"/p{i}", url="https://x/" + "y" * 5000) for i in range(300)])
    taken = pending.take("a", now_ms=0)
    assert taken is not None
    delta = taken[0]
    assert len(delta.recent) == 20 and delta.recent[-1]["path"] == "/p299"
    assert len(delta.recent[0]["url"]) == 500
    assert len(delta.pages) == 100 and delta.pages[OTHER] == 201
    assert sum(delta.pages.values()) == 300
    assert decode_delta(encode_delta(delta)) == delta


def test_bounded_counts_keeps_the_largest() -> None:
    counts = {"a": 5, "b": 4, "c": 1, "d": 1}
    assert bounded_counts(counts, limit=3) == {"a": 5, "b": 4, OTHER: 2}
    assert bounded_counts(counts, limit=10) == counts


def _delta(site: str, n: int, **maps: Any) -> SiteDelta:
    return SiteDelta(site=site, n=n, at=0, **maps)


def test_view_merges_deltas_and_forgets_old_ones() -> None:
    view = SiteView("s")
    now = 1_000_000.0
    view.apply(_delta("s", 3, pages={"/": 2, "/a": 1}, sources={"google": 3}, countries={"DE": 3}), now)
    view.apply(_delta("s", 2, pages={"/a": 2}, sources={"(direct)": 2}), now + 1)
    state = view.state(now + 1, visitors_now=4)
    assert state.visitors_now == 4
    assert state.events_per_s == round(5 / EPS_WINDOW_S, 2)
    assert state.top_pages == [Top("/a", 3), Top("/", 2)]
    assert state.top_sources == [Top("google", 3), Top("(direct)", 2)]
    assert state.top_countries == [Top("DE", 3)]
    later = view.state(now + EPS_WINDOW_S + 2, visitors_now=0)
    assert later.events_per_s == 0  # the rate window has passed, the tops have not
    assert later.top_pages[0] == Top("/a", 3)
    gone = view.state(now + TOP_WINDOW_S + 30, visitors_now=0)
    assert gone.top_pages == [] and gone.top_sources == []


def test_view_keeps_a_bounded_recent_tail_and_seeds_from_stored_events() -> None:
    view = SiteView("s")
    now = 2_000_000.0
    stored = [event("s", path="/old", ts=int((now - TOP_WINDOW_S - 60) * 1000))]
    stored += [event("s", path=f"/p{i}", ts=int((now - 100 + i) * 1000)) for i in range(60)]
    assert view.seed(stored, now) == 60
    assert len(view.recent) == RECENT_LIMIT and view.recent[-1]["path"] == "/p59"
    state = view.state(now, 0)
    assert sum(item.count for item in state.top_pages) == 10  # top 10 of 60 pages seen once
    assert all(item.value != "/old" for item in state.top_pages)
    assert state.events_per_s == 0  # the seeded events are older than the rate window


def test_filters_parse_and_match() -> None:
    assert parse_filters(None) == Filters()
    # The history's names: an exact page, or a prefix with a trailing *, as in `page==/blog/*`.
    filters = parse_filters({"event": "signup", "page": "/blog/*", "country": "de", "browser": "Firefox"})
    assert filters.country == "DE" and filters.active
    assert filters.as_dict() == {"event": "signup", "page": "/blog/*", "country": "DE", "browser": "Firefox"}
    signup = {"name": "signup", "path": "/blog/x", "country": "DE", "browser": "Firefox"}
    assert filters.matches(signup)
    assert not filters.matches({**signup, "path": "/shop"})
    assert not filters.matches({**signup, "name": "pageview"})
    assert not filters.matches({**signup, "country": "FR"})
    assert not filters.matches({**signup, "browser": "Chrome"})
    exact = parse_filters({"page": "/blog"})
    assert exact.matches({"path": "/blog"}) and not exact.matches({"path": "/blog/x"})
    for key, value in (("source", "Google"), ("os", "Linux"), ("device", "Mobile")):
        assert parse_filters({key: value}).matches({key: value})
        assert not parse_filters({key: value}).matches({key: "other"})
    # The older spellings still work: `name` is `event`, `path_prefix` is `page` with a *.
    assert parse_filters({"name": "signup", "path_prefix": "/blog"}) == Filters(event="signup", page="/blog*")
    for bad in (
        {"country": "Germany"},
        {"name": 5},
        {"bogus": "x"},
        {"page": "x" * 201},
        {"name": "a", "event": "b"},
        "str",
    ):
        with pytest.raises(Invalid):
            parse_filters(bad)


def test_tail_filter_names_are_history_filter_names() -> None:
    # The live tail and the history's filters (the stats API, the dashboard's filter bar) speak the same
    # names, so a filter reads the same in both.
    assert set(FILTER_KEYS) <= set(FILTER_FIELDS)


class _Transport:
    """Records what a stream sends; sends complete only when the test says so."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.pending: list[asyncio.Future[None]] = []
        self.dropped: list[str] = []

    def send(self, text: str) -> asyncio.Future[None]:
        self.sent.append(text)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append(future)
        return future

    def drop(self, reason: str) -> None:
        self.dropped.append(reason)


async def sent(pending: asyncio.Future[None]) -> None:
    """Complete a send, and return once the callbacks waiting on it (the stream's) have run: callbacks
    run in the order they were added, so one added now runs after the stream's."""
    after: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    pending.add_done_callback(lambda _done: after.set_result(None))
    pending.set_result(None)
    await after


async def test_stream_sends_one_at_a_time_in_order() -> None:
    transport = _Transport()
    stream = LiveStream("s", transport)
    for i in range(3):
        assert stream.offer(f"m{i}")
    assert transport.sent == ["m0"] and stream.queued == 2
    await sent(transport.pending[0])
    assert transport.sent == ["m0", "m1"]
    await sent(transport.pending[1])
    await sent(transport.pending[2])
    assert transport.sent == ["m0", "m1", "m2"] and stream.queued == 0


async def test_a_stream_whose_client_stops_reading_is_dropped_not_buffered() -> None:
    transport = _Transport()
    stream = LiveStream("s", transport)
    drops: list[int] = []
    stream.on_drop = lambda: drops.append(1)
    accepted = [stream.offer(orjson.dumps({"i": i}).decode()) for i in range(stream.limit + 5)]
    assert accepted == [True] * (stream.limit + 1) + [False] * 4
    assert len(transport.dropped) == 1 and drops == [1]
    assert stream.closed and stream.queued == 0
    await sent(transport.pending[0])
    assert len(transport.sent) == 1  # nothing more leaves a dropped stream
