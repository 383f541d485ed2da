"""A lean server side of RFC 6455 for many long-lived, mostly idle sockets (the live dashboards).

Tornado answers the HTTP request (routing, Origin check, access log, the 101 response); `take_over` then
moves the TCP connection to a `WebSocket`, a plain asyncio Protocol. Per connection there is one slotted
object, its codec's `Decoder` and the event loop's transport: no Tornado connection, request or stream
buffers, no task and no timer. One `Keepalive` per process sweeps every socket on a short tick instead:
it pings sockets that have been quiet for `ping_interval`, closes those whose pong does not come within
`ping_timeout`, fires each socket's own deadline (used for authentication and token expiry), and aborts
sockets whose closing handshake does not finish within `close_timeout`.

Framing is web/ws_codec.py (sans-I/O, shared with Eddy's websocket clients): its `Decoder` refuses
unmasked client frames, reserved bits, unknown opcodes, fragmented or oversized control frames and
misplaced continuation frames (1002), text that is not UTF-8 (1007), a message (all its fragments) over
`max_message` as soon as a frame header announces it, before its payload is buffered (1009), and close
frames with a code a peer may not send (1002) or a reason that is not UTF-8 (1007). No extensions are
negotiated (no compression).

Floods (bounded per socket, whatever the client does):
- a message of more than MAX_FRAGMENTS frames closes with 1009 (the codec keeps the fragments' length
  as a running sum, so a message costs time linear in its frames);
- frames of any kind (pings and empty continuations included) are paid from a budget refilled at
  `frame_rate` per second, one second's worth at most: a client past it is closed with 1008;
- while the output backlog is over the transport's high-water mark (the client does not read), reading
  pauses and pings are not answered (the most recent one is answered once the backlog drains, as RFC
  6455 allows); a backlog still there after the keepalive's `ping_timeout`, or one over
  MAX_BACKLOG_BYTES, closes with 1008.
The take-over duplicates the socket's descriptor, so it serves plain TCP only: Eddy serves HTTP and
leaves TLS to the proxy in front of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from tornado.web import RequestHandler

from web.tornado_private import buffered_bytes
from web.ws_codec import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL_ERROR,
    CLOSE_INVALID_DATA,
    CLOSE_NORMAL,
    CLOSE_POLICY_VIOLATION,
    FRAGMENT,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    PING_FRAME,
    Decoder,
    HandshakeError,
    ProtocolError,
    check_upgrade,
    close_frame,
    encode_frame,
    text_frame,
)

log = logging.getLogger("eddy.websocket")

_OPEN, _CLOSING, _CLOSED = 0, 1, 2
# Keep-alive: a ping after 20 s of quiet, closed when its pong is 20 s late; a close handshake gets 5 s.
PING_INTERVAL_S = 20.0
PING_TIMEOUT_S = 20.0
CLOSE_TIMEOUT_S = 5.0
SWEEP_S = 0.5  # deadlines (authentication, token expiry) fire at most this late
READ_AHEAD_BYTES = 64 * 1024  # received and not yet handled while a message's work runs; then reading pauses
FRAMES_PER_S = 1000  # frames a socket may send per second, bursts of one second's worth
MAX_BACKLOG_BYTES = 1024 * 1024  # output waiting for a client that does not read: past it, close 1008


async def take_over(handler: RequestHandler, ws: WebSocket) -> bool:
    """Answer the upgrade with 101 and move the connection from Tornado to `ws` (which then gets
    `on_open`); False when the request was refused (the handler has answered it) or the client left."""
    try:
        accept = check_upgrade(handler.request.headers)
    except HandshakeError as error:
        handler.set_status(error.status)
        if error.status == 426:
            handler.set_header("Sec-WebSocket-Version", "13")
        handler.finish(error.message)
        return False
    handler.clear_header("Content-Type")
    handler.set_status(101)
    handler.set_header("Upgrade", "websocket")
    handler.set_header("Connection", "Upgrade")
    handler.set_header("Sec-WebSocket-Accept", accept)
    flushed = handler.finish()
    # Detach at once, as Tornado's own websocket does, before the connection starts reading a next request.
    stream = handler.request.connection.detach()  # type: ignore[attr-defined]
    try:
        await flushed
    except Exception:  # noqa: BLE001 - the client left during the handshake
        stream.close()
        return False
    if stream.closed():
        return False
    # Bytes the client sent right behind its request (frames before it saw the 101) are in Tornado's buffer.
    early = buffered_bytes(stream)
    fd = os.dup(stream.socket.fileno())
    stream.close()  # closes Tornado's descriptor; the duplicate keeps the connection
    sock = socket.socket(fileno=fd)
    try:
        await asyncio.get_running_loop().connect_accepted_socket(lambda: ws, sock=sock)
    except Exception as error:  # noqa: BLE001 - e.g. the client reset the connection meanwhile
        log.debug("websocket take-over failed: %s", error)
        sock.close()
        return False
    if early:
        ws.data_received(early)
    return True


@dataclass(eq=False)
class Keepalive:
    """The one timer of every `WebSocket` of a process: pings, pong timeouts, deadlines, close timeouts.

    A context component: `stop` aborts what is still open (shutdown closes sockets politely before)."""

    ping_interval: float = PING_INTERVAL_S
    ping_timeout: float = PING_TIMEOUT_S
    close_timeout: float = CLOSE_TIMEOUT_S
    tick: float = SWEEP_S
    _sockets: dict[WebSocket, None] = field(default_factory=dict, init=False, repr=False)
    _timer: asyncio.TimerHandle | None = field(default=None, init=False, repr=False)

    def __len__(self) -> int:
        return len(self._sockets)

    async def start(self) -> None:
        """Nothing runs until a socket opens."""

    async def stop(self) -> None:
        """Abort every socket still open and stop the timer."""
        for ws in list(self._sockets):
            ws.abort()
        self._sockets.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def add(self, ws: WebSocket) -> None:
        """Start watching a socket (the timer runs while any socket is open)."""
        self._sockets[ws] = None
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.tick, self._sweep)

    def discard(self, ws: WebSocket) -> None:
        """Stop watching a socket (idempotent)."""
        self._sockets.pop(ws, None)

    def _sweep(self) -> None:
        self._timer = None
        now = time.monotonic()
        interval, timeout = self.ping_interval, self.ping_timeout
        for ws in list(self._sockets):
            try:
                if ws.deadline and now >= ws.deadline:
                    ws.deadline = 0.0
                    if ws.state == _CLOSING:
                        ws.abort()  # the client never answered our close frame
                        continue
                    ws.on_deadline()
                if ws.state != _OPEN:
                    continue
                if ws.backlogged_since and now - ws.backlogged_since >= timeout:
                    ws.close(CLOSE_POLICY_VIOLATION, "the client does not read")
                    continue
                if ws.ping_sent:
                    if now - ws.ping_sent >= timeout:
                        ws.close(CLOSE_GOING_AWAY, "ping timed out")
                elif now - ws.last_seen >= interval:
                    ws.ping_sent = now
                    ws.write(PING_FRAME)
            except Exception:  # one broken socket must not stop the sweep for the others
                log.exception("websocket keepalive failed for one socket")
                ws.abort()
        if self._sockets:
            self._timer = asyncio.get_running_loop().call_later(self.tick, self._sweep)


class WebSocket(asyncio.Protocol):
    """One server-side websocket. Subclasses implement `on_open`, `on_text` (may return an awaitable:
    the next message waits for it, and reading pauses once READ_AHEAD_BYTES wait), `on_binary`,
    `on_deadline` and `on_closed`; they send with `send_text` and end with `close`."""

    __slots__ = (
        "_drained",
        "_frame_budget",
        "_pong_owed",
        "_reading_paused",
        "_work",
        "backlogged_since",
        "close_code",
        "deadline",
        "decoder",
        "frame_rate",
        "keepalive",
        "last_seen",
        "ping_sent",
        "state",
        "transport",
    )

    def __init__(
        self, keepalive: Keepalive, max_message: int = 64 * 1024, frame_rate: float | None = None
    ) -> None:
        self.keepalive = keepalive
        self.decoder = Decoder(masked=True, max_message=max_message)
        self.frame_rate = float(FRAMES_PER_S if frame_rate is None else frame_rate)
        self.transport: asyncio.Transport | None = None
        self.state = _OPEN
        self.deadline = 0.0  # monotonic; 0: none
        self.last_seen = 0.0
        self.ping_sent = 0.0
        self.backlogged_since = 0.0  # monotonic; 0: the transport takes writes without backing up
        self.close_code: int | None = None
        self._frame_budget = self.frame_rate
        self._pong_owed: bytes | None = None
        self._reading_paused = False
        self._drained: asyncio.Future[None] | None = None
        self._work: asyncio.Future[Any] | None = None

    # hooks ------------------------------------------------------------------------------------------------
    def on_open(self) -> None:
        """The connection is now this object's."""

    def on_text(self, text: str) -> Awaitable[None] | None:
        """A complete text message."""
        return None

    def on_binary(self, data: bytes) -> Awaitable[None] | None:
        """A complete binary message; refused by default."""
        self.close(CLOSE_INVALID_DATA, "binary messages are not accepted")
        return None

    def on_deadline(self) -> None:
        """`deadline` has passed."""

    def on_closed(self) -> None:
        """The connection is gone (called once)."""

    # sending ------------------------------------------------------------------------------------------------
    @property
    def open(self) -> bool:
        """Whether messages may still be sent."""
        return self.state == _OPEN

    def send_text(self, text: str) -> asyncio.Future[None] | None:
        """Send one text message. None when the transport took it without backing up; else a future
        that resolves once its buffer has drained. Raises ConnectionError once closing."""
        if self.state != _OPEN or self.transport is None:
            raise ConnectionError("websocket closed")
        self.transport.write(text_frame(text))
        if not self.backlogged_since:
            return None
        if self.transport.get_write_buffer_size() > MAX_BACKLOG_BYTES:
            self._fail(CLOSE_POLICY_VIOLATION, "the client does not read")
            return None
        if self._drained is None:
            self._drained = asyncio.get_running_loop().create_future()
        return self._drained

    def write(self, data: bytes) -> None:
        """Raw bytes to the transport (frames built by the caller)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Start the closing handshake (idempotent); the transport ends when the client answers, or
        after the keepalive's close timeout."""
        if self.state != _OPEN:
            return
        self.state = _CLOSING
        self.close_code = code
        self.write(close_frame(code, reason))
        self.deadline = time.monotonic() + self.keepalive.close_timeout

    def abort(self) -> None:
        """Drop the connection without a closing handshake."""
        self.state = _CLOSED
        if self.transport is not None:
            self.transport.abort()

    # asyncio.Protocol ---------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.last_seen = time.monotonic()
        self.keepalive.add(self)
        self.on_open()

    def connection_lost(self, exc: Exception | None) -> None:
        self.state = _CLOSED
        self.keepalive.discard(self)
        self.decoder.clear()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self._drained = None
        if self._work is not None and not self._work.done():
            self._work.cancel()
        self.on_closed()

    def pause_writing(self) -> None:
        # The client does not read what we send: stop reading what it sends (pings above all) too.
        self.backlogged_since = time.monotonic()
        self._pace_reading()

    def resume_writing(self) -> None:
        self.backlogged_since = 0.0
        pong, self._pong_owed = self._pong_owed, None
        if pong is not None and self.state == _OPEN:
            self.write(encode_frame(OP_PONG, pong))
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)
        self._pace_reading()

    def eof_received(self) -> bool:
        return False  # close our side too

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        # The frame budget refills since the last read, up to one second's worth.
        rate = self.frame_rate
        self._frame_budget = min(rate, self._frame_budget + (now - self.last_seen) * rate)
        self.last_seen = now
        self.decoder.feed(data)
        if self._work is None:
            self._parse()
        self._pace_reading()

    def _pace_reading(self) -> None:
        # Reading pauses only once READ_AHEAD_BYTES wait behind unfinished work: pausing and resuming
        # around every message cost two event-loop registrations each.
        if self.transport is None or self.state == _CLOSED:
            return
        backed_up = self._work is not None and self.decoder.buffered >= READ_AHEAD_BYTES
        hold = bool(self.backlogged_since) or backed_up
        if hold != self._reading_paused:
            with contextlib.suppress(RuntimeError):  # the transport closed meanwhile
                if hold:
                    self.transport.pause_reading()
                else:
                    self.transport.resume_reading()
            self._reading_paused = hold

    # receiving ----------------------------------------------------------------------------------------------
    def _parse(self) -> None:
        decoder = self.decoder
        transport = self.transport
        while self._work is None and transport is not None and not transport.is_closing():
            try:
                event = decoder.next_event()
            except ProtocolError as error:
                return self._fail(error.code, error.reason)
            if event is None:
                return None
            self._frame_budget -= 1.0  # every frame, whole or a fragment, control or data
            if self._frame_budget < 0.0:
                return self._fail(CLOSE_POLICY_VIOLATION, "too many frames")
            kind, data = event
            if kind == OP_PING:
                if self.state != _OPEN:
                    pass
                elif self.backlogged_since:
                    self._pong_owed = data  # answered once the backlog drains (only the latest)
                else:
                    self.write(encode_frame(OP_PONG, data))
            elif kind == OP_PONG:
                self.ping_sent = 0.0
            elif kind == OP_CLOSE:
                self._closed_by_client(data[0])
            elif kind != FRAGMENT and self.state == _OPEN:
                self._message(kind, data)  # data after our close frame is ignored while the handshake ends
        return None

    def _fail(self, code: int, reason: str) -> None:
        self.decoder.clear()
        if self.state == _OPEN:
            self.close(code, reason)
        # a client that breaks the protocol gets no closing handshake to wait for
        if self.transport is not None:
            self.transport.close()

    def _closed_by_client(self, code: int | None) -> None:
        if self.state == _OPEN:
            self.state = _CLOSING
            self.close_code = CLOSE_NORMAL if code is None else code
            # echo the code, as RFC 6455 asks (an empty close frame is answered with an empty one)
            self.write(encode_frame(OP_CLOSE, b"" if code is None else code.to_bytes(2, "big")))
        if self.transport is not None:
            self.transport.close()  # the server closes the TCP connection first

    def _message(self, kind: int, data: Any) -> None:
        result = self.on_text(data) if kind == OP_TEXT else self.on_binary(data)
        if result is not None:
            # Later messages wait for this one (in order, as Tornado does for async on_message).
            work = asyncio.ensure_future(result)
            self._work = work
            work.add_done_callback(self._worked)
        return None

    def _worked(self, work: asyncio.Future[Any]) -> None:
        self._work = None
        if work.cancelled():
            return
        error = work.exception()
        if error is not None:
            log.error("websocket message handling failed", exc_info=error)
            self.close(CLOSE_INTERNAL_ERROR, "internal error")
            return
        if self.state == _CLOSED or self.transport is None:
            return
        if self.decoder.buffered:
            self._parse()
        self._pace_reading()
