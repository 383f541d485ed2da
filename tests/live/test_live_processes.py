"""Two real Eddy processes on one Redis: an event ingested by process A (POST /api/v1/collect) appears on
a dashboard socket held by process B, with the counts of both processes merged; a logout through A
closes that session's dashboard on B."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from tornado.httpclient import AsyncHTTPClient

from tests.support.accounts import make_key, make_site, register, signup
from tests.support.api import Api
from tests.support.eddy_process import EddyProcess
from tests.support.ingest_sites import BROWSER_UA, ORIGIN
from tests.support.live import dashboard, receive, receive_until
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.slow


@pytest.fixture
def two_processes(
    tmp_path: Path, redis_server: RedisServer, unique_prefix: str
) -> Iterator[tuple[EddyProcess, EddyProcess]]:
    env = {"REDIS_URL": redis_server.url, "EDDY_REDIS_PREFIX": unique_prefix}
    data_dir = tmp_path / "data"
    first = EddyProcess(data_dir, env=env)
    second = EddyProcess(data_dir, env=env)
    try:
        first.start()  # creates the shared secrets before the second one reads them
        second.start()
        yield first, second
    finally:
        first.stop()
        second.stop()


async def _collect(base_url: str, key: str, path: str, user_agent: str = BROWSER_UA) -> None:
    answer = await AsyncHTTPClient().fetch(
        base_url + "/api/v1/collect",
        method="POST",
        body=orjson.dumps(
            {"name": "pageview", "url": f"https://shop.example{path}", "referrer": "https://www.google.com/"}
        ),
        headers={
            "Content-Type": "application/json",
            "X-Api-Key": key,
            "Origin": ORIGIN,
            "User-Agent": user_agent,
        },
        raise_error=False,
    )
    assert answer.code == 202, answer.body


async def test_an_event_taken_by_one_process_reaches_a_dashboard_on_another(
    two_processes: tuple[EddyProcess, EddyProcess],
) -> None:
    a, b = two_processes
    api_a = Api(a.url)
    token = await signup(api_a)
    site = await make_site(api_a, token, allowed_origins=[ORIGIN])
    key = (await make_key(api_a, token, site["id"], "public"))["key"]

    conn = await dashboard(b.port, site["id"], token)
    snapshot = await receive(conn, 10)
    assert snapshot is not None and snapshot["type"] == "snapshot", (snapshot, conn.close_code, b.log())
    assert snapshot["visitors_now"] == 0 and snapshot["recent"] == []

    await _collect(a.url, key, "/pricing")
    tick = await receive_until(conn, lambda m: m["type"] == "tick" and m["recent"], timeout=10)
    assert [e["path"] for e in tick["recent"]] == ["/pricing"]
    assert tick["visitors_now"] == 1
    assert tick["top_pages"] == [{"value": "/pricing", "count": 1}]
    assert tick["events_per_s"] == 0.1

    # another visitor through process B itself: both processes' events merge into one view
    await _collect(b.url, key, "/pricing", user_agent=BROWSER_UA.replace("131.0", "130.0"))
    tick = await receive_until(conn, lambda m: m["type"] == "tick" and m["recent"], timeout=10)
    assert tick["visitors_now"] == 2
    assert tick["top_pages"] == [{"value": "/pricing", "count": 2}]
    conn.close()


async def test_a_logout_through_one_process_closes_the_sessions_dashboard_on_another(
    two_processes: tuple[EddyProcess, EddyProcess],
) -> None:
    a, b = two_processes
    api_a = Api(a.url)
    session = await register(api_a)
    site = await make_site(api_a, session["access_token"], allowed_origins=[ORIGIN])
    conn = await dashboard(b.port, site["id"], session["access_token"])
    assert (await receive(conn, 10) or {}).get("type") == "snapshot"
    out = await api_a.post(
        "/api/v1/auth/logout", json={"refresh_token": session["refresh_token"]}, expect_json=False
    )
    assert out.status == 204
    # process B learns of it over Redis and closes the socket, long before the token would expire
    assert await asyncio.wait_for(conn.read_message(), 10) is None
    assert (conn.close_code, conn.close_reason) == (4401, "session ended")
    conn.close()
