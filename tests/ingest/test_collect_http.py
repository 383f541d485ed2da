"""POST /api/v1/collect end to end on the embedded store: accepted events are stored enriched; every
refusal is a JSON 4xx/5xx that stores nothing."""

from __future__ import annotations

import time
from typing import Any

import msgspec
import orjson
import pytest

from domain.ingest.pipeline import IngestLimits
from handlers.context import AppContext
from tests.ingest.helpers import dropped, stored, stored_count
from tests.support.accounts import make_key as api_make_key
from tests.support.api import Api
from tests.support.clock import freeze_kv_clock
from tests.support.ingest_sites import BROWSER_UA, ORIGIN, SiteKey, api_site_keys, make_key, make_site_key

PATH = "/api/v1/collect"


def browser(key: str | None = None, origin: str = ORIGIN, ua: str = BROWSER_UA) -> dict[str, str]:
    headers = {"Origin": origin, "User-Agent": ua}
    if key:
        headers["X-Api-Key"] = key
    return headers


@pytest.mark.reliability
async def test_beacon_is_stored_enriched(api: Api, ctx: AppContext) -> None:
    site = await api_site_keys(api)
    key = SiteKey(site.site_id, site.public["id"], site.public["key"])
    event = {
        "name": "pageview",
        "url": "https://shop.example/shoes?utm_medium=email&utm_campaign=spring&x=1",
        "referrer": "https://www.google.de/search?q=shoes",
        "title": "Shoes",
        "screen": "1920x1080",
        "props": {"plan": "pro", "items": 3, "vip": True},
        "traits": {"age_band": "25-34", "plan": "pro", "unknown": "ignored"},
    }
    answer = await api.post(PATH, json=event, headers=browser(key.value))
    assert answer.status == 202, answer.json
    assert answer.json == {"accepted": 1}
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in answer.headers
    [row] = await stored(ctx, key.site_id)
    assert (row.name, row.hostname, row.path, row.title) == ("pageview", "shop.example", "/shoes", "Shoes")
    assert (row.browser, row.os, row.device) == ("Chrome", "Windows", "desktop")
    assert row.source == "Google"
    assert (row.utm_medium, row.utm_campaign) == ("email", "spring")
    assert row.props == {"plan": "pro", "items": 3, "vip": True}
    assert row.traits == {"age_band": "25-34", "plan": "pro"}
    assert len(row.visitor_id) == 16 and row.session_id and len(row.id) == 25  # time-ordered id
    assert abs(row.ts - time.time() * 1000) < 60_000
    assert "127.0.0.1" not in msgspec.json.encode(row).decode()  # the raw IP is never stored
    assert ctx.metrics.ingest_accepted._value.get() == 1


async def test_same_visitor_same_session_and_click_ids(api: Api, ctx: AppContext) -> None:
    key = await make_site_key(ctx)
    first = {"name": "pageview", "url": "https://shop.example/?gclid=abc"}
    second = {"name": "signup", "url": "https://shop.example/done", "referrer": "https://shop.example/"}
    assert (await api.post(PATH, json=first, headers=browser(key.value))).status == 202
    assert (await api.post(PATH, json=second, headers=browser(key.value))).status == 202
    rows = sorted(await stored(ctx, key.site_id), key=lambda e: e.name)
    assert rows[0].visitor_id == rows[1].visitor_id
    assert rows[0].session_id == rows[1].session_id
    by_name = {row.name: row for row in rows}
    assert by_name["pageview"].source == "Google Ads"
    # a visit's events carry where the visit came from; navigation inside the site is never a source
    assert by_name["signup"].source == "Google Ads"
    assert by_name["signup"].referrer == by_name["pageview"].referrer == ""


