"""`POST /api/event`: Plausible's Events API. The server-side examples of Plausible's documentation (curl
with User-Agent and X-Forwarded-For), the tracker's short body, props, revenue, engagement, hash routing,
every drop (202 with x-plausible-dropped) and every refusal (400 `{"errors": ...}`)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.compat.helpers import DESKTOP_UA, compat_site
from tests.ingest.helpers import dropped, stored
from tests.support.accounts import make_site, signup

EVENT = "/api/event"
HEADLESS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 "
    "Safari/537.36"
)


async def send(api: Any, body: Any, **headers: str) -> Any:
    """POST a body (JSON-encoded unless bytes); header names take `_` for `-`."""
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    named = {name.replace("_", "-"): value for name, value in headers.items()}
    return await api.post(
        EVENT,
        body=raw,
        headers={"User-Agent": DESKTOP_UA, "Content-Type": "application/json", **named},
        expect_json=False,
    )


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"trust_proxy": True}


async def test_docs_server_side_examples(api: Any, ctx: Any) -> None:
    _, site = await compat_site(api, plausible=True)
    pageview = await send(
        api,
        {"name": "pageview", "url": "http://dummy.site", "domain": "dummy.site"},
        X_Forwarded_For="8.8.8.8",
    )
    assert pageview.status == 202 and pageview.body == b"ok"
    assert pageview.headers.get("Content-Type", "").startswith("text/plain")
    assert "x-plausible-dropped" not in pageview.headers
    signup_event = await send(
        api,
        {
            "name": "signup",
            "url": "http://dummy.site",
            "domain": "dummy.site",
            "props": {"author": "John Doe", "logged_in": "false"},
        },
        X_Forwarded_For="8.8.8.8",
    )
    assert signup_event.status == 202
    purchase = await send(
        api,
        {
            "name": "Purchase",
            "url": "http://dummy.site",
            "domain": "dummy.site",
            "revenue": {"currency": "USD", "amount": 1322.22},
        },
        X_Forwarded_For="81.2.69.142",  # another visitor
    )
    assert purchase.status == 202
    events = {e.name: e for e in await stored(ctx, site["id"])}
    assert set(events) == {"pageview", "signup", "Purchase"}
    assert events["pageview"].path == "/" and events["pageview"].hostname == "dummy.site"
    assert events["pageview"].country == "US" and events["pageview"].browser == "Opera"
    assert events["signup"].props == {"author": "John Doe", "logged_in": "false"}
    assert events["Purchase"].props == {"revenue_amount": 1322.22, "revenue_currency": "USD"}
    assert events["Purchase"].country == "GB"
    # X-Forwarded-For (trusted here) names the visitor: two addresses, two visitors.
    assert events["pageview"].visitor_id == events["signup"].visitor_id != events["Purchase"].visitor_id
    summary = await api.get(f"/api/v1/sites/{site['id']}/stats/summary", token=None)
    assert summary.status in (401, 404)  # stats stay private: only the site's people read them


async def test_tracker_body_short_names(api: Any, ctx: Any) -> None:
    _, site = await compat_site(api, domain="www.shop.example", plausible=True)
    body = {
        "n": "pageview",
        "u": "https://www.shop.example/app?utm_source=news#/settings",
        "d": "shop.example",
        "r": "https://duckduckgo.com/",
        "h": 1,
        "v": 25,
    }
    assert (await send(api, body, Origin="https://www.shop.example")).status == 202
    custom = {
        "n": "Signup Click",
        "u": "https://shop.example/pricing",
        "d": "shop.example",
        "r": None,
        "m": orjson.dumps({"plan type": "pro", "seats": 3, "empty": "", "nested": {"a": 1}}).decode(),
        "$": {"amount": "19.90", "currency": "eur"},
        "i": False,
    }
    assert (await send(api, custom, Origin="https://www.shop.example")).status == 202
    engagement = {
        "n": "engagement",
        "u": "https://shop.example/pricing",
        "d": "shop.example",
        "sd": 140,
        "e": 5300,
    }
    assert (await send(api, engagement, Origin="https://www.shop.example")).status == 202
    events = {e.name: e for e in await stored(ctx, site["id"])}
    assert events["pageview"].path == "/app#/settings"
    assert events["pageview"].referrer == "https://duckduckgo.com/" and events["pageview"].source == "news"
    assert events["Signup Click"].props == {
        "plan_type": "pro",
        "seats": 3,
        "revenue_amount": 19.9,
        "revenue_currency": "EUR",
        "interactive": False,
    }
    assert events["engagement"].props == {"scroll_depth": 100, "engaged_ms": 5300}


async def test_comma_separated_domains_reach_each_site(api: Any, ctx: Any) -> None:
    _, first = await compat_site(api, domain="one.example", plausible=True)
    _, second = await compat_site(api, domain="two.example", plausible=True)
    answer = await send(
        api, {"n": "pageview", "u": "https://one.example/", "d": "one.example,two.example,three.example"}
    )
    assert answer.status == 202 and answer.headers["x-plausible-dropped"] == "1"  # three.example: no site
    assert len(await stored(ctx, first["id"])) == 1 and len(await stored(ctx, second["id"])) == 1


async def test_drops_answer_202_with_header(api: Any, ctx: Any) -> None:
    _, site = await compat_site(api, domain="shop.example", plausible=True)
    token = await signup(api)
    off = await make_site(api, token, domain="off.example")  # compat not switched on
    base = {"n": "pageview", "u": "https://shop.example/", "d": "shop.example"}
    cases = [
        (
            base,
            {"User-Agent": HEADLESS},
        ),
        (base, {"User-Agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"}),
        (base, {"User-Agent": ""}),
        ({**base, "r": "https://semalt.com/"}, {}),
        ({**base, "d": "off.example", "u": "https://off.example/"}, {}),
        ({**base, "d": "nobody.example"}, {}),
        (base, {"Origin": "https://evil.example"}),
    ]
    bots_before = dropped(ctx, "bot")
    for body, headers in cases:
        answer = await send(api, body, **headers)
        assert answer.status == 202 and answer.body == b"ok", (body, headers)
        assert answer.headers.get("x-plausible-dropped") == "1", (body, headers)
    assert dropped(ctx, "bot") - bots_before == 3
    assert await stored(ctx, site["id"]) == [] and await stored(ctx, off["id"]) == []
    # An allowed origin is taken.
    assert "x-plausible-dropped" not in (await send(api, base, Origin="https://shop.example")).headers
    assert len(await stored(ctx, site["id"])) == 1


async def test_refusals_answer_400_with_errors(api: Any, ctx: Any) -> None:
    _, site = await compat_site(api, domain="shop.example", plausible=True)
    cases = [
        (b"not json", "request", "Unable to parse request body as json"),
        (b"[1, 2]", "request", "Unable to parse request body as json"),
        ({"u": "https://shop.example/", "d": "shop.example"}, "event_name", "can't be blank"),
        (
            {"n": "x" * 65, "u": "https://shop.example/", "d": "shop.example"},
            "event_name",
            "should be at most 64 character(s)",
        ),
        ({"n": "pageview", "d": "shop.example"}, "url", "is required"),
        ({"n": "pageview", "u": 5, "d": "shop.example"}, "url", "must be a string"),
        ({"n": "pageview", "u": "data:text/html,hi", "d": "shop.example"}, "url", "scheme is not allowed"),
        ({"n": "pageview", "u": "https://shop.example/", "d": " "}, "domain", "can't be blank"),
        ({"n": "pageview", "u": "/relative"}, "domain", "can't be blank"),
        (
            {"n": "pageview", "u": "https://shop.example/" + "a" * 2001, "d": "shop.example"},
            "pathname",
            "should be at most 2000 character(s)",
        ),
        (
            {
                "n": "pageview",
                "u": "https://shop.example/",
                "d": "shop.example",
                "r": "https://r/" + "a" * 2000,
            },
            "referrer",
            "should be at most 2000 character(s)",
        ),
        (
            {"n": "engagement", "u": "https://shop.example/", "d": "shop.example", "sd": "far", "e": 10},
            "sd",
            "must be a number",
        ),
        (
            {"n": "engagement", "u": "https://shop.example/", "d": "shop.example", "sd": 10, "e": -1},
            "e",
            "must be greater than or equal to 0",
        ),
    ]
    for body, field, message in cases:
        answer = await send(api, body)
        assert answer.status == 400, (body, answer.status)
        document = orjson.loads(answer.body)
        assert document["errors"][field] == [message], document
        assert document["error"]["code"] == "invalid_event" and field in document["error"]["fields"]
    too_big = await send(api, b'{"n": "pageview", "pad": "' + b"x" * 70_000 + b'"}')
    assert too_big.status == 413
    assert await stored(ctx, site["id"]) == []


async def test_preflight_and_cors(api: Any) -> None:
    answer = await api.request(
        "OPTIONS", EVENT, headers={"Origin": "https://shop.example"}, expect_json=False
    )
    assert answer.status == 204 and answer.headers["Access-Control-Allow-Origin"] == "*"
    assert "Content-Type" in answer.headers["Access-Control-Allow-Headers"]


async def test_meta_is_the_long_name_of_m(api: Any, ctx: Any) -> None:
    # Older trackers send custom props as `meta`, a JSON text, like `m`.
    _, site = await compat_site(api, plausible=True)
    body = {"n": "Meta", "u": "http://dummy.site/a", "d": "dummy.site", "meta": '{"plan": "pro"}'}
    answer = await send(api, body, X_Forwarded_For="8.8.8.8")
    assert answer.status == 202, answer.body
    [meta] = [e for e in await stored(ctx, site["id"]) if e.name == "Meta"]
    assert meta.props == {"plan": "pro"} and meta.path == "/a"
