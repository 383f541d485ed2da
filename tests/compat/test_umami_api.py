"""`POST /api/send` and `/api/batch`: Umami's collect API with the bodies of both trackers (v2.10: path
and URI-encoded title; v3: whole URLs), identify, the cache token echoed back, bots, and every refusal."""

from __future__ import annotations

import time
from typing import Any

import orjson

from domain.compat.umami import read_cache_token
from tests.compat.helpers import DESKTOP_UA, compat_site
from tests.ingest.helpers import stored
from tests.support.accounts import make_site, signup

ALIAS = "3f6a2b10-7c1d-4e5f-9a8b-0c1d2e3f4a5b"
ORIGIN = "https://dummy.site"


async def send(api: Any, body: Any, path: str = "/api/send", **headers: str) -> Any:
    """POST a JSON body (bytes as they are); header names take `_` for `-`."""
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    named = {name.replace("_", "-"): value for name, value in headers.items()}
    return await api.post(
        path, body=raw, headers={"User-Agent": DESKTOP_UA, "Content-Type": "application/json", **named}
    )


def payload(website: str, **fields: Any) -> dict[str, Any]:
    return {
        "website": website,
        "hostname": "dummy.site",
        "screen": "1920x1080",
        "language": "en-US",
        "title": "Home",
        "url": "/",
        "referrer": "",
        **fields,
    }


async def test_v210_and_v3_bodies(api: Any, ctx: Any) -> None:
    token, site = await compat_site(api, umami=True)
    await api.patch(f"/api/v1/sites/{site['id']}", json={"umami_alias": ALIAS}, token=token)
    # v2.10: url is the path and query, the title URI-encoded, the referrer the page that linked here.
    v210 = payload(
        ALIAS,
        url="/pricing?utm_source=news",
        title="Caf%C3%A9%20%26%20prices",
        referrer="https://www.google.com/search?q=x",
    )
    first = await send(api, {"type": "event", "payload": v210}, Origin=ORIGIN)
    assert first.status == 200, first.json
    assert set(first.json) == {"cache", "sessionId", "visitId"}
    assert read_cache_token(ctx.secrets.hash_key, first.json["cache"])[0] == ALIAS
    # The v2.10 tracker echoes the whole answer body; v3 the token. v3 sends whole URLs and, with identity
    # stitching on (its default), a `vid` kept in localStorage: accepted, and not taken as the visitor
    # (Eddy's visitor ids stay its own daily-salted hashes, so a client cannot follow a person across days).
    second = await send(
        api,
        {
            "type": "event",
            "payload": payload(
                site["id"],
                url="https://dummy.site/docs#intro",
                title="Docs",
                vid="5f0c2b8e-2f6d-4a7e-9a57-0d3f2b1c9e44",
            ),
        },
        Origin=ORIGIN,
        x_umami_cache=first.body.decode(),
    )
    assert second.status == 200 and second.json["visitId"] == first.json["visitId"]
    custom = payload(site["id"], name="signup", data={"plan": "pro", "seats": 3}, tag="beta")
    assert (
        await send(api, {"type": "event", "payload": custom}, x_umami_cache=second.json["cache"])
    ).status == 200
    identify = payload(
        site["id"], id="user-42", data={"plan": "team", "age_band": "25-34", "company": "ACME"}
    )
    assert (await send(api, {"type": "identify", "payload": identify})).status == 200
    events = await stored(ctx, site["id"])
    by_name: dict[str, list[Any]] = {}
    for event in events:
        by_name.setdefault(event.name, []).append(event)
    pricing, docs = sorted(by_name["pageview"], key=lambda e: e.path)[::-1]
    assert pricing.path == "/pricing" and pricing.url == "https://dummy.site/pricing?utm_source=news"
    assert pricing.title == "Café & prices" and pricing.source == "news" and pricing.screen == "1920x1080"
    assert docs.path == "/docs" and docs.title == "Docs"
    assert by_name["signup"][0].props == {"plan": "pro", "seats": 3, "tag": "beta"}
    identified = by_name["identify"][0]
    assert identified.user_id == "user-42" and identified.traits == {"plan": "team", "age_band": "25-34"}
    assert identified.props == {"plan": "team", "age_band": "25-34", "company": "ACME"}
    assert len({e.session_id for e in events}) == 1 and first.json["sessionId"] == events[0].visitor_id
    assert all("5f0c2b8e" not in e.visitor_id and "5f0c2b8e" not in e.user_id for e in events)