async def test_text_plain_beacon_with_key_in_body(api: Api, ctx: AppContext) -> None:
    key = await make_site_key(ctx)
    body = orjson.dumps({"k": key.value, "events": [{"name": "pageview", "url": "https://shop.example/"}]})
    headers = {**browser(), "Content-Type": "text/plain;charset=UTF-8"}
    answer = await api.post(PATH, body=body, headers=headers)
    assert answer.status == 202 and answer.json == {"accepted": 1}
    assert await stored_count(ctx, key.site_id) == 1


@pytest.mark.reliability
async def test_cors_preflight(api: Api) -> None:
    answer = await api.request(
        "OPTIONS",
        PATH,
        headers={"Origin": "https://anywhere.example", "Access-Control-Request-Method": "POST"},
        expect_json=False,  # 204: no body, no content type
    )
    assert answer.status == 204
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]
    assert "X-Api-Key" in answer.headers["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in answer.headers


@pytest.mark.reliability
async def test_duplicate_ids_are_stored_once(api: Api, ctx: AppContext) -> None:
    key = await make_site_key(ctx, "secret")
    batch = {"events": [{"name": "order", "id": f"order-{i}"} for i in range(3)]}
    headers = {"X-Api-Key": key.value, "User-Agent": "shop-backend/1.0"}
    for _ in range(3):
        answer = await api.post(PATH, json=batch, headers=headers)
        assert answer.status == 202 and answer.json == {"accepted": 3}
    assert await stored_count(ctx, key.site_id) == 3


def _event(**fields: Any) -> dict[str, Any]:
    return {"name": "pageview", **fields}


BAD_BODIES: list[tuple[str, bytes, int]] = [
    ("not json", b"{nope", 400),
    ("empty", b"", 400),
    ("array", b"[]", 422),
    ("string", b'"pageview"', 422),
    ("no name", orjson.dumps({"url": "https://shop.example/"}), 422),
    ("name not text", orjson.dumps({"name": 5}), 422),
    ("empty name", orjson.dumps({"name": ""}), 422),
    ("empty batch", orjson.dumps({"events": []}), 422),
    ("batch not a list", orjson.dumps({"events": {"name": "x"}}), 422),
    ("batch event without name", orjson.dumps({"events": [_event(), {"url": "x"}]}), 422),
    ("too many events", orjson.dumps({"events": [_event()] * 501}), 422),
    ("too many props", orjson.dumps(_event(props={f"p{i}": i for i in range(31)})), 422),
    ("nested prop", orjson.dumps(_event(props={"a": {"b": 1}})), 422),
    ("list prop", orjson.dumps(_event(props={"a": [1]})), 422),
    ("operator prop key", orjson.dumps(_event(props={"$where": "1"})), 422),
    ("dotted prop key", orjson.dumps(_event(props={"a.b": "1"})), 422),
    ("long prop value", orjson.dumps(_event(props={"a": "x" * 600})), 422),
    ("huge number", b'{"name":"x","props":{"a":1e300}}', 422),
    ("long url", orjson.dumps(_event(url="https://shop.example/" + "a" * 3000)), 422),
    ("bad id", orjson.dumps(_event(id="has spaces")), 422),
    ("ts too old", orjson.dumps(_event(ts=int(time.time() * 1000) - 2 * 86_400_000)), 422),
    ("ts far ahead", orjson.dumps(_event(ts=int(time.time() * 1000) + 2 * 86_400_000)), 422),
    ("ts not a date", orjson.dumps(_event(ts="yesterday")), 422),
    ("ts negative", orjson.dumps(_event(ts=-5)), 422),
    ("traits not an object", orjson.dumps(_event(traits="pro")), 422),
]


@pytest.mark.reliability
@pytest.mark.parametrize(("case", "body", "status"), BAD_BODIES, ids=[case for case, _, _ in BAD_BODIES])
async def test_bad_bodies_are_refused_and_nothing_is_stored(
    api: Api, ctx: AppContext, case: str, body: bytes, status: int
) -> None:
    key = await make_site_key(ctx)
    headers = {**browser(key.value), "Content-Type": "application/json"}
    answer = await api.post(PATH, body=body, headers=headers)
    assert answer.status == status, (case, answer.json)
    assert answer.error_code
    assert await stored_count(ctx, key.site_id) == 0
    assert dropped(ctx, "invalid") >= 1


@pytest.mark.reliability
async def test_unsupported_media_type(api: Api, ctx: AppContext) -> None:
    key = await make_site_key(ctx)
    headers = {**browser(key.value), "Content-Type": "application/x-www-form-urlencoded"}
    answer = await api.post(PATH, body=b"name=pageview", headers=headers)
    assert answer.status == 415 and answer.error_code == "unsupported_media_type"
    assert await stored_count(ctx, key.site_id) == 0


@pytest.mark.reliability
async def test_oversize_body_is_413(api: Api, ctx: AppContext) -> None:
    key = await make_site_key(ctx)
    body = b'{"name":"x","title":"' + b"a" * (1024 * 1024) + b'"}'
    answer = await api.post(PATH, body=body, headers={**browser(key.value), "Content-Type": "text/plain"})
    assert answer.status == 413 and answer.error_code == "payload_too_large"
    assert await stored_count(ctx, key.site_id) == 0


@pytest.mark.reliability
async def test_key_failures(api: Api, ctx: AppContext) -> None:
    site = await api_site_keys(api)
    public, secret = site.public["key"], site.secret["key"]
    revoked = await api_make_key(api, site.token, site.site_id, "public")
    answer = await api.patch(
        f"/api/v1/sites/{site.site_id}/keys/{revoked['id']}", json={"active": False}, token=site.token
    )
    assert answer.status == 200, answer.json
    expired = await make_key(ctx, site.site_id, expires_at=time.time() - 1)  # the API cannot make one
    event = _event(url="https://shop.example/")
    cases = [
        ({**browser()}, event, 401, "invalid_key"),
        ({**browser("eddy_pk_" + "x" * 32)}, event, 401, "invalid_key"),
        ({**browser(revoked["key"])}, event, 401, "invalid_key"),
        ({**browser(expired.value)}, event, 401, "invalid_key"),
        ({**browser()}, {**event, "k": secret}, 403, "wrong_key_kind"),  # secret key in a page
        ({**browser(secret)}, event, 403, "wrong_key_kind"),  # secret key from a browser
        ({**browser(public, origin="https://evil.example")}, event, 403, "bad_origin"),
        ({"X-Api-Key": public, "User-Agent": BROWSER_UA}, event, 403, "bad_origin"),  # no Origin
    ]
    for headers, body, status, code in cases:
        answer = await api.post(PATH, json=body, headers=headers)
        assert (answer.status, answer.error_code) == (status, code), (headers, body)
    assert await stored_count(ctx, site.site_id) == 0
    assert dropped(ctx, "bad_origin") == 2
    # the same keys work where they belong
    assert (await api.post(PATH, json=event, headers=browser(public))).status == 202
    assert (await api.post(PATH, json=event, headers={"X-Api-Key": secret})).status == 202


@pytest.mark.reliability
async def test_bots_are_dropped_and_counted(api: Api, ctx: AppContext) -> None:
    key = await make_site_key(ctx)
    bots = [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0",
        "python-requests/2.32",
        "",
    ]
    for ua in bots:
        answer = await api.post(
            PATH, json={"events": [_event(), _event()]}, headers=browser(key.value, ua=ua)
        )
        assert answer.status == 202 and answer.json == {"accepted": 0}, ua
    assert await stored_count(ctx, key.site_id) == 0
    assert dropped(ctx, "bot") == 2 * len(bots)


@pytest.mark.reliability
async def test_spam_referrers_and_unsafe_urls(api: Api, ctx: AppContext) -> None:
    key = await make_site_key(ctx)
    events = [
        _event(referrer="https://www.semalt.com/crawler"),
        _event(url="javascript:alert(1)", referrer="data:text/html,<script>x</script>"),
    ]
    answer = await api.post(PATH, json={"events": events}, headers=browser(key.value))
    assert answer.json == {"accepted": 1}
    [row] = await stored(ctx, key.site_id)
    assert (row.url, row.referrer, row.path) == ("", "", "")
    assert dropped(ctx, "spam_referrer") == 1


@pytest.mark.reliability
async def test_timestamps_iso_and_clamped(api: Api, ctx: AppContext) -> None:
    key = await make_site_key(ctx)
    now_ms = int(time.time() * 1000)
    events = [
        _event(id="iso", ts=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
        _event(id="ahead", ts=now_ms + 3_600_000),
        _event(id="past", ts=now_ms - 3_600_000),
    ]
    answer = await api.post(PATH, json={"events": events}, headers=browser(key.value))
    assert answer.status == 202
    rows = {row.id: row.ts for row in await stored(ctx, key.site_id)}
    assert abs(rows["iso"] - now_ms) < 5_000
    assert now_ms <= rows["ahead"] <= now_ms + 60_000  # clamped to the server's clock
    assert rows["past"] == now_ms - 3_600_000


@pytest.mark.reliability
async def test_rate_limits_per_key(api: Api, ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> None:
    key = await make_site_key(ctx)
    ctx.ingest.limits = IngestLimits(per_key=2, per_site=100)
    clock = freeze_kv_clock(ctx.stores.kv, monkeypatch)  # the three requests fall in one window
    statuses = [(await api.post(PATH, json=_event(), headers=browser(key.value))) for _ in range(3)]
    assert [a.status for a in statuses] == [202, 202, 429]
    limited = statuses[2]
    clock.advance(1.0)  # the next window
    assert (await api.post(PATH, json=_event(), headers=browser(key.value))).status == 202
    assert limited.status == 429 and limited.error_code == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    assert dropped(ctx, "rate_limited") >= 1


@pytest.mark.expect_errors("eddy.access")  # its deliberate 503s are logged at ERROR
@pytest.mark.reliability
async def test_store_down_answers_503_and_loses_nothing_acknowledged(api: Api, ctx: AppContext) -> None:
    key = await make_site_key(ctx, "secret")
    headers = {"X-Api-Key": key.value, "User-Agent": "backend"}
    assert (await api.post(PATH, json=_event(id="before"), headers=headers)).status == 202
    ctx.ingest.writer.retry_for = 0.2
    await ctx.stores.events.close()
    try:
        answer = await api.post(PATH, json=_event(id="during"), headers=headers)
        assert answer.status == 503 and answer.error_code == "unavailable"
        assert int(answer.headers["Retry-After"]) >= 1
        assert ctx.ingest.writer.healthy is False
    finally:
        await ctx.stores.events.open()
    assert (await api.post(PATH, json=_event(id="after"), headers=headers)).status == 202
    assert sorted(e.id for e in await stored(ctx, key.site_id)) == ["after", "before"]
    assert dropped(ctx, "unavailable") == 1


@pytest.mark.reliability
async def test_ingest_series_are_exported(api: Api, ctx: AppContext) -> None:
    key = await make_site_key(ctx)
    await api.post(PATH, json=_event(), headers=browser(key.value))
    await api.post(PATH, json=_event(), headers=browser(key.value, ua="curl/8.0"))
    text = (await api.get("/metrics", expect_json=False)).body.decode()
    for reason in ("bot", "spam_referrer", "bad_origin", "invalid", "rate_limited"):
        assert f'eddy_ingest_events_dropped_total{{reason="{reason}"}}' in text
    assert 'eddy_ingest_events_dropped_total{reason="bot"} 1.0' in text
    assert "eddy_ingest_events_accepted_total 1.0" in text
    assert "eddy_ingest_batch_events_count 1.0" in text
    assert "eddy_ingest_commit_duration_seconds_count 1.0" in text
    assert "eddy_ingest_queue_events 0.0" in text
