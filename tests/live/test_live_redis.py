"""Live dashboards on Redis: deltas cross the real pub/sub, visitors now lives in a shared sorted set, and a
Redis restart mid-stream pauses cross-process fan-out without stopping ingest or local dashboards, then
recovers without restarting Eddy."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from domain.live.messages import channel_for, visitors_key
from handlers.context import AppContext
from storage.redis.bus import RedisBus
from tests.support.live import (
    dashboard,
    event,
    ingest,
    make_owned_site,
    make_viewer,
    receive,
    receive_until,
)
from tests.support.modes import redis_mode as app_config  # noqa: F401
from tests.support.redis_server import RedisServer
from tests.support.until import until


async def test_deltas_travel_over_redis_and_visitors_are_shared(
    ctx: AppContext, port: int, redis_server: RedisServer, unique_prefix: str
) -> None:
    owner = await make_viewer(ctx)
    site_id = await make_owned_site(ctx, owner)
    # a second client on the same Redis, as another Eddy process would be
    observer = RedisBus(redis_server.url, prefix=unique_prefix)
    await observer.open()
    try:
        seen: list[dict[str, Any]] = []
        await observer.subscribe(channel_for(site_id), lambda _c, data: seen.append(orjson.loads(data)))
        conn = await dashboard(port, site_id, owner.token)
        assert (await receive(conn) or {}).get("type") == "snapshot"
        ingest(ctx, [event(site_id, visitor_id="a", path="/x"), event(site_id, visitor_id="b", path="/x")])
        tick = await receive_until(conn, lambda m: m["type"] == "tick" and m["recent"])
        assert tick["visitors_now"] == 2 and tick["top_pages"] == [{"value": "/x", "count": 2}]
        await until(lambda: len(seen) == 1)
        assert seen[0]["site"] == site_id and seen[0]["n"] == 2 and seen[0]["pages"] == {"/x": 2}
        # visitors now is a Redis sorted set every process reads
        members = await ctx.stores.kv.top_members(visitors_key(site_id), 0, 10)
        assert sorted(member for member, _ in members) == ["a", "b"]
        conn.close()
    finally:
        await observer.close()


@pytest.mark.expect_errors("eddy.access")  # /readyz answers 503 while Redis is down
@pytest.mark.reliability
async def test_redis_restart_mid_stream(
    ctx: AppContext, port: int, api: Any, redis_back_up: RedisServer, unique_prefix: str
) -> None:
    bus = ctx.stores.bus
    owner = await make_viewer(ctx)
    site_id = await make_owned_site(ctx, owner)
    conn = await dashboard(port, site_id, owner.token)
    assert (await receive(conn) or {}).get("type") == "snapshot"
    ingest(ctx, [event(site_id, visitor_id="a", path="/before")])
    tick = await receive_until(conn, lambda m: m["type"] == "tick" and m["recent"])
    assert tick["visitors_now"] == 1

    redis_back_up.stop()
    await until(lambda: not bus.healthy, timeout=10)
    # ingest goes on (the listener never raises) and this process's dashboards still see the events
    ingest(ctx, [event(site_id, visitor_id="b", path="/during")])
    tick = await receive_until(conn, lambda m: any(e["path"] == "/during" for e in m.get("recent", [])))
    assert tick["visitors_now"] == 1  # the shared set is unreachable: the last known number stays
    assert ctx.live.publisher.failures >= 1
    assert (ctx.metrics.registry.get_sample_value("eddy_store_errors_total", {"store": "bus"}) or 0) >= 1
    ready = await api.get("/readyz")
    assert ready.status == 503 and ready.json["checks"]["bus"]["status"] == "down"

    redis_back_up.start()
    await until(lambda: bus.healthy, timeout=15)
    observer = RedisBus(redis_back_up.url, prefix=unique_prefix)
    await observer.open()
    try:
        crossed: list[dict[str, Any]] = []
        await observer.subscribe(channel_for(site_id), lambda _c, data: crossed.append(orjson.loads(data)))
        await until(lambda: observer.healthy)
        ingest(ctx, [event(site_id, visitor_id="c", path="/after")])
        tick = await receive_until(conn, lambda m: any(e["path"] == "/after" for e in m.get("recent", [])))
        # the restarted Redis kept nothing (no persistence): visitors now counts from what came after
        assert tick["visitors_now"] == 1
        assert {"value": "/after", "count": 1} in tick["top_pages"]
        await until(
            lambda: [d["pages"] for d in crossed] == [{"/after": 1}]
        )  # fan-out across processes again
        assert bus.reconnects >= 1  # type: ignore[attr-defined]
        assert (await api.get("/readyz")).status == 200
    finally:
        await observer.close()
    conn.close()
