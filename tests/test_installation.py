"""The installation check, GET /api/v1/sites/{site_id}/installation: the last accepted request and the
recent refusals of a site (origin not allowed, bot, secret key from a browser, spam), recorded by the
real ingest pipeline and read back through the key-value store, for members only."""

from __future__ import annotations

from typing import Any

from domain.ingest.installation import RING, InstallationLog
from handlers.context import AppContext
from tests.support.accounts import add_member, make_key, make_site, register, signup
from tests.support.api import Api

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
HEADLESS = BROWSER.replace("Chrome/", "HeadlessChrome/")


async def collect(api: Api, key: str, origin: str | None, agent: str = BROWSER) -> int:
    headers = {"X-Api-Key": key, "User-Agent": agent}
    if origin:
        headers["Origin"] = origin
    answer = await api.post(
        "/api/v1/collect", json={"name": "pageview", "url": "https://shop.example/"}, headers=headers
    )
    return answer.status


async def installation(api: Api, token: str, site_id: str) -> Any:
    return await api.get(f"/api/v1/sites/{site_id}/installation", token=token)


async def test_a_new_site_has_seen_nothing_and_lists_its_allowed_origins(api: Api) -> None:
    token = await signup(api)
    site = await make_site(api, token, domain="shop.example", allowed_origins=[])
    answer = await installation(api, token, site["id"])
    assert answer.status == 200, answer.json
    assert answer.json == {
        "site_id": site["id"],
        "seen": False,
        "last_event": None,
        "refusals": [],
        "allowed_origins": ["https://shop.example", "http://shop.example"],
    }


async def test_refusals_and_the_last_accepted_event_are_reported_with_their_reason(
    api: Api, ctx: AppContext
) -> None:
    token = await signup(api)
    site = await make_site(api, token, domain="shop.example")
    public = (await make_key(api, token, site["id"], "public"))["key"]
    secret = (await make_key(api, token, site["id"], "secret"))["key"]
    assert await collect(api, public, "https://evil.example") == 403
    assert await collect(api, public, None) == 403
    assert await collect(api, public, "https://shop.example", HEADLESS) == 202
    assert await collect(api, secret, "https://shop.example") == 403
    assert await collect(api, public, "https://shop.example") == 202
    await ctx.ingest.installation.drain()

    answer = await installation(api, token, site["id"])
    assert answer.status == 200, answer.json
    report = answer.json
    assert report["seen"] is True
    assert report["last_event"]["origin"] == "https://shop.example"
    assert report["last_event"]["key_id"]
    refusals = [(r["reason"], r["origin"]) for r in report["refusals"]]
    assert refusals == [
        ("wrong_key_kind", "https://shop.example"),
        ("bot", "https://shop.example"),
        ("bad_origin", ""),
        ("bad_origin", "https://evil.example"),
    ]
    assert report["refusals"][1]["detail"] == "HeadlessChrome"
    assert [r["at"] for r in report["refusals"]] == sorted(
        (r["at"] for r in report["refusals"]), reverse=True
    )


async def test_the_report_is_for_members_only(api: Api) -> None:
    token = await signup(api)
    site = await make_site(api, token)
    stranger = await signup(api)
    assert (await installation(api, stranger, site["id"])).status == 404
    assert (await api.get(f"/api/v1/sites/{site['id']}/installation")).status == 401
    viewer = await register(api)
    await add_member(api, token, site["id"], viewer["user"]["email"], "viewer")
    assert (await installation(api, viewer["access_token"], site["id"])).status == 200


async def test_records_cross_processes_through_the_store_and_the_ring_is_bounded(ctx: AppContext) -> None:
    clock = [1_000.0]
    writer = InstallationLog(ctx.stores.kv, clock=lambda: clock[0], flush_s=0)
    reader = InstallationLog(ctx.stores.kv, clock=lambda: clock[0])
    for i in range(RING + 5):
        clock[0] += 1
        writer.refused("site-a", "bad_origin", f"https://o{i}.example")
    writer.seen("site-a", "key-1", "https://shop.example")
    await writer.drain()
    report = await reader.report("site-a")
    assert report["seen"] is True and report["last_event"] == {
        "at": 1_025_000,
        "origin": "https://shop.example",
        "key_id": "key-1",
    }
    assert len(report["refusals"]) == RING
    assert report["refusals"][0]["origin"] == f"https://o{RING + 4}.example"
    assert report["refusals"][-1]["origin"] == "https://o5.example"
    assert (await reader.report("site-b")) == {"seen": False, "last_event": None, "refusals": []}


async def test_a_flood_of_refusals_costs_one_store_write_per_interval(ctx: AppContext) -> None:
    clock = [1_000.0]
    writer = InstallationLog(ctx.stores.kv, clock=lambda: clock[0], flush_s=3600)
    reader = InstallationLog(ctx.stores.kv)
    writer.refused("site-f", "bad_origin", "https://first.example")
    await writer.drain()
    for i in range(100):
        clock[0] += 0.01
        writer.refused("site-f", "bot", f"https://o{i}.example")
    await writer.drain()
    # The store holds the first flush only; the writer's own report already has the newest.
    assert [r["origin"] for r in (await reader.report("site-f"))["refusals"]] == ["https://first.example"]
    assert (await writer.report("site-f"))["refusals"][0]["origin"] == "https://o99.example"

    # Shutdown writes what waited for its interval and leaves no timer or flush behind.
    await writer.close()
    assert (await reader.report("site-f"))["refusals"][0]["origin"] == "https://o99.example"
    assert not writer._timers and not writer._tasks
    writer.refused("site-f", "bot", "https://after.example")
    assert not writer._timers and not writer._tasks
