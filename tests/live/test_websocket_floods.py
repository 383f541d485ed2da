"""Floods against the lean websocket layer (web/websocket.py), rows H1 and H2 of the attack review:
a message in endless empty fragments, a flood of frames, and a ping flood from a client that never
reads. Raw sockets against a running Eddy, on `/ws/live` and `/ws/collect`, unauthenticated and
signed in."""

from __future__ import annotations

import asyncio
import contextlib
import struct

import orjson
import pytest

from handlers import live as live_handlers
from handlers.context import AppContext
from tests.support.ingest_sites import make_site_key
from tests.support.live import make_owned_site, make_viewer
from tests.support.until import until
from tests.support.ws_client import RawWebSocket
from tests.support.ws_frames import (
    CLOSE,
    PING,
    TEXT,
    client_frame,
    closed_by_server,
    open_live_socket,
    send_raw,
    sockets_gone,
)
from web import websocket, ws_codec

pytestmark = pytest.mark.reliability

CONTINUATION = 0x0
EMPTY_CONTINUATION = client_frame(CONTINUATION, b"", fin=False)  # 6 bytes: header and mask


async def _collect(ctx: AppContext, port: int) -> RawWebSocket:
    key = await make_site_key(ctx, "secret")
    raw = await RawWebSocket.connect(port, "/ws/collect", headers={"X-Api-Key": key.value})
    await _until_sockets(ctx, 1)
    return raw


async def _until_sockets(ctx: AppContext, count: int) -> None:
    await until(lambda: len(ctx.sockets) == count, message="socket not registered in time")


@pytest.mark.parametrize("path", ["live", "collect"])
async def test_h1_empty_continuation_flood_closes_with_1009(ctx: AppContext, port: int, path: str) -> None:
    # The attack: a text frame with FIN=0, then 24,000 empty continuation frames (141 KiB). Before, every
    # frame summed the length of all earlier fragments (quadratic: a 15 s stall of the whole server);
    # now the message is refused once it passes MAX_FRAGMENTS frames.
    raw = (await open_live_socket(ctx, port))[0] if path == "live" else await _collect(ctx, port)
    flood = client_frame(TEXT, b"{", fin=False) + EMPTY_CONTINUATION * 24_000
    raw.writer.write(flood)
    assert await closed_by_server(raw) == 1009
    await sockets_gone(ctx)


async def test_h1_a_message_in_the_most_fragments_allowed_is_assembled(ctx: AppContext, port: int) -> None:
    raw, _, token = await open_live_socket(ctx, port)
    message = orjson.dumps({"token": token})
    middle = EMPTY_CONTINUATION * (ws_codec.MAX_FRAGMENTS - 2)
    await send_raw(
        raw,
        client_frame(TEXT, message[:10], fin=False) + middle + client_frame(CONTINUATION, message[10:]),
    )
    opcode, payload = await raw.read_frame()
    assert opcode == TEXT and orjson.loads(payload)["type"] == "snapshot"
    # one fragment more is refused
    await send_raw(raw, client_frame(TEXT, b"{", fin=False) + EMPTY_CONTINUATION * ws_codec.MAX_FRAGMENTS)
    assert await closed_by_server(raw) == 1009
    await sockets_gone(ctx)


@pytest.mark.parametrize("path", ["live", "collect"])
async def test_h1_frame_flood_closes_with_1008(ctx: AppContext, port: int, path: str) -> None:
    # Whole frames cost little each, but a client may send only FRAMES_PER_S of them a second.
    raw = (await open_live_socket(ctx, port))[0] if path == "live" else await _collect(ctx, port)
    raw.writer.write(client_frame(PING, b"") * (3 * websocket.FRAMES_PER_S))
    assert await closed_by_server(raw) == 1008  # the pongs before it are skipped
    await sockets_gone(ctx)


def _backlog(ctx: AppContext) -> int:
    """Bytes the server's websockets hold for their clients, in user space."""
    total = 0
    for ws in list(ctx.websockets._sockets):
        if ws.transport is not None:
            total += ws.transport.get_write_buffer_size()
    return total


@pytest.mark.parametrize("signed_in", [False, True], ids=["unauthenticated", "signed-in"])
async def test_h2_ping_flood_from_a_client_that_never_reads(
    ctx: AppContext, port: int, monkeypatch: pytest.MonkeyPatch, signed_in: bool
) -> None:
    # Before, a pong was written for every ping whatever the output backlog: 16 MiB of pings left
    # megabytes of pongs in the server's memory. Now reading stops (and pings go unanswered) while the
    # backlog is over the high-water mark, and a backlog that stays is closed with 1008.
    monkeypatch.setattr(websocket, "FRAMES_PER_S", 10**9, raising=False)  # the backlog rule alone
    monkeypatch.setattr(live_handlers, "AUTH_TIMEOUT_S", 60.0)  # not "no token in time" first
    ctx.websockets.ping_timeout = 1.0
    ctx.websockets.tick = 0.05
    owner_raw, _, token = await _open_small(ctx, port)
    if signed_in:  # a dashboard: its snapshot comes, then ticks it never reads
        await owner_raw.send_text(orjson.dumps({"token": token}).decode())
        opcode, payload = await owner_raw.read_frame()
        assert opcode == TEXT and orjson.loads(payload)["type"] == "snapshot"
    peak = 0

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, _backlog(ctx))
            await asyncio.sleep(0.005)  # the sampling period of the measurement

    sampler = asyncio.create_task(sample())
    ping = client_frame(PING, b"p" * 125)
    chunk = ping * 500  # 65 KiB
    sent = 0
    try:
        while sent < 16 * 1024 * 1024:
            owner_raw.writer.write(chunk)
            try:
                await asyncio.wait_for(owner_raw.writer.drain(), 0.5)
            except TimeoutError:
                break  # the server stopped reading
            sent += len(chunk)
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
    assert sent < 16 * 1024 * 1024, "the server kept reading pings nobody could answer"
    assert peak < 512 * 1024, f"{peak} bytes of pongs held for a client that does not read"
    # The backlog outlives the keepalive's ping timeout: closed with 1008 (before the client reads again:
    # a client that reads is served again), and the close frame comes behind the pongs.
    [server_side] = list(ctx.websockets._sockets)
    await until(lambda: server_side.close_code is not None, timeout=10)
    assert server_side.close_code == 1008
    assert await owner_raw.read_close_code(timeout=15) == 1008
    owner_raw.writer.write(client_frame(CLOSE, struct.pack("!H", 1008)))
    owner_raw.abort()
    await sockets_gone(ctx)


async def _open_small(ctx: AppContext, port: int) -> tuple[RawWebSocket, str, str]:
    """Like `open_live_socket`, with a 4 KiB receive buffer so the server's writes back up at once."""
    owner = await make_viewer(ctx)
    site_id = await make_owned_site(ctx, owner)
    before = len(ctx.sockets)
    raw = await RawWebSocket.connect(port, f"/ws/live?site_id={site_id}", receive_buffer=4096)
    await _until_sockets(ctx, before + 1)
    return raw, site_id, owner.token