async def test_timestamp_and_batch(api: Any, ctx: Any) -> None:
    _, site = await compat_site(api, umami=True)
    an_hour_ago = int(time.time()) - 3600
    batch = [
        {"type": "event", "payload": payload(site["id"], url="/a", timestamp=an_hour_ago)},
        {"type": "event", "payload": payload(site["id"], url="/b", name="click")},
        {"type": "event", "payload": payload("4a2b9c1d-0000-4000-8000-000000000000", url="/c")},
        {"type": "pageview", "payload": payload(site["id"])},
    ]
    answer = await send(api, batch, "/api/batch")
    assert answer.status == 200
    assert answer.json["size"] == 4 and answer.json["processed"] == 2 and answer.json["errors"] == 2
    assert [d["index"] for d in answer.json["details"]] == [2, 3]
    assert answer.json["details"][0]["response"]["error"]["code"] == "unknown_website"
    events = {e.path: e for e in await stored(ctx, site["id"])}
    assert set(events) == {"/a", "/b"} and events["/a"].ts == an_hour_ago * 1000
    assert (await send(api, {"type": "event"}, "/api/batch")).status == 400
    assert (await send(api, [{}] * 101, "/api/batch")).status == 400


async def test_bots_answer_beep_boop(api: Any, ctx: Any) -> None:
    _, site = await compat_site(api, umami=True)
    body = {"type": "event", "payload": payload(site["id"])}
    for agent in ("Googlebot/2.1 (+http://www.google.com/bot.html)", "Mozilla/5.0 HeadlessChrome/120.0", ""):
        answer = await send(api, body, User_Agent=agent)
        assert answer.status == 200 and answer.json == {"beep": "boop"}, agent
    spam = {"type": "event", "payload": payload(site["id"], referrer="https://semalt.com/")}
    assert (await send(api, spam)).json == {"beep": "boop"}
    assert await stored(ctx, site["id"]) == []


async def test_refusals(api: Any, ctx: Any) -> None:
    _, site = await compat_site(api, umami=True)
    token = await signup(api)
    off = await make_site(api, token, domain="off.example")
    sid = site["id"]
    cases = [
        (b"{not json", 400, "invalid_json"),
        ([1], 400, "invalid_payload"),
        ({"type": "pageview", "payload": payload(sid)}, 400, "invalid_payload"),
        ({"type": "event"}, 400, "invalid_payload"),
        ({"type": "event", "payload": {"url": "/"}}, 400, "invalid_payload"),
        ({"type": "event", "payload": payload(sid, url=5)}, 400, "invalid_payload"),
        ({"type": "event", "payload": payload(sid, name="n" * 51)}, 400, "invalid_payload"),
        ({"type": "event", "payload": payload(sid, screen="x" * 12)}, 400, "invalid_payload"),
        ({"type": "event", "payload": payload(sid, hostname="bad host/")}, 400, "invalid_payload"),
        ({"type": "event", "payload": payload(sid, data=[1, 2])}, 400, "invalid_payload"),
        ({"type": "event", "payload": payload(sid, timestamp="soon")}, 400, "invalid_payload"),
        (
            {"type": "event", "payload": payload(sid, timestamp=int(time.time()) - 3 * 86400)},
            400,
            "invalid_payload",
        ),
        ({"type": "event", "payload": payload("no-such-site")}, 400, "unknown_website"),
        ({"type": "event", "payload": payload(off["id"])}, 400, "unknown_website"),  # compat off
    ]
    for body, status, code in cases:
        answer = await send(api, body)
        assert answer.status == status and answer.error_code == code, (body, answer.json)
        assert answer.json["error"]["message"]
    evil = await send(api, {"type": "event", "payload": payload(sid)}, Origin="https://evil.example")
    assert evil.status == 403 and evil.error_code == "bad_origin"
    too_big = await send(api, b'{"type": "event", "pad": "' + b"x" * 300_000 + b'"}')
    assert too_big.status == 413
    assert await stored(ctx, sid) == [] and await stored(ctx, off["id"]) == []


async def test_preflight_allows_the_cache_header(api: Any) -> None:
    answer = await api.request("OPTIONS", "/api/send", headers={"Origin": ORIGIN}, expect_json=False)
    assert answer.status == 204 and answer.headers["Access-Control-Allow-Origin"] == "*"
    assert "x-umami-cache" in answer.headers["Access-Control-Allow-Headers"]


def test_forged_cache_tokens_are_not_read() -> None:
    from domain.compat.umami import cache_token

    token = cache_token(b"k" * 32, "site", "visitor", "visit", now=1000)
    assert read_cache_token(b"k" * 32, token) == ("site", "visitor", "visit", 1000)
    assert read_cache_token(b"other key" * 4, token) is None
    body, signature = token.split(".")
    assert read_cache_token(b"k" * 32, body[:-2] + "AA." + signature) is None
