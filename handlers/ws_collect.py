"""`WS /ws/collect?k=KEY`: a stream of event batches. Client `{id, events: [...]}` → server
`{ack: id, accepted}` or `{nack: id, error: {code, message}, retry_after?}`.

The key is checked before the upgrade: a public key in `k` (browsers cannot set headers on a websocket)
must come from one of its site's allowed origins; a secret key (servers) comes in `X-Api-Key` with no
Origin. After the 101 the lean websocket layer (`web/websocket.py`) serves the connection: its
keep-alive sweep pings and times out idle streams, and a message over MAX_MESSAGE_BYTES closes with 1009
before its payload is buffered.
Pipelining with backpressure: a client may send up to MAX_IN_FLIGHT messages before their acks come
back (over a 50 ms round trip one message at a time would cap a stream at 20 messages/s). Each message
is checked, enriched and queued for the group commit in the order it came; its ack is sent once its
commit is durable, so acks of messages sharing a commit may come in any order: they carry the message's
id. With MAX_IN_FLIGHT messages awaiting their commit (or their ack waiting for a client that does not
read), the next message waits, and once web/websocket.py's READ_AHEAD_BYTES wait behind it, reading
from the socket pauses: a client never outruns the writer. A per-connection token bucket
bounds the message rate (nacks past it), the websocket layer the frame rate (close 1008 past the larger
of FRAMES_PER_S and four frames per allowed message); connections are capped per client address.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable
from typing import Any

import orjson

from domain.accounts.principals import KeyPrincipal
from domain.errors import DomainError, RateLimited, Unavailable
from domain.ingest.decode import Message, decode_message
from domain.ingest.enrich import Sender
from handlers.base import BaseHandler
from handlers.context import AppContext
from handlers.cross_origin import sender_of
from handlers.policy import public
from runtime.metrics import DropReason, SocketKind
from web.websocket import FRAMES_PER_S, WebSocket, take_over

MAX_IN_FLIGHT = 8  # messages queued for the group commit and not yet acknowledged, per connection
MAX_MESSAGE_BYTES = 256 * 1024
CLOSE_POLICY_VIOLATION = 1008


class CollectStream(WebSocket):
    """One tracker or server stream once upgraded."""

    __slots__ = (
        "_admitted",
        "_in_flight",
        "_rate",
        "_refilled",
        "_tokens",
        "_window",
        "ctx",
        "principal",
        "sender",
    )

    def __init__(self, ctx: AppContext, principal: KeyPrincipal, sender: Sender) -> None:
        rate = ctx.ingest.limits.per_connection  # messages per second, a burst of twice that
        # Frames (pings, fragments) are capped per second too: at least four per allowed message.
        super().__init__(ctx.websockets, MAX_MESSAGE_BYTES, frame_rate=max(FRAMES_PER_S, 4 * rate))
        self.ctx = ctx
        self.principal = principal
        self.sender = sender
        self._admitted = False
        self._rate = rate
        self._tokens = 2 * self._rate
        self._refilled = time.monotonic()
        self._in_flight = 0  # messages awaiting their commit, or their ack's way to a slow client
        self._window: asyncio.Future[None] | None = None  # set while a full window holds the next message

    def on_open(self) -> None:
        if not self.ctx.sockets.admit(self, self.sender.ip):
            self.close(CLOSE_POLICY_VIOLATION, "too many connections from this address")
            return
        self._admitted = True
        self.ctx.metrics.websocket_connections.labels(SocketKind.COLLECT).inc()

    def on_closed(self) -> None:
        if self._admitted:
            self._admitted = False
            self.ctx.sockets.discard(self)
            self.ctx.metrics.websocket_connections.labels(SocketKind.COLLECT).dec()

    def on_text(self, text: str) -> Awaitable[None] | None:
        if not self._admitted:
            return None
        try:
            self._take_token()
            try:
                decoded = decode_message(text)
            except DomainError:
                self.ctx.ingest.drop(DropReason.INVALID)
                raise
        except DomainError as error:
            # While the client's buffer is backed up, the returned future holds reading back.
            return self._answer(_nack(error, _guess_id(text)))
        # Reading pauses until this returns: the next message is enriched after this one is queued.
        return self._enqueue(decoded)

    async def _enqueue(self, message: Message) -> None:
        try:
            pending = await self.ctx.ingest.enqueue(self.principal, message.events, self.sender)
        except DomainError as error:
            drained = self._answer(_nack(error, message.id))
            if drained is not None:
                await drained
            return
        self._in_flight += 1
        # A callback, not a task per message: the acks of a whole commit go out in one pass.
        pending.when_durable(functools.partial(self._acknowledge, message.id))
        if self._in_flight >= MAX_IN_FLIGHT:
            self._window = asyncio.get_running_loop().create_future()
            await self._window

    def _acknowledge(self, message_id: Any, outcome: int | DomainError) -> None:
        if isinstance(outcome, DomainError):
            drained = self._answer(_nack(outcome, message_id))
        else:
            drained = self._answer({"ack": message_id, "accepted": outcome})
        if drained is None:
            self._release()
        else:  # the client is not reading: this message keeps its place in the window
            drained.add_done_callback(lambda _: self._release())

    def _release(self) -> None:
        self._in_flight -= 1
        window = self._window
        if window is not None and self._in_flight < MAX_IN_FLIGHT:
            self._window = None
            if not window.done():
                window.set_result(None)

    def _take_token(self) -> None:
        now = time.monotonic()
        self._tokens = min(2 * self._rate, self._tokens + (now - self._refilled) * self._rate)
        self._refilled = now
        if self._tokens < 1.0:
            self.ctx.ingest.drop(DropReason.RATE_LIMITED)
            raise RateLimited((1.0 - self._tokens) / self._rate, "too many messages on this connection")
        self._tokens -= 1.0

    def _answer(self, answer: dict[str, Any]) -> asyncio.Future[None] | None:
        """Send an ack or nack; a future while the client's buffer is backed up. A client that left
        gets nothing: its acknowledged events are durable anyway."""
        if not self.open:
            return None
        with contextlib.suppress(ConnectionError):
            return self.send_text(orjson.dumps(answer).decode())
        return None


class CollectSocketHandler(BaseHandler):
    """Checks the key and origin of the upgrade request (401/403 as JSON), answers 101 and hands the
    connection to a `CollectStream`."""

    async def prepare(self) -> None:
        headers = self.request.headers
        header_key = headers.get("X-Api-Key")
        raw_key = header_key or self.get_query_argument("k", None)
        origin = headers.get("Origin")
        self.sender = sender_of(headers, self.request.remote_ip)
        try:
            self.principal = await self.ctx.ingest.authorize(raw_key, origin, in_url_or_body=not header_key)
        except DomainError as error:
            if error.code == "bad_origin":
                self.ctx.ingest.drop(DropReason.BAD_ORIGIN)
            self.set_status(error.status)
            self.set_header("Content-Type", "application/json; charset=utf-8")
            self.finish(orjson.dumps({"error": {"code": error.code, "message": error.message}}))

    @public
    async def get(self) -> None:
        await take_over(self, CollectStream(self.ctx, self.principal, self.sender))


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


default_handlers = [(r"/ws/collect", CollectSocketHandler)]
