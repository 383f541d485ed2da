"""`WS /ws/live` and the SSE stream against a running Eddy: origin check before the upgrade, the token in
the first message with documented close codes, snapshot then ticks with correct counts, tail filters,
slow consumers dropped, abrupt disconnects cleaned up."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import orjson
import pytest
from tornado.httpclient import HTTPClientError

from domain.accounts.tokens import ACCESS_TTL_S
from handlers import live as live_handlers
from handlers.context import AppContext
from tests.support.live import (
    dashboard,
    event,
    ingest,
    make_owned_site,
    make_viewer,
    receive,
    receive_until,
)
from tests.support.until import until
from tests.support.ws_client import RawWebSocket


def _live_sockets(ctx: AppContext) -> float:
    value = ctx.metrics.registry.get_sample_value("eddy_websocket_connections", {"kind": "live"})
    return value or 0.0


async def _closed_with(conn: Any) -> tuple[int | None, str | None]:
    while await asyncio.wait_for(conn.read_message(), 5) is not None:
        pass
    conn.close()
    return conn.close_code, conn.close_reason


async def test_snapshot_then_ticks_with_the_counts(ctx: AppContext, port: int) -> None:
    owner = await make_viewer(ctx)
    site_id = await make_owned_site(ctx, owner)
    conn = await dashboard(port, site_id, owner.token)
    snapshot = await receive(conn)
    assert snapshot is not None and snapshot["type"] == "snapshot"
    assert snapshot["site_id"] == site_id and snapshot["visitors_now"] == 0 and snapshot["recent"] == []
    assert _live_sockets(ctx) == 1
    ingest(
        ctx,
        [
            event(site_id, path="/", visitor_id="a", country="DE", source="google"),
            event(site_id, path="/pricing", visitor_id="b", country="DE", url="javascript:alert(1)"),
            event(site_id, path="/", visitor_id="a", name="signup", props={"plan": "<b>pro</b>"}),
        ],
    )
    tick = await receive_until(conn, lambda m: m["type"] == "tick" and m["recent"])
    assert tick["visitors_now"] == 2
    assert tick["events_per_s"] == 0.3
    assert tick["top_pages"] == [{"value": "/", "count": 2}, {"value": "/pricing", "count": 1}]
    assert tick["top_countries"] == [{"value": "DE", "count": 2}]
    assert [e["name"] for e in tick["recent"]] == ["pageview", "pageview", "signup"]
    # data only: markup and script URLs arrive as plain strings for the dashboard to show as text
    assert tick["recent"][1]["url"] == "javascript:alert(1)"
    assert tick["recent"][2]["props"] == {"plan": "<b>pro</b>"}
    conn.close()
    await until(lambda: _live_sockets(ctx) == 0 and len(ctx.sockets) == 0)
    assert ctx.live.hub.watched_sites() == []


async def test_a_team_member_may_watch(ctx: AppContext, port: int) -> None:
    owner, member = await make_viewer(ctx), await make_viewer(ctx)
    site_id = await make_owned_site(ctx, owner)
    await ctx.stores.docs.insert(
        "members",
        {
            "id": uuid.uuid4().hex,
            "site_id": site_id,
            "user_id": member.user_id,
            "role": "viewer",
            "created_at": time.time(),
        },
    )
    conn = await dashboard(port, site_id, member.token)
    snapshot = await receive(conn)
    assert snapshot is not None and snapshot["type"] == "snapshot"
    conn.close()


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("first_message", "code"),
    [({}, 4401), ({"token": ""}, 4401), ({"token": "not.a.jwt"}, 4401), ({"token": 5}, 4401)],
)
async def test_no_or_bad_token_closes_with_4401(
    ctx: AppContext, port: int, first_message: dict[str, Any], code: int
) -> None:
    owner = await make_viewer(ctx)
    site_id = await make_owned_site(ctx, owner)
    conn = await dashboard(port, site_id)
    await conn.write_message(orjson.dumps(first_message).decode())
    assert (await _closed_with(conn))[0] == code
    await until(lambda: len(ctx.sockets) == 0 and _live_sockets(ctx) == 0)


async def test_expired_token_closes_with_4401(ctx: AppContext, port: int) -> None:
    expired = await make_viewer(ctx, token_issued_at=time.time() - ACCESS_TTL_S - 60)
    site_id = await make_owned_site(ctx, expired)
    conn = await dashboard(port, site_id, expired.token)
    code, reason = await _closed_with(conn)
    assert code == 4401 and reason


async def test_a_token_that_expires_while_watching_ends_the_stream(ctx: AppContext, port: int) -> None:
    viewer = await make_viewer(ctx, token_issued_at=time.time() - ACCESS_TTL_S + 3)
    site_id = await make_owned_site(ctx, viewer)
    conn = await dashboard(port, site_id, viewer.token)
    assert (await receive(conn) or {}).get("type") == "snapshot"
    code, reason = await _closed_with(conn)
    assert (code, reason) == (4401, "access token expired")


async def test_a_renewed_token_keeps_the_stream_open(ctx: AppContext, port: int) -> None:
    viewer = await make_viewer(ctx, token_issued_at=time.time() - ACCESS_TTL_S + 3)
    site_id = await make_owned_site(ctx, viewer)
    conn = await dashboard(port, site_id, viewer.token)
    assert (await receive(conn) or {}).get("type") == "snapshot"
    fresh = ctx.tokens.issue_access(viewer.user_id, viewer.session)
    await conn.write_message(orjson.dumps({"token": fresh}).decode())
    renewed = await receive(conn)
    assert renewed is not None and renewed["type"] == "auth" and renewed["expires_at"] > time.time() + 600
    await asyncio.sleep(3.5)  # past the first token's expiry
    ingest(ctx, [event(site_id)])
    tick = await receive_until(conn, lambda m: m["type"] == "tick" and m["recent"])
    assert tick["visitors_now"] == 1
    conn.close()


async def test_another_users_site_closes_with_4404(ctx: AppContext, port: int) -> None:
    owner, stranger = await make_viewer(ctx), await make_viewer(ctx)
    site_id = await make_owned_site(ctx, owner)
    conn = await dashboard(port, site_id, stranger.token)
    assert (await _closed_with(conn))[0] == 4404
    missing = await dashboard(port, uuid.uuid4().hex, owner.token)
    assert (await _closed_with(missing))[0] == 4404


async def test_a_revoked_session_closes_with_4401(ctx: AppContext, port: int) -> None:
    viewer = await make_viewer(ctx)
    site_id = await make_owned_site(ctx, viewer)
    await ctx.stores.docs.update("refresh_families", {"id": viewer.session}, {"revoked": True})
    conn = await dashboard(port, site_id, viewer.token)
    assert (await _closed_with(conn))[0] == 4401


@pytest.mark.reliability
async def test_silence_after_connecting_closes_with_4401(
    ctx: AppContext, port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_handlers, "AUTH_TIMEOUT_S", 0.3)
    owner = await make_viewer(ctx)
    conn = await dashboard(port, await make_owned_site(ctx, owner))
    assert await _closed_with(conn) == (4401, "no token in time")
    await until(lambda: len(ctx.sockets) == 0)


async def test_missing_site_id_closes_with_4400(ctx: AppContext, port: int) -> None:
    owner = await make_viewer(ctx)
    conn = await dashboard(port, "", owner.token)
    assert (await _closed_with(conn))[0] == 4400


@pytest.mark.reliability
async def test_foreign_origin_is_refused_before_the_upgrade(ctx: AppContext, port: int) -> None:
    owner = await make_viewer(ctx)
    site_id = await make_owned_site(ctx, owner)
    with pytest.raises(HTTPClientError) as refused:
        await dashboard(port, site_id, origin="https://evil.example")
    assert refused.value.code == 403
    with pytest.raises(HTTPClientError):
        await dashboard(port, site_id, origin=f"http://127.0.0.1.evil.example:{port}")
    same = await dashboard(port, site_id, owner.token, origin=f"http://127.0.0.1:{port}")
    assert (await receive(same) or {}).get("type") == "snapshot"
    same.close()
    assert len(ctx.sockets) <= 1


class TestWithPublicUrl:
    """With --public-url set, only that origin may open a dashboard socket."""

    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {"public_url": "https://eddy.example"}

    async def test_only_the_public_origin_passes(self, ctx: AppContext, port: int) -> None:
        owner = await make_viewer(ctx)
        site_id = await make_owned_site(ctx, owner)

        with pytest.raises(HTTPClientError) as refused:
            await dashboard(port, site_id, origin=f"http://127.0.0.1:{port}")
        assert refused.value.code == 403
        conn = await dashboard(port, site_id, owner.token, origin="https://EDDY.example:443")
        assert (await receive(conn) or {}).get("type") == "snapshot"
        conn.close()


async def test_tail_filters(ctx: AppContext, port: int) -> None:
    owner = await make_viewer(ctx)
    site_id = await make_owned_site(ctx, owner)
    conn = await dashboard(port, site_id, owner.token)
    assert (await receive(conn) or {}).get("type") == "snapshot"
    await conn.write_message(orjson.dumps({"filter": {"event": "signup", "page": "/blog/*"}}).decode())
    assert (await receive(conn) or {}).get("type") == "snapshot"
    ingest(
        ctx,
        [
            event(site_id, name="pageview", path="/blog/a", visitor_id="a"),
            event(site_id, name="signup", path="/blog/b", visitor_id="b", country="SE"),
            event(site_id, name="signup", path="/shop", visitor_id="c"),
        ],
    )
    tick = await receive_until(conn, lambda m: m["type"] == "tick" and m["recent"])
    assert [e["path"] for e in tick["recent"]] == ["/blog/b"]
    assert tick["visitors_now"] == 3  # counters are never filtered, only the tail
    await conn.write_message(orjson.dumps({"filter": {"country": "se"}}).decode())
    snapshot = await receive_until(conn, lambda m: m["type"] == "snapshot")
    assert [e["path"] for e in snapshot["recent"]] == ["/blog/b"]
    await conn.write_message(orjson.dumps({"filter": {"country": "Sweden"}}).decode())
    error = await receive_until(conn, lambda m: m["type"] == "error")
    assert error["error"]["code"] == "invalid_filter" and "country" in error["error"]["fields"]
    await conn.write_message(orjson.dumps({"filter": {}}).decode())
    snapshot = await receive_until(conn, lambda m: m["type"] == "snapshot")
    assert len(snapshot["recent"]) == 3  # still open, filters cleared
    conn.close()


async def test_non_json_messages_close_with_4400(ctx: AppContext, port: int) -> None:
    owner = await make_viewer(ctx)
    conn = await dashboard(port, await make_owned_site(ctx, owner))
    await conn.write_message("not json")
    assert (await _closed_with(conn))[0] == 4400


@pytest.mark.reliability
async def test_per_address_cap(ctx: AppContext, port: int) -> None:
    ctx.sockets.per_ip_limit = 1
    owner = await make_viewer(ctx)
    site_id = await make_owned_site(ctx, owner)
    first = await dashboard(port, site_id, owner.token)
    assert (await receive(first) or {}).get("type") == "snapshot"
    second = await dashboard(port, site_id, owner.token)
    assert (await _closed_with(second))[0] == 4429
    first.close()


@pytest.mark.reliability
async def test_a_slow_dashboard_is_dropped_with_4408(ctx: AppContext, port: int) -> None:
    ctx.live.publisher.min_interval = 0.0  # publish every batch: fill the socket quickly
    owner = await make_viewer(ctx)
    site_id = await make_owned_site(ctx, owner)
    fast = await dashboard(port, site_id, owner.token)
    slow = await RawWebSocket.connect(port, f"/ws/live?site_id={site_id}", receive_buffer=4096)
    await slow.send_text(orjson.dumps({"token": owner.token}).decode())
    big = "x" * 500
    props = {f"p{i}": big for i in range(20)}
    live = ctx.live

    async def flooded() -> bool:
        ingest(ctx, [event(site_id, url=big, title=big, referrer=big, props=props) for _ in range(20)])
        while fast.read_queue.qsize():  # the healthy dashboard keeps reading
            await fast.read_message()
        return live.hub.dropped > 0

    await until(flooded, timeout=30, interval=0.02)
    assert ctx.live.hub.dropped == 1
    assert ctx.metrics.registry.get_sample_value("eddy_live_dashboards_dropped_total") == 1
    assert await slow.read_close_code(timeout=20) == 4408
    await until(lambda: ctx.live.hub.stream_count(site_id) == 1, timeout=10)
    # the healthy dashboard was not dropped and still gets ticks
    ingest(ctx, [event(site_id, path="/after")])
    tick = await receive_until(fast, lambda m: any(e["path"] == "/after" for e in m.get("recent", [])), 20)
    assert tick["type"] == "tick"
    fast.close()
    slow.abort()


async def test_an_abrupt_disconnect_is_cleaned_up(ctx: AppContext, port: int) -> None:
    owner = await make_viewer(ctx)
    site_id = await make_owned_site(ctx, owner)
    raw = await RawWebSocket.connect(port, f"/ws/live?site_id={site_id}")
    await raw.send_text(orjson.dumps({"token": owner.token}).decode())
    opcode, payload = await raw.read_frame()
    assert opcode == 0x1 and orjson.loads(payload)["type"] == "snapshot"
    assert ctx.live.hub.stream_count(site_id) == 1 and len(ctx.sockets) == 1
    raw.abort()
    await until(lambda: len(ctx.sockets) == 0 and _live_sockets(ctx) == 0)
    await until(lambda: ctx.live.hub.watched_sites() == [])
    published = ctx.live.publisher.published
    ingest(ctx, [event(site_id)])  # nothing left to deliver to: no error
    await until(lambda: ctx.live.publisher.published > published)


async def _sse_open(port: int, path: str, token: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
    )
    await writer.drain()
    return reader, writer


async def _sse_event(reader: asyncio.StreamReader) -> tuple[str, dict[str, Any]]:
    kind, data = "", ""
    while True:
        line = (await asyncio.wait_for(reader.readline(), 5)).decode().rstrip("\r\n")
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line == "" and kind:
            return kind, orjson.loads(data)


async def test_sse_stream_sends_the_same_messages(ctx: AppContext, port: int, api: Any) -> None:
    owner, stranger = await make_viewer(ctx), await make_viewer(ctx)
    site_id = await make_owned_site(ctx, owner)
    path = f"/api/v1/sites/{site_id}/live/stream"
    assert (await api.get(path)).status == 401
    assert (await api.get(path, token=stranger.token)).status == 404
    bad = await api.get(path + "?country=Sweden", token=owner.token)
    assert bad.status == 422 and bad.error_code == "invalid_filter"
    reader, writer = await _sse_open(port, path + "?name=signup", owner.token)
    head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).decode()
    assert head.startswith("HTTP/1.1 200") and "text/event-stream" in head
    kind, snapshot = await _sse_event(reader)
    assert kind == "snapshot" and snapshot["site_id"] == site_id
    ingest(ctx, [event(site_id, name="pageview"), event(site_id, name="signup", visitor_id="b")])
    kind, tick = await _sse_event(reader)
    assert kind == "tick" and tick["visitors_now"] == 2
    assert [e["name"] for e in tick["recent"]] == ["signup"]
    assert len(ctx.sockets) == 1
    writer.close()
    await until(lambda: len(ctx.sockets) == 0)
    await until(lambda: ctx.live.hub.watched_sites() == [])


@pytest.mark.reliability
async def test_shutdown_closes_every_dashboard(ctx: AppContext, port: int) -> None:
    owner = await make_viewer(ctx)
    site_id = await make_owned_site(ctx, owner)
    conn = await dashboard(port, site_id, owner.token)
    assert (await receive(conn) or {}).get("type") == "snapshot"
    reader, writer = await _sse_open(port, f"/api/v1/sites/{site_id}/live/stream", owner.token)
    assert (await _sse_event(reader))[0] == "snapshot"
    await until(lambda: len(ctx.sockets) == 2)
    assert ctx.sockets.close_all() == 2  # what SIGTERM does before the stores close
    assert (await _closed_with(conn))[0] == 1001
    try:
        # the event stream ends: the chunked body's terminator
        await asyncio.wait_for(reader.readuntil(b"\r\n0\r\n\r\n"), 5)
    finally:
        writer.close()
    await until(lambda: ctx.live.hub.watched_sites() == [])
