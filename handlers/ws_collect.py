"""`WS /ws/collect?k=KEY`: a stream of event batches. Client `{id, events: [...]}` → server
`{ack: id, accepted}` or `{nack: id, error: {code, message}, retry_after?}`.

The key is checked before the upgrade: a public key in `k` (browsers cannot set headers on a websocket)
must come from one of its site's allowed origins; a secret key (servers) comes in `X-Api-Key` with no
Origin. Tornado's ping/timeout/max-message settings apply (a message over the limit closes with 1009).
Pipelining with backpressure: a client may send up to MAX_IN_FLIGHT messages before their acks come
back (over a 50 ms round trip one message at a time would cap a stream at 20 messages/s). Each message
is checked, enriched and queued for the group commit in the order it came; its ack is sent once its
commit is durable, so acks of messages sharing a commit may come in any order: they carry the message's
id. With MAX_IN_FLIGHT messages awaiting their commit, `on_message` waits for one, and Tornado reads
nothing more from the socket meanwhile: a client never outruns the writer. A per-connection token bucket
bounds the message rate; connections are capped per client address.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import orjson
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from domain.accounts.principals import KeyPrincipal
from domain.errors import DomainError, RateLimited, Unavailable
from domain.ingest.decode import decode_message
from domain.ingest.enrich import Sender
from domain.ingest.pipeline import Pending
from handlers.base import BaseHandler
from handlers.policy import public

MAX_IN_FLIGHT = 8  # messages queued for the group commit and not yet acknowledged, per connection


class CollectSocket(WebSocketHandler, BaseHandler):
    """One tracker or server stream."""

    def initialize(self) -> None:
        self.principal: KeyPrincipal | None = None
        self._sender = Sender("", "")
        self._admitted = False
        self._rate = self.ctx.ingest.limits.per_connection  # messages per second, a burst of twice that
        self._tokens = 2 * self._rate
        self._refilled = time.monotonic()
        self._awaiting: set[asyncio.Task[None]] = set()  # one per message awaiting its commit

    async def prepare(self) -> None:
        """Authenticate and check the origin before the upgrade (401/403 as JSON)."""
        headers = self.request.headers
        header_key = headers.get("X-Api-Key")
        raw_key = header_key or self.get_query_argument("k", None)
        origin = headers.get("Origin")
        self._sender = Sender(self.request.remote_ip or "", headers.get("User-Agent", ""), origin)
        try:
            self.principal = await self.ctx.ingest.authorize(raw_key, origin, in_url_or_body=not header_key)
        except DomainError as error:
            if error.code == "bad_origin":
                self.ctx.ingest.drop("bad_origin")
            self.set_status(error.status)
            self.set_header("Content-Type", "application/json; charset=utf-8")
            self.finish(orjson.dumps({"error": {"code": error.code, "message": error.message}}))

    @public
    async def get(self, *args: Any, **kwargs: Any) -> None:
        await super().get(*args, **kwargs)

    def check_origin(self, origin: str) -> bool:
        # prepare() already held a public key to its site's origins; secret keys come without a browser.
        return self.principal is not None

    def open(self, *args: str, **kwargs: str) -> None:
        if not self.ctx.sockets.admit(self, self._sender.ip):
            self.close(1008, "too many connections from this address")
            return
        self._admitted = True
        self.ctx.metrics.websocket_connections.labels("collect").inc()

    def on_close(self) -> None:
        if self._admitted:
            self._admitted = False
            self.ctx.sockets.discard(self)
            self.ctx.metrics.websocket_connections.labels("collect").dec()

    async def on_message(self, message: str | bytes) -> None:
        principal = self.principal
        if principal is None or not self._admitted:
            return
        message_id: Any = None
        try:
            self._take_token()
            try:
                decoded = decode_message(message)
            except DomainError:
                self.ctx.ingest.drop("invalid")
                raise
            message_id = decoded.id
            pending = await self.ctx.ingest.enqueue(principal, decoded.events, self._sender)
        except DomainError as error:
            await self._send(_nack(error, message_id if message_id is not None else _guess_id(message)))
            return
        task = asyncio.create_task(self._ack_when_durable(message_id, pending))
        self._awaiting.add(task)
        task.add_done_callback(self._awaiting.discard)
        if len(self._awaiting) >= MAX_IN_FLIGHT:
            # Tornado reads the next message only once this returns: the window is full.
            await asyncio.wait(self._awaiting, return_when=asyncio.FIRST_COMPLETED)

    async def _ack_when_durable(self, message_id: Any, pending: Pending) -> None:
        try:
            accepted = await pending.durable()
        except DomainError as error:
            await self._send(_nack(error, message_id))
            return
        await self._send({"ack": message_id, "accepted": accepted})

    def _take_token(self) -> None:
        now = time.monotonic()
        self._tokens = min(2 * self._rate, self._tokens + (now - self._refilled) * self._rate)
        self._refilled = now
        if self._tokens < 1.0:
            self.ctx.ingest.drop("rate_limited")
            raise RateLimited((1.0 - self._tokens) / self._rate, "too many messages on this connection")
        self._tokens -= 1.0

    async def _send(self, answer: dict[str, Any]) -> None:
        with contextlib.suppress(WebSocketClosedError):  # the client left; its events are durable anyway
            await self.write_message(orjson.dumps(answer).decode())


def _nack(error: DomainError, message_id: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.fields:
        body["fields"] = error.fields
    answer: dict[str, Any] = {"nack": message_id, "error": body}
    if isinstance(error, RateLimited | Unavailable):
        answer["retry_after"] = error.retry_after
    return answer


def _guess_id(message: str | bytes) -> Any:
    """The `id` of a message that failed validation, if one can be read, so the nack names it."""
    try:
        data = orjson.loads(message)
    except orjson.JSONDecodeError:
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, str | int) and not isinstance(value, bool) else None


default_handlers = [(r"/ws/collect", CollectSocket)]
