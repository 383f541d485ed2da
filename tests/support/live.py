"""Helpers for the live dashboard tests: users with a live session and their sites written straight into
the document store, events fed through the ingest listener hook, and dashboards over Tornado's websocket
client. The raw client that can stop reading (a slow consumer) or vanish without a closing handshake is
tests/support/ws_client.py."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from handlers.context import AppContext
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


async def watching(port: int, site_id: str, token: str) -> WebSocketClientConnection:
    """A dashboard websocket that has received its snapshot."""
    conn = await dashboard(port, site_id, token)
    assert (await receive(conn) or {}).get("type") == "snapshot"
    return conn


async def closed_with(conn: WebSocketClientConnection, timeout: float = 5.0) -> tuple[int | None, str | None]:
    """Read until the server closes the socket; its close code and reason."""
    while await asyncio.wait_for(conn.read_message(), timeout) is not None:
        pass
    conn.close()
    return conn.close_code, conn.close_reason


class SseStream:
    """A live stream over server-sent events (`GET .../live/stream`), read as raw HTTP."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, site_id: str, token: str) -> SseStream:
        """Open the stream of a site with `token` and wait for its snapshot."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            f"GET /api/v1/sites/{site_id}/live/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\n\r\n".encode()
        )
        await asyncio.wait_for(reader.readuntil(b"event: snapshot"), 5)
        return cls(reader, writer)

    async def ended(self) -> None:
        """Wait for the server to end the stream (the last chunk), then close the connection."""
        await asyncio.wait_for(self.reader.readuntil(b"\r\n0\r\n\r\n"), 5)
        self.writer.close()


async def still_streams(ctx: AppContext, site_id: str, conn: WebSocketClientConnection) -> None:
    """Check that a dashboard still gets the site's new events, then close it."""
    ingest(ctx, [event(site_id, path="/still")])
    tick = await receive_until(conn, lambda m: m["type"] == "tick" and m["recent"])
    assert tick["recent"][0]["path"] == "/still"
    conn.close()
