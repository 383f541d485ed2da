"""The stats API over HTTP: who may ask, what bad parameters answer, and what each endpoint returns for
events stored through the event store (expected values computed here from those events)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any
from urllib.parse import quote

import msgspec

from handlers.context import AppContext
from handlers.stats import KINDS
from storage.records import Event
from tests.support.accounts import add_member, make_key, make_site, register, signup
from tests.support.api import Api
from tests.support.events import store_events
from tests.support.until import until

DAY = 86_400_000


def day_ms(days_ago: int, hour: int = 12) -> int:
    today = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days_ago)
    return int(dt.datetime(today.year, today.month, today.day, hour, tzinfo=dt.UTC).timestamp() * 1000)


def sample(site_id: str) -> list[Event]:
    """Three visitors over the last days: v1 bounces, v2 views two pages then signs up, v3 is user u3."""
    return [
        Event(id="a1", site_id=site_id, ts=day_ms(1), name="pageview", path="/", visitor_id="v1",
              session_id="s1", country="DE", source="Google"),
        Event(id="b1", site_id=site_id, ts=day_ms(2), name="pageview", path="/", visitor_id="v2",
              session_id="s2", country="GB", device="mobile"),
        Event(id="b2", site_id=site_id, ts=day_ms(2) + 30_000, name="pageview", path="/pricing",
              visitor_id="v2", session_id="s2", country="GB", device="mobile"),
        Event(id="b3", site_id=site_id, ts=day_ms(2) + 90_000, name="signup", path="/pricing",
              visitor_id="v2", session_id="s2", country="GB", device="mobile", props={"plan": "pro"}),
        Event(id="c1", site_id=site_id, ts=day_ms(3), name="pageview", path="/docs", visitor_id="v3",
              session_id="s3", user_id="u3", traits={"age_band": "25-34"}),
        Event(id="old", site_id=site_id, ts=day_ms(40), name="pageview", path="/", visitor_id="v9",
              session_id="s9"),
    ]  # fmt: skip


async def owner_with_events(api: Api, ctx: AppContext) -> tuple[str, dict[str, Any]]:
    token = await signup(api)
    site = await make_site(api, token)
    await store_events(ctx, sample(site["id"]))
    return token, site


async def test_stats_need_a_caller_who_may_see_the_site(api: Api, ctx: AppContext) -> None:
    token, site = await owner_with_events(api, ctx)
    path = f"/api/v1/sites/{site['id']}/stats/summary"
    assert (await api.get(path)).status == 401
    assert (await api.get(path, token="not-a-token")).status == 401
    stranger = await signup(api)
    assert (await api.get(path, token=stranger)).status == 404
    assert (await api.get("/api/v1/sites/nosuchsite/stats/summary", token=token)).status == 404
    # a member (viewer) may read; so may the site's secret key, but not its public key
    viewer = await register(api)
    await add_member(api, token, site["id"], viewer["user"]["email"])
    assert (await api.get(path, token=viewer["access_token"])).status == 200
    secret = await make_key(api, token, site["id"], "secret")
    public = await make_key(api, token, site["id"], "public")
    assert (await api.get(path, headers={"X-Api-Key": secret["key"]})).status == 200
    wrong = await api.get(path, headers={"X-Api-Key": public["key"]})
    assert (wrong.status, wrong.error_code) == (401, "wrong_key_kind")
    other_site = await make_site(api, token, name="Other", domain="other.example")
    other = await api.get(
        f"/api/v1/sites/{other_site['id']}/stats/summary", headers={"X-Api-Key": secret["key"]}
    )
    assert other.status == 404  # a secret key reads only its own site


async def test_summary_and_cache_invalidation_on_ingest(api: Api, ctx: AppContext) -> None:
    token, site = await owner_with_events(api, ctx)
    path = f"/api/v1/sites/{site['id']}/stats/summary"
    first = await api.get(path, token=token)
    assert first.status == 200, first.json
    results = first.json["results"]
    # Last 30 days: three visitors, three visits (one bounce each for v1 and v3), 4 pageviews, 5 events.
    assert {k: results[k]["value"] for k in ("visitors", "visits", "pageviews", "events")} == {
        "visitors": 3, "visits": 3, "pageviews": 4, "events": 5
    }  # fmt: skip
    assert results["bounce_rate"]["value"] == round(2 * 100 / 3, 2)
    assert results["visit_duration"]["value"] == round(90 / 3, 1)
    assert results["visitors"]["previous"] == 1  # the event 40 days ago
    assert results["visitors"]["change"] == 200.0
    assert first.json["cached"] is False
    assert (await api.get(path, token=token)).json["cached"] is True
    # A durable batch bumps the site's cache version (first bump of a site is immediate).
    await store_events(ctx, [Event(id="n1", site_id=site["id"], ts=int(time.time() * 1000), name="pageview",
                                   visitor_id="v7", session_id="s7")])  # fmt: skip

    async def recomputed() -> Any:
        answer = await api.get(path, token=token)
        return None if answer.json["cached"] else answer

    again = await until(recomputed, timeout=5, interval=0.1)
    assert again.json["results"]["visitors"]["value"] == 4


def question_counts(exposition: str) -> dict[tuple[str, str], float]:
    """{(kind, answered): count} of eddy_stats_question_duration_seconds in a /metrics text."""
    counts = {}
    for line in exposition.splitlines():
        if line.startswith("eddy_stats_question_duration_seconds_count{"):
            labels, value = line[line.index("{") + 1 :].split("} ")
            pairs = dict(pair.split("=") for pair in labels.split(","))
            counts[(pairs["kind"].strip('"'), pairs["answered"].strip('"'))] = float(value)
    return counts


async def test_each_question_is_timed_in_metrics_by_kind_and_source(api: Api, ctx: AppContext) -> None:
    token, site = await owner_with_events(api, ctx)
    base = f"/api/v1/sites/{site['id']}/stats"
    for path in ("summary", "summary", "breakdown?by=country", "funnel?steps=page:/,page:/pricing"):
        assert (await api.get(f"{base}/{path}", token=token)).status == 200
    scrape = await api.get("/metrics", expect_json=False)
    assert scrape.status == 200
    assert question_counts(scrape.body.decode()) == {
        ("summary", "store"): 1, ("summary", "cache"): 1, ("breakdown", "store"): 1, ("funnel", "store"): 1
    }  # fmt: skip


async def test_timeseries_breakdown_and_filters(api: Api, ctx: AppContext) -> None:
    token, site = await owner_with_events(api, ctx)
    base = f"/api/v1/sites/{site['id']}/stats"
    series = await api.get(f"{base}/timeseries?interval=day&metrics=visitors,pageviews", token=token)
    assert series.status == 200, series.json
    rows = series.json["results"]
    assert len(rows) == 30 and set(rows[0]) == {"date", "visitors", "pageviews"}
    by_date = {row["date"]: row for row in rows}
    two_days_ago = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2)).isoformat()
    assert by_date[two_days_ago] == {"date": two_days_ago, "visitors": 1, "pageviews": 2}
    assert sum(row["pageviews"] for row in rows) == 4
    pages = await api.get(f"{base}/breakdown?by=page&sort=pageviews", token=token)
    assert [(r["value"], r["pageviews"]) for r in pages.json["results"]] == [
        ("/", 2),
        ("/docs", 1),
        ("/pricing", 1),
    ]
    plan = await api.get(f"{base}/breakdown?by=prop:plan", token=token)
    assert [(r["value"], r["events"]) for r in plan.json["results"]] == [("pro", 1)]
    mobile = await api.get(f"{base}/summary?filters=device==mobile", token=token)
    assert mobile.json["results"]["events"]["value"] == 3
    trait = await api.get(f"{base}/summary?filters=" + quote("trait:age_band==25-34"), token=token)
    assert trait.json["results"]["visitors"]["value"] == 1
    countries = await api.get(f"{base}/breakdown?by=country&filter=" + quote("page==/pricing"), token=token)
    assert [(r["value"], r["events"]) for r in countries.json["results"]] == [("GB", 2)]


async def test_bad_parameters_answer_422_naming_the_field(api: Api, ctx: AppContext) -> None:
    token, site = await owner_with_events(api, ctx)
    base = f"/api/v1/sites/{site['id']}/stats"
    cases = [
        ("summary?tz=Mars/Olympus", "tz"),
        ("summary?tz=../../etc/passwd", "tz"),
        ("summary?from=yesterday", "from"),
        ("summary?from=2025-10-10&to=2025-10-01", "from"),
        ("summary?from=2020-01-01&to=2025-01-01", "to"),
        ("summary?from=0001-01-01&to=0001-01-02", "from"),
        ("summary?from=9999-01-01&to=9999-01-02", "from"),
        ("timeseries?interval=fortnight", "interval"),
        ("timeseries?interval=minute&from=2025-01-01&to=2025-03-01", "interval"),
        ("breakdown", "by"),
        ("breakdown?by=password_hash", "by"),
        ("breakdown?by=prop:$where", "by"),
        ("breakdown?by=page&limit=0", "limit"),
        ("breakdown?by=page&limit=many", "limit"),
        ("breakdown?by=page&sort=revenue", "sort"),
        ("summary?filters=" + quote("$where==1"), "filters"),
        ("summary?filters=" + quote("prop:a.b==1"), "filters"),
        ("timeseries?metrics=revenue", "metrics"),
        ("funnel?steps=page:/", "steps"),
        ("funnel?steps=" + quote("page:/,click:x"), "steps"),
        ("funnel?steps=" + quote("page:/,event:signup") + "&window=0", "window"),
    ]
    for query, field in cases:
        answer = await api.get(f"{base}/{query}", token=token)
        assert answer.status == 422, (query, answer.status, answer.json)
        assert field in answer.json["error"].get("fields", {}), (query, answer.json)


async def test_negations_contains_and_lists_filter_over_http(api: Api, ctx: AppContext) -> None:
    token, site = await owner_with_events(api, ctx)
    base = f"/api/v1/sites/{site['id']}/stats"

    async def events(filters: str, endpoint: str = "summary") -> Any:
        sep = "&" if "?" in endpoint else "?"
        answer = await api.get(f"{base}/{endpoint}{sep}filters=" + quote(filters), token=token)
        assert answer.status == 200, (filters, answer.json)
        return answer.json["results"]

    assert (await events("country!=GB"))["events"]["value"] == 2  # a1 and c1 (no country)
    assert (await events("country==DE|GB"))["events"]["value"] == 4
    assert (await events("page=~PRIC"))["events"]["value"] == 2
    assert (await events("page!~pric;country!=DE"))["visitors"]["value"] == 2  # v2's first page, v3
    assert (await events("prop:plan!=pro"))["events"]["value"] == 4  # events without the prop count
    assert (await events("trait:age_band=~25"))["visitors"]["value"] == 1
    pages = await events("page!=/pricing|/docs", "breakdown?by=page")
    assert [(r["value"], r["pageviews"]) for r in pages] == [("/", 2)]
    pages = await events("page!=/p*", "breakdown?by=page")
    assert [r["value"] for r in pages] == ["/", "/docs"]


async def test_filters_that_cannot_be_read_answer_400_with_a_sentence(api: Api, ctx: AppContext) -> None:
    token, site = await owner_with_events(api, ctx)
    base = f"/api/v1/sites/{site['id']}/stats"
    for filters in ("country", "country=DE", "page=~", "page==/blog/*|/about", "==DE"):
        answer = await api.get(f"{base}/summary?filters=" + quote(filters), token=token)
        assert answer.status == 400, (filters, answer.status, answer.json)
        error = answer.json["error"]
        assert error["code"] == "bad_filter"
        assert error["message"] == error["fields"]["filters"]
        assert error["message"][0].isupper() and error["message"].endswith("."), error
    answer = await api.get(f"{base}/summary?filters=" + quote("country=DE"), token=token)
    assert "== (is), != (is not), =~ (contains) and !~ (does not contain)" in answer.json["error"]["message"]
    export = await api.get(f"/api/v1/sites/{site['id']}/export?format=csv&filters=os", token=token)
    assert export.status == 400


async def test_realtime_funnel_retention_active_and_users(api: Api, ctx: AppContext) -> None:
    token, site = await owner_with_events(api, ctx)
    now = int(time.time() * 1000)
    live = {"site_id": site["id"], "name": "pageview", "path": "/live"}
    await store_events(
        ctx,
        [Event(id="r1", ts=now - 60_000, visitor_id="x1", **live),
         Event(id="r2", ts=now - 10 * 60_000, visitor_id="x2", **live)],
    )  # fmt: skip
    base = f"/api/v1/sites/{site['id']}/stats"
    realtime = (await api.get(f"{base}/realtime", token=token)).json
    assert realtime["visitors"] == 1 and realtime["cached"] is False
    assert len(realtime["pageviews_per_minute"]) == 30
    assert sum(p["pageviews"] for p in realtime["pageviews_per_minute"]) == 2
    assert realtime["top_pages"] == [{"page": "/live", "pageviews": 1, "visitors": 1}]
    funnel = await api.get(f"{base}/funnel?steps=" + quote("page:/,page:/pricing,event:signup"), token=token)
    assert funnel.status == 200, funnel.json
    assert [s["visitors"] for s in funnel.json["steps"]] == [2, 1, 1]
    retention = (await api.get(f"{base}/retention", token=token)).json
    assert sum(c["size"] for c in retention["cohorts"]) == 5  # v1, v2, u3, x1, x2
    active = (await api.get(f"{base}/active", token=token)).json
    assert active["current"]["mau"] == 5 and len(active["results"]) == 30
    user = await api.get(f"{base}/users/u3", token=token)
    assert user.status == 200
    assert (user.json["first_seen"], user.json["total_events"]) == (day_ms(3), 1)
    assert user.json["sessions"][0]["pages"] == ["/docs"]
    assert (await api.get(f"{base}/users/nobody", token=token)).status == 404


async def test_every_answer_is_the_struct_its_operation_documents(api: Api, ctx: AppContext) -> None:
    """Each kind's JSON reads back as its Struct (domain/stats/answers.py, the OpenAPI schema) and that
    Struct encodes to the very same bytes, computed or read from the cache."""
    token, site = await owner_with_events(api, ctx)
    base = f"/api/v1/sites/{site['id']}/stats"
    asked = {
        "summary": "summary?with_imported=true",
        "timeseries": "timeseries?metrics=visitors,bounce_rate",
        "breakdown": "breakdown?by=page",
        "realtime": "realtime",
        "funnel": "funnel?steps=" + quote("page:/,event:signup"),
        "retention": "retention",
        "active": "active",
        "users": "users/u3",
    }
    assert set(asked) == set(KINDS)
    for kind, question in asked.items():
        answer_type = KINDS[kind][2]
        for cached in (False, kind not in ("realtime", "users")):  # those two are never cached
            answer = await api.get(f"{base}/{question}", token=token)
            assert answer.status == 200, (kind, answer.json)
            struct = msgspec.json.decode(answer.body, type=answer_type)
            assert msgspec.json.encode(struct) == answer.body, kind
            assert struct.cached is cached, kind
