"""Share links: admins create and revoke them; a token reads its own site's stats and live stream, read-only;
only the token's HMAC is stored; bad, revoked and deleted-site tokens are refused."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from handlers import share as share_handlers
from handlers.context import AppContext
from tests.support.accounts import add_member, make_site, register, signup
from tests.support.api import Api
from tests.support.events import store_events
from tests.support.live import event, ingest, receive_until
from tests.support.until import until


async def _link(api: Api, token: str, site_id: str) -> dict[str, Any]:
    answer = await api.post(f"/api/v1/sites/{site_id}/share-links", json={}, token=token)
    assert answer.status == 201, answer.json
    return answer.json["share_link"]


async def test_owner_creates_lists_and_revokes_links(api: Api, ctx: AppContext) -> None:
    owner = await signup(api)
    site = await make_site(api, owner)
    link = await _link(api, owner, site["id"])
    assert len(link["token"]) == 43 and link["revoked"] is False and link["site_id"] == site["id"]
    listed = await api.get(f"/api/v1/sites/{site['id']}/share-links", token=owner)
    assert listed.status == 200
    assert [item["id"] for item in listed.json["share_links"]] == [link["id"]]
    assert "token" not in listed.json["share_links"][0]
    # At rest: only the HMAC of the token.
    docs = await ctx.stores.docs.find("share_links", {"site_id": site["id"]})
    assert len(docs) == 1 and link["token"] not in orjson.dumps(docs).decode()
    assert docs[0]["token_hash"] and docs[0]["token_hash"] != link["token"]

    seen = await api.get("/api/v1/share/site", headers={"X-Share-Token": link["token"]})
    assert seen.status == 200
    assert seen.json == {
        "site": {"id": site["id"], "name": site["name"], "domain": site["domain"], "timezone": "UTC"}
    }
    gone = await api.delete(
        f"/api/v1/sites/{site['id']}/share-links/{link['id']}", token=owner, expect_json=False
    )
    assert gone.status == 204
    refused = await api.get("/api/v1/share/site", headers={"X-Share-Token": link["token"]})
    assert refused.status == 401 and refused.error_code == "invalid_share_token"


async def test_only_admins_manage_links_and_other_sites_stay_hidden(api: Api) -> None:
    owner = await signup(api)
    site = await make_site(api, owner)
    viewer = await register(api)
    await add_member(api, owner, site["id"], viewer["user"]["email"], "viewer")
    as_viewer = await api.post(
        f"/api/v1/sites/{site['id']}/share-links", json={}, token=viewer["access_token"]
    )
    assert as_viewer.status == 403
    stranger = await signup(api)
    for method, path in (
        ("GET", f"/api/v1/sites/{site['id']}/share-links"),
        ("POST", f"/api/v1/sites/{site['id']}/share-links"),
    ):
        answer = await api.request(method, path, json={} if method == "POST" else None, token=stranger)
        assert answer.status == 404, (method, path)
    link = await _link(api, owner, site["id"])
    other_site = await make_site(api, stranger, name="Other", domain="other.example")
    wrong_site = await api.delete(
        f"/api/v1/sites/{other_site['id']}/share-links/{link['id']}", token=stranger
    )
    assert wrong_site.status == 404
    assert (await api.get("/api/v1/share/site", headers={"X-Share-Token": link["token"]})).status == 200


async def test_bad_tokens_are_refused(api: Api) -> None:
    for headers in ({}, {"X-Share-Token": ""}, {"X-Share-Token": "x" * 43}, {"X-Share-Token": "a" * 5000}):
        answer = await api.get("/api/v1/share/stats/summary", headers=headers)
        assert answer.status == 401, headers
        assert answer.error_code in ("invalid_share_token", "payload_too_large", "bad_request")


async def test_a_token_reads_its_sites_stats_read_only(api: Api, ctx: AppContext) -> None:
    owner = await signup(api)
    site = await make_site(api, owner)
    link = await _link(api, owner, site["id"])
    await store_events(
        ctx, [event(site["id"], path="/", visitor_id="a"), event(site["id"], path="/docs", visitor_id="b")]
    )
    headers = {"X-Share-Token": link["token"]}
    shared = await api.get("/api/v1/share/stats/breakdown?by=page", headers=headers)
    direct = await api.get(f"/api/v1/sites/{site['id']}/stats/breakdown?by=page", token=owner)
    assert shared.status == 200 and direct.status == 200
    assert len(direct.json["results"]) == 2
    assert shared.json["results"] == direct.json["results"]
    summary = await api.get("/api/v1/share/stats/summary", headers=headers)
    assert summary.status == 200 and "results" in summary.json
    bad = await api.get("/api/v1/share/stats/breakdown?by=nope", headers=headers)
    assert bad.status == 422
    # Nothing but reading: the token is no bearer token and opens no management route.
    assert (await api.get(f"/api/v1/sites/{site['id']}/keys", headers=headers)).status == 401
    assert (await api.post("/api/v1/share/stats/summary", json={}, headers=headers)).status == 405


async def test_deleting_the_site_ends_its_links(api: Api) -> None:
    owner = await signup(api)
    site = await make_site(api, owner)
    link = await _link(api, owner, site["id"])
    deleted = await api.delete(f"/api/v1/sites/{site['id']}", token=owner, expect_json=False)
    assert deleted.status == 204
    assert (await api.get("/api/v1/share/site", headers={"X-Share-Token": link["token"]})).status == 401


async def _share_socket(base: str, message: dict[str, Any]) -> Any:
    port = base.rsplit(":", 1)[1]
    conn = await websocket_connect(HTTPRequest(f"ws://127.0.0.1:{port}/ws/share/live"))
    await conn.write_message(orjson.dumps(message).decode())
    return conn


async def test_live_stream_through_a_share_link(api: Api, ctx: AppContext) -> None:
    owner = await signup(api)
    site = await make_site(api, owner)
    link = await _link(api, owner, site["id"])
    conn = await _share_socket(api.base_url, {"share_token": link["token"]})
    snapshot = await receive_until(conn, lambda m: m["type"] == "snapshot")
    assert snapshot["site_id"] == site["id"]
    ingest(ctx, [event(site["id"], path="/live", visitor_id="v1")])
    tick = await receive_until(conn, lambda m: m["type"] == "tick" and m["recent"])
    assert tick["recent"][0]["path"] == "/live"
    conn.close()

    refused = await _share_socket(api.base_url, {"share_token": "y" * 43})
    assert await asyncio.wait_for(refused.read_message(), 5) is None
    assert refused.close_code == 4401
    refused.close()
    # A user's access token does not open the share socket either.
    wrong_kind = await _share_socket(api.base_url, {"token": owner})
    assert await asyncio.wait_for(wrong_kind.read_message(), 5) is None
    assert wrong_kind.close_code == 4401
    wrong_kind.close()


async def test_revoking_a_link_closes_its_live_streams_at_once(api: Api, ctx: AppContext) -> None:
    owner = await signup(api)
    site = await make_site(api, owner)
    revoked, kept = await _link(api, owner, site["id"]), await _link(api, owner, site["id"])
    streams = []
    for link in (revoked, revoked, kept):
        conn = await _share_socket(api.base_url, {"share_token": link["token"]})
        await receive_until(conn, lambda m: m["type"] == "snapshot")
        streams.append(conn)
    path = f"/api/v1/sites/{site['id']}/share-links/{revoked['id']}"
    answer = await api.delete(path, token=owner, expect_json=False)
    assert answer.status == 204
    try:
        for conn in streams[:2]:  # closed now, not at the next periodic check of the link
            assert await asyncio.wait_for(conn.read_message(), 2) is None
            assert conn.close_code == 4401
        # The other link's stream goes on.
        ingest(ctx, [event(site["id"], path="/still", visitor_id="v2")])
        tick = await receive_until(streams[2], lambda m: m["type"] == "tick" and m["recent"])
        assert tick["recent"][0]["path"] == "/still"
    finally:
        for conn in streams:
            conn.close()


async def test_a_live_link_keeps_streaming_past_its_rechecks_and_a_missed_revocation_still_ends_it(
    api: Api, ctx: AppContext, monkeypatch: Any
) -> None:
    # The periodic recheck of the link, every 0.2 s here instead of 300 s: a link still valid keeps the
    # stream open through many rechecks (it used to close and make the dashboard reconnect each time).
    monkeypatch.setattr(share_handlers, "SHARE_RECHECK_S", 0.2)
    owner = await signup(api)
    site = await make_site(api, owner)
    link = await _link(api, owner, site["id"])
    checks: list[str] = []
    real_open = ctx.share.open

    async def counted_open(token: str | None) -> Any:
        checks.append(token or "")
        return await real_open(token)

    monkeypatch.setattr(ctx.share, "open", counted_open)
    conn = await _share_socket(api.base_url, {"share_token": link["token"]})
    try:
        await receive_until(conn, lambda m: m["type"] == "snapshot")
        await until(lambda: len(checks) >= 4, timeout=10)  # the first check and three rechecks
        ingest(ctx, [event(site["id"], path="/after-rechecks", visitor_id="v3")])
        tick = await receive_until(conn, lambda m: m["type"] == "tick" and m["recent"])
        assert tick["recent"][0]["path"] == "/after-rechecks"
        assert conn.close_code is None
        # Revoked without the broadcast (as if the bus was down when it happened): the next recheck
        # finds it and closes the stream.
        await ctx.stores.docs.update("share_links", {"id": link["id"]}, {"revoked": True})
        assert await asyncio.wait_for(_closed(conn), 5) is None
        assert conn.close_code == 4401
    finally:
        conn.close()


async def _closed(conn: Any) -> Any:
    """Read until the server closes the socket (ticks may come before)."""
    while True:
        message = await conn.read_message()
        if message is None:
            return None
