"""A revoked sign-in session (logout, password change, a spent refresh token used again) closes the
dashboards it opened at once with 4401, websockets and SSE streams alike; other sessions' dashboards,
even the same user's, stay open."""

from __future__ import annotations

from handlers.context import AppContext
from tests.support.accounts import PASSWORD, make_site, register, unique_email
from tests.support.api import Api
from tests.support.live import SseStream, closed_with, still_streams, watching
from tests.support.until import until

AUTH = "/api/v1/auth"


async def test_logout_closes_that_sessions_dashboards_only(ctx: AppContext, port: int, api: Api) -> None:
    email = unique_email()
    first = await register(api, email)
    second = (await api.post(f"{AUTH}/login", json={"email": email, "password": PASSWORD})).json
    site = await make_site(api, first["access_token"])
    mine = await watching(port, site["id"], first["access_token"])
    also_mine = await watching(port, site["id"], first["access_token"])
    other = await watching(port, site["id"], second["access_token"])
    stream = await SseStream.open(port, site["id"], first["access_token"])
    await until(lambda: len(ctx.sockets) == 4)

    out = await api.post(f"{AUTH}/logout", json={"refresh_token": first["refresh_token"]}, expect_json=False)
    assert out.status == 204
    # well before the access token's 15 minutes are up
    assert await closed_with(mine) == (4401, "session ended")
    assert await closed_with(also_mine) == (4401, "session ended")
    await stream.ended()  # the SSE stream ended too
    await until(lambda: len(ctx.sockets) == 1)
    await still_streams(ctx, site["id"], other)  # the other session's dashboard


async def test_a_password_change_closes_the_other_sessions_dashboards(
    ctx: AppContext, port: int, api: Api
) -> None:
    email = unique_email()
    first = await register(api, email)
    second = (await api.post(f"{AUTH}/login", json={"email": email, "password": PASSWORD})).json
    site = await make_site(api, first["access_token"])
    elsewhere = await watching(port, site["id"], second["access_token"])
    changed = await api.post(
        f"{AUTH}/password",
        json={"current_password": PASSWORD, "new_password": "a brand new secret"},
        token=first["access_token"],
    )
    assert changed.status == 200
    assert (await closed_with(elsewhere))[0] == 4401
    # the new token opens a dashboard again
    again = await watching(port, site["id"], changed.json["access_token"])
    again.close()


async def test_reusing_a_spent_refresh_token_closes_the_sessions_dashboards(
    ctx: AppContext, port: int, api: Api
) -> None:
    first = await register(api)
    site = await make_site(api, first["access_token"])
    refreshed = await api.post(f"{AUTH}/refresh", json={"refresh_token": first["refresh_token"]})
    assert refreshed.status == 200
    conn = await watching(port, site["id"], refreshed.json["access_token"])
    reuse = await api.post(f"{AUTH}/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status == 401 and reuse.error_code == "token_reused"
    assert (await closed_with(conn))[0] == 4401
    await until(lambda: len(ctx.sockets) == 0)
