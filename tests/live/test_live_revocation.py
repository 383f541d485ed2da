"""A revoked sign-in session (logout, password change, a spent refresh token used again) closes the
dashboards it opened at once with 4401, websockets and SSE streams alike; other sessions' dashboards,
even the same user's, stay open."""

from __future__ import annotations

import asyncio
from typing import Any

from handlers.context import AppContext
from tests.support.accounts import PASSWORD, make_site, register, unique_email
from tests.support.api import Api
from tests.support.live import dashboard, event, ingest, receive, receive_until
from tests.support.until import until

AUTH = "/api/v1/auth"


async def _closed_with(conn: Any, timeout: float = 5.0) -> tuple[int | None, str | None]:
    while await asyncio.wait_for(conn.read_message(), timeout) is not None:
        pass
    conn.close()
    return conn.close_code, conn.close_reason


async def _watching(port: int, site_id: str, token: str) -> Any:
    conn = await dashboard(port, site_id, token)
    assert (await receive(conn) or {}).get("type") == "snapshot"
    return conn


async def test_logout_closes_that_sessions_dashboards_only(ctx: AppContext, port: int, api: Api) -> None:
    email = unique_email()
    first = await register(api, email)
    second = (await api.post(f"{AUTH}/login", json={"email": email, "password": PASSWORD})).json
    site = await make_site(api, first["access_token"])
    mine = await _watching(port, site["id"], first["access_token"])
    also_mine = await _watching(port, site["id"], first["access_token"])
    other = await _watching(port, site["id"], second["access_token"])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /api/v1/sites/{site['id']}/live/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {first['access_token']}\r\n\r\n".encode()
    )
    await asyncio.wait_for(reader.readuntil(b"event: snapshot"), 5)
    await until(lambda: len(ctx.sockets) == 4)

    out = await api.post(f"{AUTH}/logout", json={"refresh_token": first["refresh_token"]}, expect_json=False)
    assert out.status == 204
    # well before the access token's 15 minutes are up
    assert await _closed_with(mine) == (4401, "session ended")
    assert await _closed_with(also_mine) == (4401, "session ended")
    await asyncio.wait_for(reader.readuntil(b"\r\n0\r\n\r\n"), 5)  # the SSE stream ended too
    writer.close()
    await until(lambda: len(ctx.sockets) == 1)
    # the other session's dashboard still streams
    ingest(ctx, [event(site["id"], path="/still")])
    tick = await receive_until(other, lambda m: m["type"] == "tick" and m["recent"])
    assert tick["recent"][0]["path"] == "/still"
    other.close()


async def test_a_password_change_closes_the_other_sessions_dashboards(
    ctx: AppContext, port: int, api: Api
) -> None:
    email = unique_email()
    first = await register(api, email)
    second = (await api.post(f"{AUTH}/login", json={"email": email, "password": PASSWORD})).json
    site = await make_site(api, first["access_token"])
    elsewhere = await _watching(port, site["id"], second["access_token"])
    changed = await api.post(
        f"{AUTH}/password",
        json={"current_password": PASSWORD, "new_password": "a brand new secret"},
        token=first["access_token"],
    )
    assert changed.status == 200
    assert (await _closed_with(elsewhere))[0] == 4401
    # the new token opens a dashboard again
    again = await _watching(port, site["id"], changed.json["access_token"])
    again.close()


async def test_reusing_a_spent_refresh_token_closes_the_sessions_dashboards(
    ctx: AppContext, port: int, api: Api
) -> None:
    first = await register(api)
    site = await make_site(api, first["access_token"])
    refreshed = await api.post(f"{AUTH}/refresh", json={"refresh_token": first["refresh_token"]})
    assert refreshed.status == 200
    conn = await _watching(port, site["id"], refreshed.json["access_token"])
    reuse = await api.post(f"{AUTH}/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status == 401 and reuse.error_code == "token_reused"
    assert (await _closed_with(conn))[0] == 4401
    await until(lambda: len(ctx.sockets) == 0)
