"""Websocket frames written by hand, for the tests of the lean websocket layer (web/websocket.py): a
client frame with any flaw, a raw socket to /ws/live of a fresh site, and the server's closing of it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct

from handlers.context import AppContext
from tests.support.live import make_owned_site, make_viewer
from tests.support.until import until
from tests.support.ws_client import RawWebSocket
from web import ws_codec
from web.tornado_private import websocket_mask

TEXT, BINARY, CLOSE, PING, PONG = (
    ws_codec.OP_TEXT,
    ws_codec.OP_BINARY,
    ws_codec.OP_CLOSE,
    ws_codec.OP_PING,
    ws_codec.OP_PONG,
)


def client_frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    masked: bool = True,
    rsv: int = 0,
    announced: int | None = None,
) -> bytes:
    """A client frame, masked unless told otherwise; `announced` lies about the payload length."""
    length = len(payload) if announced is None else announced
    head = ws_codec.frame_header(opcode, length, fin=fin, masked=masked, rsv=rsv)
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + websocket_mask(mask, payload)


def close_code_of(payload: bytes) -> int:
    """The code of a close frame's payload."""
    return int(struct.unpack("!H", payload[:2])[0])


async def open_live_socket(ctx: AppContext, port: int) -> tuple[RawWebSocket, str, str]:
    """An unauthenticated raw socket to /ws/live of a fresh site; (socket, site id, token)."""
    owner = await make_viewer(ctx)
    site_id = await make_owned_site(ctx, owner)
    raw = await RawWebSocket.connect(port, f"/ws/live?site_id={site_id}")
    await until(lambda: len(ctx.sockets) == 1)
    return raw, site_id, owner.token


async def send_raw(raw: RawWebSocket, data: bytes) -> None:
    """Write bytes as they are (frames built by the test) and wait until they are sent."""
    raw.writer.write(data)
    await raw.writer.drain()


async def connection_ended(raw: RawWebSocket) -> None:
    """The server ended the TCP connection (a FIN, or a reset once it has closed its side)."""
    with contextlib.suppress(ConnectionResetError):
        assert await asyncio.wait_for(raw.reader.read(), 5) == b""
    raw.writer.close()


async def closed_by_server(raw: RawWebSocket) -> int:
    """The close code the server sent; we answer it, as a client should, and the connection ends."""
    code = await raw.read_close_code()
    raw.writer.write(client_frame(CLOSE, struct.pack("!H", code)))
    await connection_ended(raw)
    return code


async def sockets_gone(ctx: AppContext) -> None:
    """Wait until the server holds no socket any more (registry and keepalive both)."""
    await until(lambda: len(ctx.sockets) == 0 and len(ctx.websockets) == 0)
