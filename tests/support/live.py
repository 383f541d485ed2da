"""Helpers for the live dashboard tests: users with a live session and their sites written straight into
the document store, events fed through the ingest listener hook, and a raw websocket client that can stop
reading (a slow consumer) or vanish without a closing handshake (an abrupt disconnect)."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from server.context import AppContext
from storage.records import Event


@dataclass
class Viewer:
    """A user with a live session, and an access token for it."""

    user_id: str
    session: str
    token: str


async def make_viewer(ctx: AppContext, *, token_issued_at: float | None = None) -> Viewer:
    """A user and a live refresh family (session); the token may be issued in the past (expired)."""
    user_id = uuid.uuid4().hex
    session = uuid.uuid4().hex
    now = time.time()
    await ctx.stores.docs.insert(
        "users",
        {
            "id": user_id,
            "email": f"{user_id}@example.com",
            "name": "Viewer",
            "password_hash": "",
            "created_at": now,
            "password_changed_at": now,
        },
    )
    await ctx.stores.docs.insert(
        "refresh_families",
        {
            "id": session,
            "user_id": user_id,
            "current_jti": uuid.uuid4().hex,
            "revoked": False,
            "created_at": now,
            "expires_at": now + 3600,
        },
    )
    return Viewer(user_id, session, ctx.tokens.issue_access(user_id, session, now=token_issued_at))


async def make_owned_site(ctx: AppContext, owner: Viewer) -> str:
    """A site owned by `owner`; returns its id."""
    site_id = uuid.uuid4().hex
    now = time.time()
    await ctx.stores.docs.insert(
        "sites",
        {
            "id": site_id,
            "owner_id": owner.user_id,
            "name": "Shop",
            "domain": "shop.example",
            "allowed_origins": ["https://shop.example"],
            "timezone": "UTC",
            "retention_days": 400,
            "created_at": now,
            "updated_at": now,
        },
    )
    return site_id


def event(site_id: str, **fields: Any) -> Event:
    """An enriched event as the ingest pipeline would store it (now, a pageview of / by default)."""
    values: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "site_id": site_id,
        "ts": int(time.time() * 1000),
        "name": "pageview",
        "path": "/",
        "url": "https://shop.example/",
        "visitor_id": "v1",
        "source": "",
        "country": "",
    }
    values.update(fields)
    return Event(**values)


def ingest(ctx: AppContext, events: list[Event]) -> None:
    """Hand a batch to every listener, as the writer does once a batch is durable."""
    for listener in ctx.event_listeners:
        listener(events)


async def dashboard(
    port: int, site_id: str, token: str | None = None, *, origin: str | None = None
) -> WebSocketClientConnection:
    """A websocket to /ws/live for a site, authenticated with `token` when given."""
    headers = {"Origin": origin} if origin else {}
    request = HTTPRequest(f"ws://127.0.0.1:{port}/ws/live?site_id={site_id}", headers=headers)
    conn = await websocket_connect(request)
    if token is not None:
        await conn.write_message(orjson.dumps({"token": token}).decode())
    return conn


async def receive(conn: WebSocketClientConnection, timeout: float = 5.0) -> dict[str, Any] | None:
    """The next message as JSON; None when the server closed the socket."""
    message = await asyncio.wait_for(conn.read_message(), timeout)
    return None if message is None else orjson.loads(message)


async def receive_until(
    conn: WebSocketClientConnection, predicate: Any, timeout: float = 5.0
) -> dict[str, Any]:
    """Read messages until one satisfies `predicate`; fails on close or timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise AssertionError("no matching live message in time")
        message = await receive(conn, left)
        assert message is not None, f"closed: {conn.close_code} {conn.close_reason}"
        if predicate(message):
            return message


class RawWebSocket:
    """A minimal websocket client over a plain socket: it reads only when asked."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(
        cls,
        port: int,
        path: str,
        *,
        receive_buffer: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> RawWebSocket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:
            # Before connect, so the advertised window stays small and the server's writes back up.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=1024)
        key = base64.b64encode(os.urandom(16)).decode()
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
            ).encode()
        )
        status = await reader.readuntil(b"\r\n\r\n")
        assert status.startswith(b"HTTP/1.1 101"), status
        return cls(reader, writer)

    async def send_text(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        header = bytes([0x81])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        else:
            header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(header + mask + masked)
        await self.writer.drain()

    async def read_frame(self, timeout: float = 5.0) -> tuple[int, bytes]:
        """(opcode, payload) of the next frame (the server never fragments these small messages)."""

        async def read() -> tuple[int, bytes]:
            first, second = await self.reader.readexactly(2)
            length = second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
            return first & 0x0F, await self.reader.readexactly(length)

        return await asyncio.wait_for(read(), timeout)

    async def read_close_code(self, timeout: float = 10.0) -> int:
        """Skip data frames up to the close frame; its status code."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            opcode, payload = await self.read_frame(deadline - asyncio.get_running_loop().time())
            if opcode == 0x8:
                return int(struct.unpack("!H", payload[:2])[0])

    def abort(self) -> None:
        """Vanish: reset the connection without a closing handshake."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()
