"""Row M4 of the attack review: a removed member's open live streams (websocket and SSE) stop at once,
and a process that missed the removal ends them on its periodic membership recheck."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from handlers.context import AppContext
from tests.support.accounts import make_site, register, unique_email
from tests.support.api import Api
from tests.support.live import dashboard, event, ingest, receive, receive_until
from tests.support.until import until

pytestmark = pytest.mark.reliability


async def _closed_with(conn: Any, timeout: float = 5.0) -> tuple[int | None, str | None]:
    while await asyncio.wait_for(conn.read_message(), timeout) is not None:
        pass
    conn.close()
    return conn.close_code, conn.close_reason


async def _member(ctx: AppContext, site_id: str, user_id: str) -> str:
    """A viewer membership written straight into the store; its id."""
    member_id = uuid.uuid4().hex
    await ctx.stores.docs.insert(
        "members",
        {
            "id": member_id,
            "site_id": site_id,
            "user_id": user_id,
            "role": "viewer",
            "created_at": time.time(),
        },
    )
    return member_id


async def _sse(port: int, site_id: str, token: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /api/v1/sites/{site_id}/live/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\n\r\n".encode()
    )
    await asyncio.wait_for(reader.readuntil(b"event: snapshot"), 5)
    return reader, writer


async def test_m4_a_removed_members_live_streams_stop(ctx: AppContext, port: int, api: Api) -> None:
    owner = await register(api)
    site = await make_site(api, owner["access_token"])
    member = await register(api, unique_email())
    member_id = await _member(ctx, site["id"], member["user"]["id"])
    watching = await dashboard(port, site["id"], member["access_token"])
    assert (await receive(watching) or {}).get("type") == "snapshot"
    reader, writer = await _sse(port, site["id"], member["access_token"])
    owners = await dashboard(port, site["id"], owner["access_token"])
    assert (await receive(owners) or {}).get("type") == "snapshot"
    await until(lambda: len(ctx.sockets) == 3)

    removed = await api.delete(
        f"/api/v1/sites/{site['id']}/members/{member_id}", token=owner["access_token"], expect_json=False
    )
    assert removed.status == 204
    # before: the member's stream kept delivering new events until the access token ran out
    assert await _closed_with(watching) == (4403, "no longer a member of this site")
    await asyncio.wait_for(reader.readuntil(b"\r\n0\r\n\r\n"), 5)  # the SSE stream ended too
    writer.close()
    await until(lambda: len(ctx.sockets) == 1)
    # the owner's dashboard still streams
    ingest(ctx, [event(site["id"], path="/still")])
    tick = await receive_until(owners, lambda m: m["type"] == "tick" and m["recent"])
    assert tick["recent"][0]["path"] == "/still"
    owners.close()


class TestRecheck:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {"live_membership_recheck_s": 0.2}

    async def test_m4_a_removal_this_process_missed_ends_the_stream_on_the_recheck(
        self, ctx: AppContext, port: int, api: Api
    ) -> None:
        owner = await register(api)
        site = await make_site(api, owner["access_token"])
        member = await register(api, unique_email())
        member_id = await _member(ctx, site["id"], member["user"]["id"])
        watching = await dashboard(port, site["id"], member["access_token"])
        assert (await receive(watching) or {}).get("type") == "snapshot"
        # removed by another process whose broadcast never came here
        await ctx.stores.docs.delete("members", {"id": member_id})
        assert await _closed_with(watching) == (4403, "no longer a member of this site")
