"""WS /ws/collect end to end: acks after durable commits, nacks with reasons, origin checks before the
upgrade, Tornado's message size limit, per-connection rate limit."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import orjson
import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from handlers import ws_collect
from handlers.context import AppContext
from tests.ingest.helpers import dropped, stored, stored_count
from tests.support.api import Api
from tests.support.ingest_sites import BROWSER_UA, ORIGIN, api_site_keys, make_site_key
from tests.support.until import until
from tests.support.ws_client import RawWebSocket


def window_full(ctx: AppContext) -> bool:
    """Whether the one collect stream holds its next message because MAX_IN_FLIGHT await their acks."""
    streams = list(ctx.sockets)
    return len(streams) == 1 and streams[0]._window is not None and not streams[0]._window.done()


@pytest.fixture
def ws_url(http_server_port: Any) -> str:
    return f"ws://127.0.0.1:{http_server_port[1]}/ws/collect"


async def connect(url: str, headers: dict[str, str]) -> WebSocketClientConnection:
    return await websocket_connect(HTTPRequest(url, headers=headers), max_message_size=1 << 20)


async def exchange(conn: WebSocketClientConnection, message: Any) -> dict[str, Any]:
    await conn.write_message(orjson.dumps(message).decode())
    answer = await conn.read_message()
    assert isinstance(answer, str), answer
    return orjson.loads(answer)


def events(n: int, prefix: str = "e") -> list[dict[str, Any]]:
    return [{"name": "pageview", "id": f"{prefix}{i}", "url": f"https://shop.example/p{i}"} for i in range(n)]


async def test_public_key_stream_is_acked_after_storing(
    http_server: Any, ctx: AppContext, ws_url: str
) -> None:
    key = await make_site_key(ctx)
    conn = await connect(f"{ws_url}?k={key.value}", {"Origin": ORIGIN, "User-Agent": BROWSER_UA})
    assert ctx.metrics.websocket_connections.labels("collect")._value.get() == 1
    assert await exchange(conn, {"id": "m1", "events": events(20)}) == {"ack": "m1", "accepted": 20}
    assert await stored_count(ctx, key.site_id) == 20
    # the same ids again (a retry after a lost ack) are acknowledged and stored once
    assert await exchange(conn, {"id": 2, "events": events(20)}) == {"ack": 2, "accepted": 20}
    assert await stored_count(ctx, key.site_id) == 20
    rows = await stored(ctx, key.site_id)
    assert {row.browser for row in rows} == {"Chrome"}
    conn.close()


@pytest.mark.reliability
async def test_invalid_messages_are_nacked_and_store_nothing(
    http_server: Any, ctx: AppContext, ws_url: str
) -> None:
    key = await make_site_key(ctx)
    conn = await connect(f"{ws_url}?k={key.value}", {"Origin": ORIGIN, "User-Agent": BROWSER_UA})
    await conn.write_message("{not json")
    answer = orjson.loads(await conn.read_message())
    assert answer["nack"] is None and answer["error"]["code"] == "invalid_json"
    bad = [
        {"id": "a", "events": []},
        {"id": "b", "events": [{"url": "https://shop.example/"}]},
        {"id": "c", "events": [{"name": "x", "props": {"$gt": 1}}]},
        {"id": "d", "events": [{"name": "x", "ts": "soon"}]},
        {"events": events(1)},
    ]
    for message in bad:
        answer = await exchange(conn, message)
        assert answer["nack"] == message.get("id") and answer["error"]["code"] == "validation_failed", answer
    assert await stored_count(ctx, key.site_id) == 0
    assert dropped(ctx, "invalid") == len(bad) + 1
    # the connection is still usable
    assert await exchange(conn, {"id": "ok", "events": events(1)}) == {"ack": "ok", "accepted": 1}
    conn.close()


@pytest.mark.reliability
async def test_origin_and_key_checks_before_upgrade(api: Api, ctx: AppContext, ws_url: str) -> None:
    site = await api_site_keys(api)
    public, secret = site.public["key"], site.secret["key"]
    refused = [
        (f"{ws_url}?k={public}", {"Origin": "https://evil.example"}, 403),
        (f"{ws_url}?k={public}", {}, 403),
        (f"{ws_url}?k=eddy_pk_{'x' * 32}", {"Origin": ORIGIN}, 401),
        (ws_url, {"Origin": ORIGIN}, 401),
        (f"{ws_url}?k={secret}", {}, 403),  # a secret key in a URL
        (ws_url, {"X-Api-Key": secret, "Origin": ORIGIN}, 403),  # a secret key from a browser
    ]
    for url, headers, status in refused:
        with pytest.raises(HTTPClientError) as caught:
            await connect(url, headers)
        assert caught.value.code == status, (url, headers)
    assert dropped(ctx, "bad_origin") == 2
    # a server with its secret key in the header, no Origin
    conn = await connect(ws_url, {"X-Api-Key": secret, "User-Agent": "backend/1"})
    assert await exchange(conn, {"id": 1, "events": events(3)}) == {"ack": 1, "accepted": 3}
    conn.close()


@pytest.mark.reliability
async def test_oversize_message_closes_1009(http_server: Any, ctx: AppContext, ws_url: str) -> None:
    key = await make_site_key(ctx)
    conn = await connect(f"{ws_url}?k={key.value}", {"Origin": ORIGIN, "User-Agent": BROWSER_UA})
    big = {"id": "big", "events": [{"name": "x", "title": "a" * 500}] * (ws_collect.MAX_MESSAGE_BYTES // 500)}
    await conn.write_message(orjson.dumps(big).decode())
    assert await conn.read_message() is None
    assert conn.close_code == 1009
    assert await stored_count(ctx, key.site_id) == 0
    conn.close()


@pytest.mark.reliability
async def test_per_connection_rate_limit(
    http_server: Any, ctx: AppContext, ws_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a burst of 2, then 1 a second
    monkeypatch.setattr(ctx.ingest, "limits", dataclasses.replace(ctx.ingest.limits, per_connection=1.0))
    key = await make_site_key(ctx)
    conn = await connect(f"{ws_url}?k={key.value}", {"Origin": ORIGIN, "User-Agent": BROWSER_UA})
    answers = [await exchange(conn, {"id": i, "events": events(1, f"r{i}-")}) for i in range(3)]
    assert [a.get("ack") for a in answers[:2]] == [0, 1]
    assert answers[2]["nack"] == 2 and answers[2]["error"]["code"] == "rate_limited"
    assert answers[2]["retry_after"] >= 1
    assert await stored_count(ctx, key.site_id) == 2
    conn.close()


@pytest.mark.reliability
async def test_store_down_nacks_with_retry_after(http_server: Any, ctx: AppContext, ws_url: str) -> None:
    key = await make_site_key(ctx, "secret")
    conn = await connect(ws_url, {"X-Api-Key": key.value})
    ctx.ingest.writer.retry_for = 0.2
    await ctx.stores.events.close()
    try:
        answer = await exchange(conn, {"id": "m", "events": events(2)})
    finally:
        await ctx.stores.events.open()
    assert answer["nack"] == "m" and answer["error"]["code"] == "unavailable" and answer["retry_after"] >= 1
    assert await exchange(conn, {"id": "m", "events": events(2)}) == {"ack": "m", "accepted": 2}
    assert await stored_count(ctx, key.site_id) == 2
    conn.close()


@pytest.mark.reliability
async def test_per_ip_connection_cap(http_server: Any, ctx: AppContext, ws_url: str) -> None:
    key = await make_site_key(ctx)
    ctx.sockets.per_ip_limit = 1
    headers = {"Origin": ORIGIN, "User-Agent": BROWSER_UA}
    first = await connect(f"{ws_url}?k={key.value}", headers)
    second = await connect(f"{ws_url}?k={key.value}", headers)
    assert await second.read_message() is None and second.close_code == 1008
    second.close()
    assert await exchange(first, {"id": 1, "events": events(1)}) == {"ack": 1, "accepted": 1}
    first.close()


async def read_answers(conn: WebSocketClientConnection, count: int) -> list[dict[str, Any]]:
    answers = []
    for _ in range(count):
        answer = await asyncio.wait_for(conn.read_message(), timeout=10)
        assert isinstance(answer, str), answer
        answers.append(orjson.loads(answer))
    return answers


async def test_pipelined_messages_are_each_acked_once(http_server: Any, ctx: AppContext, ws_url: str) -> None:
    key = await make_site_key(ctx, "secret")
    conn = await connect(ws_url, {"X-Api-Key": key.value})
    for n in range(30):  # sent without waiting for acks, as the tracker does
        await conn.write_message(orjson.dumps({"id": n, "events": events(5, f"m{n}-")}).decode())
    answers = await read_answers(conn, 30)
    assert sorted(answer["ack"] for answer in answers) == list(range(30))
    assert {answer["accepted"] for answer in answers} == {5}
    assert await stored_count(ctx, key.site_id) == 150
    conn.close()


async def test_a_full_window_stops_reading_until_a_commit_lands(
    http_server: Any, ctx: AppContext, ws_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = await make_site_key(ctx, "secret")
    gate = asyncio.Event()
    append = ctx.stores.events.append

    async def slow_append(batch: Any) -> int:
        await gate.wait()
        return await append(batch)

    enqueued = []
    enqueue = ctx.ingest.enqueue

    async def counting_enqueue(*args: Any) -> Any:
        enqueued.append(args)
        return await enqueue(*args)

    monkeypatch.setattr(ctx.stores.events, "append", slow_append)
    monkeypatch.setattr(ctx.ingest, "enqueue", counting_enqueue)
    conn = await connect(ws_url, {"X-Api-Key": key.value})
    for n in range(20):
        await conn.write_message(orjson.dumps({"id": n, "events": events(2, f"w{n}-")}).decode())
    # The store is stuck: the server took MAX_IN_FLIGHT messages and holds the next one until a commit
    # acknowledges one of them, so it reads no further.
    await until(lambda: window_full(ctx))
    assert len(enqueued) == ws_collect.MAX_IN_FLIGHT
    assert ctx.ingest.writer.queued <= 2 * ws_collect.MAX_IN_FLIGHT
    gate.set()
    answers = await read_answers(conn, 20)
    assert sorted(answer["ack"] for answer in answers) == list(range(20))
    assert len(enqueued) == 20 and await stored_count(ctx, key.site_id) == 40
    conn.close()


async def test_a_client_that_never_reads_its_acks_stops_being_read(
    http_server: Any, http_server_port: Any, ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = await make_site_key(ctx, "secret")
    unlimited = dataclasses.replace(ctx.ingest.limits, per_connection=1e6, per_key=10**7, per_site=10**7)
    monkeypatch.setattr(ctx.ingest, "limits", unlimited)
    enqueued = []
    enqueue = ctx.ingest.enqueue

    async def counting_enqueue(*args: Any) -> Any:
        enqueued.append(1)
        return await enqueue(*args)

    monkeypatch.setattr(ctx.ingest, "enqueue", counting_enqueue)
    raw = await RawWebSocket.connect(
        http_server_port[1], "/ws/collect", receive_buffer=4096, headers={"X-Api-Key": key.value}
    )
    total = 60_000
    long_id = "x" * 60  # each ack echoes it: ~90 bytes an answer

    async def send_all() -> None:
        # ~1 KB messages: far more than the socket buffers between client and server can hold
        for n in range(total):
            event = {"name": "e", "url": "https://shop.example/" + "p" * 900}
            await raw.send_text(orjson.dumps({"id": f"{long_id}{n}", "events": [event]}).decode())

    sender = asyncio.create_task(send_all())
    try:
        # The client reads nothing: once its acks back up, the server stops reading its messages. What is
        # tested is that the count stops growing, so the test watches it stand still for a second.
        previous = -1
        while len(enqueued) != previous:
            previous = len(enqueued)
            await asyncio.sleep(1.0)
        assert 0 < len(enqueued) < total and not sender.done(), len(enqueued)
        [stream] = list(ctx.sockets)
        assert isinstance(stream, ws_collect.CollectStream) and stream.transport is not None
        # Its unread answers stay near the transport's high-water mark (64 KiB), not thousands of acks.
        assert stream.transport.get_write_buffer_size() < 128 * 1024
        assert await stored_count(ctx, key.site_id) == len(enqueued)  # every message read was stored
    finally:
        sender.cancel()
        raw.writer.close()
