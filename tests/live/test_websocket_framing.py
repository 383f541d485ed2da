"""The lean websocket layer (web/websocket.py) behind `/ws/live`, over real sockets against a running
Eddy: framing rules (masking, reserved bits, opcodes, control frames, fragments, UTF-8, size limit),
ping/pong both ways, the closing handshake, the keepalive's idle and close timeouts, bytes sent before
the 101, handshake refusals, and cleanup when a client vanishes."""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from typing import Any

import orjson
import pytest

from handlers.context import AppContext
from tests.support.live import make_owned_site, make_viewer
from tests.support.until import until
from tests.support.ws_client import RawWebSocket
from tests.support.ws_frames import (
    BINARY,
    CLOSE,
    PING,
    PONG,
    TEXT,
    client_frame,
    close_code_of,
    closed_by_server,
    connection_ended,
    open_live_socket,
    send_raw,
    sockets_gone,
)


async def _authenticated(ctx: AppContext, port: int) -> RawWebSocket:
    raw, _, token = await open_live_socket(ctx, port)
    await raw.send_text(orjson.dumps({"token": token}).decode())
    opcode, payload = await raw.read_frame()
    assert opcode == TEXT and orjson.loads(payload)["type"] == "snapshot"
    return raw


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (client_frame(TEXT, b'{"token": "x"}', masked=False), 1002),  # clients must mask
        (client_frame(TEXT, b"{}", rsv=0x40), 1002),  # no extension was negotiated
        (client_frame(0x3, b"x"), 1002),  # reserved data opcode
        (client_frame(0xB, b""), 1002),  # reserved control opcode
        (client_frame(PING, b"x", fin=False), 1002),  # control frames are never fragmented
        (client_frame(PING, b"x" * 126), 1002),  # nor longer than 125 bytes
        (client_frame(0x0, b"stray"), 1002),  # a continuation with nothing to continue
        (client_frame(CLOSE, b"\x03"), 1002),  # a close payload of one byte
        (client_frame(CLOSE, struct.pack("!H", 999)), 1002),  # codes under 1000 are not used
        (client_frame(CLOSE, struct.pack("!H", 1004)), 1002),  # reserved
        (client_frame(CLOSE, struct.pack("!H", 1005)), 1002),  # "no code": never sent
        (client_frame(CLOSE, struct.pack("!H", 1006)), 1002),  # "abnormal closure": never sent
        (client_frame(CLOSE, struct.pack("!H", 1015)), 1002),  # "TLS failure": never sent
        (client_frame(CLOSE, struct.pack("!H", 2999)), 1002),  # unassigned protocol range
        (client_frame(CLOSE, struct.pack("!H", 5000)), 1002),  # out of range
        (client_frame(CLOSE, struct.pack("!H", 1000) + b"\xff\xfe"), 1007),  # a reason not UTF-8
        (client_frame(TEXT, b"\xff\xfe not utf-8"), 1007),
        (client_frame(TEXT, b"", announced=10 * 1024 * 1024), 1009),  # refused on the header alone
        (client_frame(BINARY, b"\x00\x01"), 4400),  # the live protocol speaks JSON text
    ],
    ids=[
        "unmasked",
        "reserved-bits",
        "reserved-data-opcode",
        "reserved-control-opcode",
        "fragmented-ping",
        "long-ping",
        "stray-continuation",
        "one-byte-close",
        "close-999",
        "close-1004",
        "close-1005",
        "close-1006",
        "close-1015",
        "close-2999",
        "close-5000",
        "close-reason-not-utf8",
        "not-utf8",
        "too-big",
        "binary",
    ],
)
@pytest.mark.reliability
async def test_broken_frames_close_with_their_code(
    ctx: AppContext, port: int, frame: bytes, code: int
) -> None:
    raw, _, _ = await open_live_socket(ctx, port)
    await send_raw(raw, frame)
    assert await closed_by_server(raw) == code
    await sockets_gone(ctx)


@pytest.mark.reliability
@pytest.mark.parametrize("code", [1001, 1014, 3000, 4999])
async def test_close_codes_a_peer_may_send_are_echoed(ctx: AppContext, port: int, code: int) -> None:
    raw, _, _ = await open_live_socket(ctx, port)
    await send_raw(raw, client_frame(CLOSE, struct.pack("!H", code) + "bye ✓".encode()))
    opcode, payload = await raw.read_frame()
    assert opcode == CLOSE and payload == struct.pack("!H", code)
    await connection_ended(raw)
    await sockets_gone(ctx)


async def test_a_message_over_the_limit_in_fragments_closes_with_1009(ctx: AppContext, port: int) -> None:
    raw, _, _ = await open_live_socket(ctx, port)
    chunk = b"x" * 30_000
    await send_raw(raw, client_frame(TEXT, chunk, fin=False) + client_frame(0x0, chunk, fin=False))
    await send_raw(raw, client_frame(0x0, chunk, fin=True))  # 90,000 bytes in all: over 64 KiB
    assert await closed_by_server(raw) == 1009
    await sockets_gone(ctx)


