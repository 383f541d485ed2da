"""Query conformance: every EventStore answers the stats queries the same way, and right.

One shared fixture (sessions over October 2025, across the Europe/Berlin DST change on the 26th, plus
events without a session and another site's events) is stored; each answer of the query service is
compared with the answer computed here, independently, from the fixture events in plain Python.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain.stats.cache import StatsCache
from domain.stats.funnels import parse_steps
from domain.stats.query import BREAKDOWNS, parse_query
from domain.stats.service import StatsService
from storage.embedded.memory_kv import MemoryKeyValue
from storage.ports import EventFilter, Grouping
from storage.records import Event
from tests.support.answers import as_json
from tests.support.event_fixtures import FIXTURE, NOW, ms

BERLIN = ZoneInfo("Europe/Berlin")


# ---- the independent model ------------------------------------------------------------------------


def session_key(e: Event) -> str:
    return e.session_id or f"ev:{e.id}"


def expected_metrics(events: list[Event]) -> dict[str, Any]:
    """The public metrics of a set of events, from scratch."""
    sessions: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        sessions[session_key(e)].append(e)
    visits = len(sessions)
    pageviews = sum(e.name == "pageview" for e in events)
    bounces = sum(1 for evs in sessions.values() if sum(e.name == "pageview" for e in evs) == 1)
    duration = sum(max(e.ts for e in evs) - min(e.ts for e in evs) for evs in sessions.values())
    return {
        "visitors": len({e.visitor_id for e in events}),
        "visits": visits,
        "pageviews": pageviews,
        "events": len(events),
        "bounce_rate": round(bounces * 100 / visits, 2) if visits else 0.0,
        "visit_duration": round(duration / visits / 1000, 1) if visits else 0.0,
        "views_per_visit": round(pageviews / visits, 2) if visits else 0.0,
    }


def select(start: int, end: int, pred: Callable[[Event], bool] = lambda e: True) -> list[Event]:
    return [e for e in FIXTURE if e.site_id == "s1" and start <= e.ts < end and pred(e)]


def expected_groups(events: list[Event], key: Callable[[Event], Any]) -> dict[Any, dict[str, Any]]:
    groups: dict[Any, list[Event]] = defaultdict(list)
    for e in events:
        k = key(e)
        if k is not None:
            groups[k].append(e)
    return {k: expected_metrics(evs) for k, evs in groups.items()}


def edge_pages(events: list[Event], last: bool) -> dict[str, str]:
    """Session key -> path of its first (or last) pageview by (ts, id)."""
    out: dict[str, tuple[int, str, str]] = {}
    for e in events:
        if e.name != "pageview":
            continue
        k = session_key(e)
        mark = (e.ts, e.id, e.path)
        if k not in out or (mark > out[k] if last else mark < out[k]):
            out[k] = mark
    return {k: v[2] for k, v in out.items()}


def prop_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def local_bucket(ts: int, unit: str, tz: ZoneInfo) -> int:
    """The bucket start of `ts`, via datetime arithmetic (fold kept for the repeated hour)."""
    local = dt.datetime.fromtimestamp(ts / 1000, tz=tz)
    if unit == "hour":
        return int(local.replace(minute=0, second=0, microsecond=0).timestamp() * 1000)
    day = local.date()
    if unit == "week":
        day = day - dt.timedelta(days=day.weekday())
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=tz).timestamp() * 1000)


# ---- helpers ----------------------------------------------------------------------------------------


def service(events: Any) -> StatsService:
    return StatsService(events, StatsCache(MemoryKeyValue()), clock=lambda: NOW / 1000)


def query(**params: str) -> Any:
    filters = params.pop("filters", "")
    return parse_query(params, [filters] if filters else [], default_tz="Europe/Berlin", now_ms=NOW)


@pytest.fixture
async def stored(events: Any) -> Any:
    """The event store holding the fixture."""
    compacting = hasattr(events, "settle")  # the compacting embedded store: rollups once the fixture is in
    if compacting:
        events.settled = False
    for start in range(0, len(FIXTURE), 100):
        await events.append(FIXTURE[start : start + 100])
    if compacting:
        await events.settle()
    return events


# ---- tests ------------------------------------------------------------------------------------------


async def test_summary_with_previous_period(stored: Any) -> None:
    q = query(**{"from": "2025-10-16", "to": "2025-10-31"})
    answer = await as_json(service(stored).summary("s1", q))
    start, end = ms(2025, 10, 16, tz=BERLIN), ms(2025, 11, 1, tz=BERLIN)
    now, before = expected_metrics(select(start, end)), expected_metrics(select(2 * start - end, start))
    assert now["visits"] > 50 and before["visits"] > 50
    assert {k: v["value"] for k, v in answer["results"].items()} == now
    assert {k: v["previous"] for k, v in answer["results"].items()} == before
    visitors = answer["results"]["visitors"]
    assert visitors["change"] == round((now["visitors"] - before["visitors"]) * 100 / before["visitors"], 1)
    assert answer["cached"] is False
    assert (await as_json(service(stored).summary("s1", q)))["results"] == answer["results"]


async def test_summary_is_cached_until_the_version_moves(stored: Any) -> None:
    svc = service(stored)
    q = query(**{"from": "2025-10-01", "to": "2025-10-31"})
    first = await as_json(svc.summary("s1", q))
    second = await as_json(svc.summary("s1", q))
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["results"] == first["results"]
    await stored.append(
        [Event(id="late", site_id="s1", ts=ms(2025, 10, 10), name="pageview", visitor_id="new")]
    )
    assert (await as_json(svc.summary("s1", q)))[
        "cached"
    ] is True  # same version: the short TTL bounds staleness
    await svc.cache.bump("s1")
    third = await as_json(svc.summary("s1", q))
    assert third["cached"] is False
    assert third["results"]["events"]["value"] == first["results"]["events"]["value"] + 1


@pytest.mark.parametrize("interval", ["day", "hour"])
async def test_timeseries_across_the_dst_change(stored: Any, interval: str) -> None:
    q = query(**{"from": "2025-10-24", "to": "2025-10-28", "interval": interval})
    answer = await as_json(service(stored).timeseries("s1", q))
    start, end = ms(2025, 10, 24, tz=BERLIN), ms(2025, 10, 29, tz=BERLIN)
    events = select(start, end)
    groups = expected_groups(events, lambda e: local_bucket(e.ts, interval, BERLIN))
    # Every bucket of the range, in order: 5 days, or 5 * 24 + 1 hours (Oct 26 has 25).
    starts = sorted({local_bucket(t, interval, BERLIN) for t in range(start, end, 60_000)})
    assert len(starts) == (5 if interval == "day" else 121)
    zero = expected_metrics([])
    got = {row.pop("date"): row for row in answer["results"]}
    labels = [
        dt.datetime.fromtimestamp(s / 1000, tz=BERLIN).date().isoformat()
        if interval == "day"
        else dt.datetime.fromtimestamp(s / 1000, tz=BERLIN).isoformat(timespec="seconds")
        for s in starts
    ]
    assert list(got) == labels
    assert [got[label] for label in labels] == [groups.get(s, zero) for s in starts]
    if interval == "hour":
        assert "2025-10-26T02:00:00+02:00" in got and "2025-10-26T02:00:00+01:00" in got
        assert sum(1 for row in got.values() if row["events"] == 0) > 0  # empty buckets are filled


async def test_timeseries_weeks_and_metric_subset(stored: Any) -> None:
    q = query(**{"from": "2025-10-01", "to": "2025-10-31", "interval": "week", "metrics": "visitors,visits"})
    answer = await as_json(service(stored).timeseries("s1", q))
    events = select(ms(2025, 10, 1, tz=BERLIN), ms(2025, 11, 1, tz=BERLIN))
    groups = expected_groups(events, lambda e: local_bucket(e.ts, "week", BERLIN))
    assert [row["date"] for row in answer["results"]] == [
        "2025-09-29", "2025-10-06", "2025-10-13", "2025-10-20", "2025-10-27"
    ]  # fmt: skip
    assert answer["results"] == [
        {
            "date": dt.datetime.fromtimestamp(k / 1000, tz=BERLIN).date().isoformat(),
            "visitors": m["visitors"],
            "visits": m["visits"],
        }
        for k, m in sorted(groups.items())
    ]


def breakdown_key(by: str, events: list[Event]) -> Callable[[Event], Any]:
    if by == "entry_page" or by == "exit_page":
        pages = edge_pages(events, last=by == "exit_page")
        return lambda e: pages.get(session_key(e))
    if by.startswith("prop:"):
        return lambda e: prop_text(e.props.get(by[5:]))
    field = {"page": "path", "event": "name"}.get(by, by)
    return lambda e: getattr(e, field)


@pytest.mark.parametrize("by", [*BREAKDOWNS, "prop:plan", "prop:seats"])
async def test_every_breakdown(stored: Any, by: str) -> None:
    q = query(**{"from": "2025-10-01", "to": "2025-10-31", "by": by, "limit": "1000"})
    answer = await as_json(service(stored).breakdown("s1", q))
    events = select(ms(2025, 10, 1, tz=BERLIN), ms(2025, 11, 1, tz=BERLIN))
    if by == "page":
        events = [e for e in events if e.name == "pageview"]
    groups = expected_groups(events, breakdown_key(by, events))
    expected = sorted(groups.items(), key=lambda kv: (-kv[1]["visitors"], kv[0]))
    assert [row["value"] for row in answer["results"]] == [k for k, _ in expected]
    assert answer["results"] == [{"value": k, **m} for k, m in expected]
    assert len(expected) >= 2


@pytest.mark.parametrize("sort", ["visits", "pageviews", "events"])
async def test_breakdown_sort_and_limit(stored: Any, sort: str) -> None:
    q = query(**{"from": "2025-10-01", "to": "2025-10-31", "by": "page", "sort": sort, "limit": "3"})
    answer = await as_json(service(stored).breakdown("s1", q))
    events = select(ms(2025, 10, 1, tz=BERLIN), ms(2025, 11, 1, tz=BERLIN), lambda e: e.name == "pageview")
    groups = expected_groups(events, lambda e: e.path)
    expected = sorted(groups.items(), key=lambda kv: (-kv[1][sort], kv[0]))[:3]
    assert [(row["value"], row[sort]) for row in answer["results"]] == [(k, m[sort]) for k, m in expected]


FILTERS: list[tuple[str, Callable[[Event], bool]]] = [
    ("country==DE", lambda e: e.country == "DE"),
    ("device==mobile;browser==Firefox", lambda e: e.device == "mobile" and e.browser == "Firefox"),
    ("page==/blog/*", lambda e: e.path.startswith("/blog/")),
    ("page==/pricing", lambda e: e.path == "/pricing"),
    ("event==signup", lambda e: e.name == "signup"),
    ("source==Google;os==Linux", lambda e: e.source == "Google" and e.os == "Linux"),
    ("utm_campaign==autumn", lambda e: e.utm_campaign == "autumn"),
    ("prop:plan==pro", lambda e: e.props.get("plan") == "pro"),
    ("prop:seats==2", lambda e: e.props.get("seats") == 2),
    ("trait:age_band==25-34;trait:gender==f", lambda e: e.traits.get("age_band") == "25-34"
     and e.traits.get("gender") == "f"),
    ("country!=DE", lambda e: e.country != "DE"),
    ("country==DE|GB", lambda e: e.country in ("DE", "GB")),
    ("page=~BLOG", lambda e: "blog" in e.path),
    ("page!~blog;browser!=Firefox|Safari", lambda e: "blog" not in e.path
     and e.browser not in ("Firefox", "Safari")),
    ("page!=/blog/*", lambda e: not e.path.startswith("/blog/")),
    ("page==/blog/*|/doc*", lambda e: e.path.startswith(("/blog/", "/doc"))),
    ("utm_campaign!=", lambda e: e.utm_campaign != ""),
    ("prop:plan!=pro", lambda e: e.props.get("plan") != "pro"),
    ("prop:seats==1|3", lambda e: e.props.get("seats") in (1, 3)),
    ("trait:age_band=~25", lambda e: "25" in e.traits.get("age_band", "")),
    ("event==signup;name!=purchase", lambda e: e.name == "signup"),
]  # fmt: skip


@pytest.mark.parametrize(("filters", "pred"), FILTERS, ids=[f for f, _ in FILTERS])
async def test_filters(stored: Any, filters: str, pred: Callable[[Event], bool]) -> None:
    q = query(**{"from": "2025-10-01", "to": "2025-10-31", "filters": filters})
    svc = service(stored)
    events = select(ms(2025, 10, 1, tz=BERLIN), ms(2025, 11, 1, tz=BERLIN), pred)
    assert events, "the fixture must hold matching events"
    summary = await as_json(svc.summary("s1", q))
    assert {k: v["value"] for k, v in summary["results"].items()} == expected_metrics(events)
    params = {"from": "2025-10-01", "to": "2025-10-31", "filters": filters, "by": "country", "limit": "100"}
    countries = await as_json(svc.breakdown("s1", query(**params)))
    expected = sorted(
        expected_groups(events, lambda e: e.country).items(), key=lambda kv: (-kv[1]["visitors"], kv[0])
    )
    assert countries["results"] == [{"value": k, **m} for k, m in expected]


def _deepest(evs: list[Event], steps: list[Callable[[Event], bool]], pos: int, depth: int, t0: int,
             window_ms: int) -> int:  # fmt: skip
    """The most steps any chain continuing from `pos` completes (tries every choice, not just the first)."""
    if depth == len(steps):
        return depth
    best = depth
    for j in range(pos, len(evs)):
        if evs[j].ts - t0 > window_ms:
            break
        if steps[depth](evs[j]):
            best = max(best, _deepest(evs, steps, j + 1, depth + 1, t0, window_ms))
    return best


def brute_force_funnel(
    events: list[Event], steps: list[Callable[[Event], bool]], window_ms: int
) -> list[int]:
    """People reaching each step: any increasing chain of events inside the window counts."""
    people: dict[str, list[Event]] = defaultdict(list)
    for e in sorted(events, key=lambda e: (e.ts, e.id)):
        people[f"u:{e.user_id}" if e.user_id else f"v:{e.visitor_id}"].append(e)
    reached = [0] * len(steps)
    for evs in people.values():
        best = 0
        for i, e in enumerate(evs):
            if steps[0](e):
                best = max(best, _deepest(evs, steps, i + 1, 1, e.ts, window_ms))
        for k in range(best):
            reached[k] += 1
    return reached


async def test_funnel(stored: Any) -> None:
    q = query(**{"from": "2025-10-01", "to": "2025-10-31"})
    steps = parse_steps("page:/blog/*,page:/pricing,event:signup")
    answer = await as_json(service(stored).funnel("s1", q, steps, 3600))
    events = select(ms(2025, 10, 1, tz=BERLIN), ms(2025, 11, 1, tz=BERLIN))
    checks: list[Callable[[Event], bool]] = [
        lambda e: e.name == "pageview" and e.path.startswith("/blog/"),
        lambda e: e.name == "pageview" and e.path == "/pricing",
        lambda e: e.name == "signup",
    ]
    expected = brute_force_funnel(events, checks, 3600_000)
    assert [s["visitors"] for s in answer["steps"]] == expected
    assert expected[0] > expected[1] > 0
    assert answer["steps"][1]["conversion_rate"] == round(expected[1] * 100 / expected[0], 2)
    assert answer["steps"][2]["step_conversion"] == round(expected[2] * 100 / expected[1], 2)
    assert answer["steps"][1]["dropoff"] == expected[0] - expected[1]


def person(e: Event) -> str:
    return f"u:{e.user_id}" if e.user_id else f"v:{e.visitor_id}"


async def test_retention_weekly_cohorts(stored: Any) -> None:
    q = query(**{"from": "2025-10-06", "to": "2025-10-31"})
    answer = await as_json(service(stored).retention("s1", q))
    events = select(ms(2025, 10, 6, tz=BERLIN), ms(2025, 11, 1, tz=BERLIN))
    weeks: dict[str, set[int]] = defaultdict(set)
    for e in events:
        local = dt.datetime.fromtimestamp(e.ts / 1000, tz=BERLIN).date()
        weeks[person(e)].add((local - dt.date(2025, 10, 6)).days // 7)
    cohorts: dict[int, list[int]] = {}
    for active in weeks.values():
        first = min(active)
        row = cohorts.setdefault(first, [0] * (4 - first))  # 4 weeks in range, the last partial
        for w in active:
            row[w - first] += 1
    expected = [
        {"week": (dt.date(2025, 10, 6) + dt.timedelta(weeks=w)).isoformat(), "size": r[0], "retained": r}
        for w, r in sorted(cohorts.items())
    ]
    assert [{k: c[k] for k in ("week", "size", "retained")} for c in answer["cohorts"]] == expected
    assert answer["cohorts"][0]["rates"][0] == 100.0
    assert sum(c["size"] for c in answer["cohorts"]) == len(weeks)


async def test_active_people_per_day(stored: Any) -> None:
    q = query(**{"from": "2025-10-25", "to": "2025-10-27"})
    answer = await as_json(service(stored).active("s1", q))
    days = defaultdict(set)
    for e in select(ms(2025, 9, 1), ms(2025, 11, 1)):
        days[dt.datetime.fromtimestamp(e.ts / 1000, tz=BERLIN).date()].add(person(e))
    expected = []
    for d in (dt.date(2025, 10, 25), dt.date(2025, 10, 26), dt.date(2025, 10, 27)):
        span = [days.get(d - dt.timedelta(days=k), set()) for k in range(30)]
        dau, wau, mau = len(span[0]), len(set().union(*span[:7])), len(set().union(*span))
        expected.append({"date": d.isoformat(), "dau": dau, "wau": wau, "mau": mau,
                         "stickiness": round(dau * 100 / mau, 2)})  # fmt: skip
    assert answer["results"] == expected
    assert answer["current"] == expected[-1]


async def test_user_journey(stored: Any) -> None:
    counts: dict[str, int] = defaultdict(int)
    for e in FIXTURE:
        if e.user_id:
            counts[e.user_id] += 1
    user = max(counts, key=lambda u: (counts[u], u))
    q = query(**{"from": "2025-09-01", "to": "2025-11-01"})
    answer = await as_json(service(stored).user("s1", user, q))
    mine = sorted((e for e in FIXTURE if e.user_id == user), key=lambda e: (e.ts, e.id))
    assert answer["first_seen"] == mine[0].ts and answer["last_seen"] == mine[-1].ts
    assert answer["total_events"] == len(mine)
    assert answer["visits"] == len({e.session_id for e in mine})
    assert [e["id"] for e in answer["recent_events"]] == [e.id for e in reversed(mine)][:50]
    newest = answer["sessions"][0]
    last_session = [e for e in mine if e.session_id == mine[-1].session_id]
    assert newest["session_id"] == mine[-1].session_id
    assert newest["pages"] == [e.path for e in last_session if e.name == "pageview"]
    assert newest["events"] == len(last_session)


async def test_identity_days_and_time_groups_at_the_port(stored: Any) -> None:
    flt = EventFilter(site_id="s1", start=ms(2025, 10, 25), end=ms(2025, 10, 28))
    pairs = await stored.identity_days(flt, "Europe/Berlin")
    expected = sorted(
        {(person(e), dt.datetime.fromtimestamp(e.ts / 1000, tz=BERLIN).date().isoformat())
         for e in select(flt.start, flt.end)}
    )  # fmt: skip
    assert pairs == expected
    # Kolkata (+05:30) hours start at :30 UTC; months start at local midnight.
    rows = await stored.aggregate(flt, Grouping(kind="time", unit="hour", tz="Asia/Kolkata"))
    kolkata = ZoneInfo("Asia/Kolkata")
    groups = expected_groups(select(flt.start, flt.end), lambda e: local_bucket(e.ts, "hour", kolkata))
    assert [(r.key, r.events, r.visitors) for r in rows] == [
        (k, m["events"], m["visitors"]) for k, m in sorted(groups.items())
    ]
    month = await stored.aggregate(
        EventFilter(site_id="s1", start=ms(2025, 9, 1), end=ms(2025, 12, 1)),
        Grouping(kind="time", unit="month", tz="America/New_York"),
    )
    assert [r.key for r in month] == [ms(2025, 9, 1, 4), ms(2025, 10, 1, 4)]
    assert sum(r.events for r in month) == len(select(ms(2025, 9, 1), ms(2025, 12, 1)))
