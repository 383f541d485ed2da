"""Row M4 of the attack review: a removed member's open live streams (websocket and SSE) stop at once,
and a process that missed the removal ends them on its periodic membership recheck."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from tornado.websocket import WebSocketClientConnection

from handlers.context import AppContext
from tests.support.accounts import make_site, register, unique_email
from tests.support.api import Api
from tests.support.live import SseStream, closed_with, still_streams, watching
from tests.support.until import until

pytestmark = pytest.mark.reliability


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


@dataclass
class Team:
    """An owner's site and a viewer member (signed in, membership `member_id`) who watches its dashboard."""

    owner: dict[str, Any]
    site: dict[str, Any]
    member: dict[str, Any]
    member_id: str
    watching: WebSocketClientConnection


async def _team(ctx: AppContext, port: int, api: Api) -> Team:
    owner = await register(api)
    site = await make_site(api, owner["access_token"])
    member = await register(api, unique_email())
    member_id = await _member(ctx, site["id"], member["user"]["id"])
    return Team(owner, site, member, member_id, await watching(port, site["id"], member["access_token"]))


async def test_m4_a_removed_members_live_streams_stop(ctx: AppContext, port: int, api: Api) -> None:
    team = await _team(ctx, port, api)
    owner, site = team.owner, team.site
    stream = await SseStream.open(port, site["id"], team.member["access_token"])
    owners = await watching(port, site["id"], owner["access_token"])
    await until(lambda: len(ctx.sockets) == 3)

    removed = await api.delete(
        f"/api/v1/sites/{site['id']}/members/{team.member_id}", token=owner["access_token"], expect_json=False
    )
    assert removed.status == 204
    # before: the member's stream kept delivering new events until the access token ran out
    assert await closed_with(team.watching) == (4403, "no longer a member of this site")
    await stream.ended()  # the SSE stream ended too
    await until(lambda: len(ctx.sockets) == 1)
    await still_streams(ctx, site["id"], owners)  # the owner's dashboard


class TestRecheck:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {"live_membership_recheck_s": 0.2}

    async def test_m4_a_removal_this_process_missed_ends_the_stream_on_the_recheck(
        self, ctx: AppContext, port: int, api: Api
    ) -> None:
        team = await _team(ctx, port, api)
        # removed by another process whose broadcast never came here
        await ctx.stores.docs.delete("members", {"id": team.member_id})
        assert await closed_with(team.watching) == (4403, "no longer a member of this site")