async def test_a_fragmented_message_with_a_ping_between_fragments(ctx: AppContext, port: int) -> None:
    raw, _, token = await open_live_socket(ctx, port)
    message = orjson.dumps({"token": token})
    third = len(message) // 3
    await send_raw(raw, client_frame(TEXT, message[:third], fin=False))
    await send_raw(raw, client_frame(PING, b"between"))  # control frames may come between fragments
    assert await raw.read_frame() == (PONG, b"between")
    await send_raw(raw, client_frame(0x0, message[third : 2 * third], fin=False))
    await send_raw(raw, client_frame(0x0, message[2 * third :], fin=True))
    opcode, payload = await raw.read_frame()
    assert opcode == TEXT and orjson.loads(payload)["type"] == "snapshot"
    # a new message may not start inside a fragmented one
    await send_raw(raw, client_frame(TEXT, b'{"filter"', fin=False) + client_frame(TEXT, b"{}"))
    assert await closed_by_server(raw) == 1002
    await sockets_gone(ctx)


async def test_ping_pong_and_the_closing_handshake(ctx: AppContext, port: int) -> None:
    raw = await _authenticated(ctx, port)
    await send_raw(raw, client_frame(PING, b"are you there"))
    assert await raw.read_frame() == (PONG, b"are you there")
    await send_raw(raw, client_frame(PONG, b"unsolicited"))  # allowed, and ignored
    await send_raw(raw, client_frame(CLOSE, struct.pack("!H", 1000) + b"bye"))
    opcode, payload = await raw.read_frame()
    assert opcode == CLOSE and close_code_of(payload) == 1000  # the code echoed back
    await connection_ended(raw)  # then the server ends TCP
    await sockets_gone(ctx)
    assert ctx.live.hub.watched_sites() == []


@pytest.mark.reliability
async def test_the_server_pings_and_ends_an_idle_socket_that_stops_answering(
    ctx: AppContext, port: int
) -> None:
    ctx.websockets.ping_interval = 0.3
    ctx.websockets.ping_timeout = 0.6
    ctx.websockets.tick = 0.05
    raw = await _authenticated(ctx, port)
    opcode, payload = await raw.read_frame(timeout=3)
    assert (opcode, payload) == (PING, b"")
    await send_raw(raw, client_frame(PONG, payload))
    # answered: it stays open and is pinged again once quiet for the interval
    assert (await raw.read_frame(timeout=3))[0] == PING
    assert len(ctx.sockets) == 1
    # not answered: closed once the timeout has passed
    assert await closed_by_server(raw) == 1001
    await sockets_gone(ctx)


async def test_a_client_that_never_finishes_the_closing_handshake_is_cut_off(
    ctx: AppContext, port: int
) -> None:
    ctx.websockets.close_timeout = 0.3
    ctx.websockets.tick = 0.05
    raw, _, _ = await open_live_socket(ctx, port)
    await raw.send_text("not json")
    assert await raw.read_close_code() == 4400
    # we never send our close frame: the server drops the connection after its close timeout
    await connection_ended(raw)
    await sockets_gone(ctx)


async def test_frames_sent_right_behind_the_upgrade_request_are_read(ctx: AppContext, port: int) -> None:
    owner = await make_viewer(ctx)
    site_id = await make_owned_site(ctx, owner)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /ws/live?site_id={site_id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    # the token frame in the same segment as the request, before the 101 was seen
    writer.write(request + client_frame(TEXT, orjson.dumps({"token": owner.token})))
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101")
    raw = RawWebSocket(reader, writer)
    opcode, payload = await raw.read_frame()
    assert opcode == TEXT and orjson.loads(payload)["type"] == "snapshot"
    raw.abort()
    await sockets_gone(ctx)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n", 400),  # no key
        (
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: c2hvcnQ=\r\n"
            "Sec-WebSocket-Version: 13\r\n",
            400,
        ),  # a key that is not 16 bytes
        (
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"
            "Sec-WebSocket-Version: 8\r\n",
            426,
        ),
        ("Connection: keep-alive\r\n", 400),  # no upgrade at all
    ],
    ids=["no-key", "short-key", "version-8", "no-upgrade"],
)
async def test_bad_upgrade_requests_are_answered_over_http(
    ctx: AppContext, port: int, headers: str, status: int
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /ws/live?site_id=abc HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}\r\n".encode())
    await writer.drain()
    head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).decode()
    assert head.startswith(f"HTTP/1.1 {status} ")
    if status == 426:
        assert "sec-websocket-version: 13" in head.lower()
    writer.close()
    assert len(ctx.sockets) == 0


async def test_a_client_vanishing_mid_message_is_cleaned_up(ctx: AppContext, port: int) -> None:
    raw = await _authenticated(ctx, port)
    assert len(ctx.live.hub.watched_sites()) == 1
    await send_raw(raw, client_frame(TEXT, b'{"filter": {"name"', fin=False))
    await send_raw(raw, client_frame(0x0, b"x" * 1000, fin=False)[:500])  # half a frame, then gone
    raw.abort()
    await sockets_gone(ctx)
    await until(lambda: ctx.live.hub.watched_sites() == [])


async def test_many_messages_in_one_segment_are_handled_in_order(ctx: AppContext, port: int) -> Any:
    raw, _, token = await open_live_socket(ctx, port)
    # authentication is asynchronous: the filter behind it must wait for it, not overtake it
    batch = client_frame(TEXT, orjson.dumps({"token": token}))
    batch += client_frame(TEXT, orjson.dumps({"filter": {"country": "se"}}))
    batch += client_frame(PING, b"last")
    await send_raw(raw, batch)
    first = await raw.read_frame()
    assert first[0] == TEXT and orjson.loads(first[1])["type"] == "snapshot"
    second = await raw.read_frame()
    assert second[0] == TEXT and orjson.loads(second[1])["type"] == "snapshot"
    assert await raw.read_frame() == (PONG, b"last")
    raw.abort()
    await sockets_gone(ctx)
