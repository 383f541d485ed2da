"""Live dashboards: `WS /ws/live?site_id=ID` and `GET /api/v1/sites/{site_id}/live/stream` (SSE).

Websocket protocol:
1. The upgrade is refused with 403 when the `Origin` header is not Eddy's own (the origin of
   `--public-url` when set, else the request's own scheme and host). Clients that send no Origin (not
   browsers) pass: they must still authenticate.
2. The first client message, within AUTH_TIMEOUT_S, is `{"token": "<access token>"}` (never in the URL).
3. The server answers `{"type": "snapshot", site_id, visitors_now, events_per_s, top_pages, top_sources,
   top_countries, recent: [...]}` and then `{"type": "tick", ...}` with the same numbers and the events
   received since the previous tick in `recent`. Tops are `[{"value", "count"}]`, most first.
4. Later client messages: `{"filter": {"event", "page", "country", "source", "browser", "os", "device"}}`
   filters the event tail with the history's filter names (`"page": "/blog/*"` a prefix; a fresh snapshot
   follows); `{"token": ...}` renews the authentication before the access token expires.

Close codes (each with a reason text):
  4400 malformed message or missing site_id
  4401 no token, a bad or expired one, none in time, or its session revoked (logout, password change,
       a spent refresh token reused): revocations close the session's sockets at once, in every process
  4403 the user's role on the site is too low, or the user was removed from the site (at once, in every
       process, and at the latest on the next membership recheck: domain/live/membership.py)
  4404 no such site, or not visible to this user
  4408 too slow: messages piled up (dropped)        4429 too many connections from this address
  1001 server shutting down, or no pong in time     1002 broken framing (e.g. an unmasked client frame)
  1007 text that is not UTF-8                       1009 a message over MAX_FRAMED_MESSAGE bytes,
  1008 over 1,000 frames a second, or a client        or in over 128 fragments
       that leaves our messages unread
  1013 a share link could not be checked again (the store is down): try again shortly

After the 101 the connection is served by `web/websocket.py` (a lean RFC 6455 protocol: one slotted
object per dashboard, pings and deadlines from one process-wide sweep), not by Tornado's websocket.

The SSE stream sends the same messages as `event: snapshot` / `event: tick` with the JSON as `data:`
(described in the OpenAPI document from `StreamMessage`, domain/live/messages.py).
It takes the access token in the `Authorization` header (fetch-based EventSource clients can send it),
filters as query arguments, and ends when the token expires or its session is revoked (the client
reconnects with a new one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlsplit

import jwt
import msgspec
import orjson
from tornado.ioloop import IOLoop
from tornado.iostream import StreamClosedError

from domain.errors import DomainError, Forbidden, NotFound, Unauthorized
from domain.live.messages import AuthRenewed, ErrorMessage, MessageError, StreamMessage, encode_message
from domain.live.stream import FILTER_KEYS, Filters, LiveStream, parse_filters
from handlers.access import authorized
from handlers.base import ApiHandler, BaseHandler
from handlers.context import AppContext
from handlers.errors import ApiError
from handlers.operations import documented
from handlers.policy import declare
from handlers.routes import route
from runtime.metrics import SocketKind
from web.tornado_private import request_finished
from web.websocket import WebSocket, take_over

log = logging.getLogger("eddy.live")

AUTH_TIMEOUT_S = 5.0
MAX_CLIENT_MESSAGE = 4096  # characters: longer messages close with 4400
MAX_FRAMED_MESSAGE = 64 * 1024  # bytes: longer ones close with 1009 before they are buffered
SSE_HEARTBEAT_S = 15.0
_SITE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_SLOW = 4408
CLOSE_TOO_MANY = 4429
CLOSE_TOO_BIG = 1009
CLOSE_UNAVAILABLE = 1013


def _origin(url: str) -> str:
    """`scheme://host[:port]`, lowercased, default ports dropped."""
    parts = urlsplit(url.strip())
    scheme = (parts.scheme or "").lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def own_origin(origin: str, public_url: str | None, request_host: str, request_scheme: str = "http") -> bool:
    """Whether a browser's Origin is Eddy's own dashboard: the public URL's origin when one is set,
    else the scheme and host the request was sent to (an http page may not open the https dashboard's
    socket, nor the other way round)."""
    try:
        if public_url:
            return _origin(origin) == _origin(public_url)
        return _origin(origin) == _origin(f"{request_scheme}://{request_host}")
    except ValueError:
        return False


def token_expiry(token: str) -> float:
    """The `exp` of an access token that has already been verified."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return float(claims.get("exp", 0))


class LiveSocket(WebSocket):
    """One dashboard's websocket once upgraded: authentication, the stream of its site, and the close
    codes above. `ShareLiveSocket` (handlers/share.py) changes only how the first message authenticates."""

    __slots__ = ("_admitted", "ctx", "ip", "session", "site_id", "stream", "user_id")

    def __init__(self, ctx: AppContext, ip: str, site_id: str) -> None:
        super().__init__(ctx.websockets, MAX_FRAMED_MESSAGE)
        self.ctx = ctx
        self.ip = ip
        self.site_id = site_id
        self.user_id = ""
        self.session = ""  # the sign-in session (refresh family) of the token; its revocation closes us
        self.stream: LiveStream | None = None
        self._admitted = False

    def refusal(self) -> str | None:
        """Why the request cannot be served (closed with 4400), checked once admitted."""
        return None if _SITE_ID.fullmatch(self.site_id) else "site_id is required"

    def on_open(self) -> None:
        # Register (per-address cap), count, then wait AUTH_TIMEOUT_S for the first message.
        if not self.ctx.sockets.admit(self, self.ip):
            self.close(CLOSE_TOO_MANY, "too many connections from this address")
            return
        self._admitted = True
        self.ctx.metrics.websocket_connections.labels(SocketKind.LIVE).inc()
        refusal = self.refusal()
        if refusal is not None:
            self.close(CLOSE_BAD_REQUEST, refusal)
            return
        self.deadline = time.monotonic() + AUTH_TIMEOUT_S

    def on_binary(self, data: bytes) -> None:
        self.close(CLOSE_BAD_REQUEST, "send small JSON text messages")

    def on_text(self, text: str) -> Awaitable[None] | None:
        if len(text) > MAX_CLIENT_MESSAGE:
            self.close(CLOSE_BAD_REQUEST, "send small JSON text messages")
            return None
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            self.close(CLOSE_BAD_REQUEST, "messages must be JSON")
            return None
        if not isinstance(data, dict):
            self.close(CLOSE_BAD_REQUEST, "messages must be JSON objects")
            return None
        if self.stream is None:
            return self._authenticate(data)
        if "token" in data:
            return self._renew(data)
        if "filter" in data:
            self._set_filter(data["filter"])
        else:
            self._send_error("unknown_message", "expected filter or token")
        return None

    async def check_token(self, data: dict[str, Any]) -> float | None:
        """Authenticate and authorise; closes and returns None on failure, else the token's expiry."""
        token = data.get("token")
        if not isinstance(token, str) or not token or len(token) > 2048:
            self.close(CLOSE_UNAUTHORIZED, "an access token is required")
            return None
        try:
            principal = await self.ctx.bearer.authenticate("Bearer " + token)
            if self.user_id and principal.user_id != self.user_id:
                raise Unauthorized("another user's token")
            await self.ctx.site_access.site_for_user(principal, self.site_id, "viewer")
        except Unauthorized as error:
            self.close(CLOSE_UNAUTHORIZED, error.message)
            return None
        except NotFound:
            self.close(CLOSE_NOT_FOUND, "no such site")
            return None
        except Forbidden as error:
            self.close(CLOSE_FORBIDDEN, error.message)
            return None
        except DomainError as error:
            self.close(CLOSE_BAD_REQUEST, error.message)
            return None
        self.user_id = principal.user_id
        self.session = principal.session
        return token_expiry(token)

    async def _authenticate(self, data: dict[str, Any]) -> None:
        expires_at = await self.check_token(data)
        if expires_at is None or not self.open:
            return
        try:
            filters = parse_filters(data.get("filter"))
        except DomainError as error:
            self.close(CLOSE_BAD_REQUEST, error.message)
            return
        self._arm_expiry(expires_at)
        live = self.ctx.live
        stream = LiveStream(self.site_id, self, filters)
        self.stream = stream
        await live.hub.watch(stream)
        if not self.open:  # the client left while we subscribed
            live.hub.unwatch(stream)

    async def _renew(self, data: dict[str, Any]) -> None:
        expires_at = await self.check_token(data)
        if expires_at is not None and self.open:
            self._arm_expiry(expires_at)
            self.send_text(encode_message(AuthRenewed(int(expires_at))))

    def _set_filter(self, raw: Any) -> None:
        try:
            filters = parse_filters(raw)
        except DomainError as error:
            self._send_error(error.code, error.message, error.fields)
            return
        if self.stream is not None:
            self.ctx.live.hub.set_filters(self.stream, filters)

    def _send_error(self, code: str, message: str, fields: dict[str, str] | None = None) -> None:
        self.send_text(encode_message(ErrorMessage(MessageError(code, message, fields or {}))))

    def _arm_expiry(self, expires_at: float) -> None:
        # the keepalive sweep fires it (no timer per socket)
        self.deadline = time.monotonic() + max(0.0, expires_at - time.time())

    def on_deadline(self) -> None:
        if self.stream is None:
            self.close(CLOSE_UNAUTHORIZED, "no token in time")
        else:
            self.expired()

    def expired(self) -> None:
        """The authentication ran out."""
        self.close(CLOSE_UNAUTHORIZED, "access token expired")

    # Transport for LiveStream
    def send(self, text: str) -> Awaitable[None] | None:
        return self.send_text(text)

    def drop(self, reason: str) -> None:
        log.info("dropping a slow live dashboard of site %s: %s", self.site_id, reason)
        self.close(CLOSE_TOO_SLOW, reason)

    def on_closed(self) -> None:
        if self.stream is not None:
            self.ctx.live.hub.unwatch(self.stream)
        if self._admitted:
            self._admitted = False
            self.ctx.sockets.discard(self)
            self.ctx.metrics.websocket_connections.labels(SocketKind.LIVE).dec()


class LiveSocketHandler(BaseHandler):
    """`WS /ws/live`: checks the Origin and the upgrade request, answers 101 and hands the connection
    to a `LiveSocket` (web/websocket.py: no Tornado websocket state is kept per dashboard)."""

    def prepare(self) -> None:
        # Only Eddy's own dashboard may open one (checked here, before the upgrade).
        origin = self.request.headers.get("Origin")
        if origin is not None and not own_origin(
            origin, self.ctx.config.public_url, self.request.host, self.request.protocol
        ):
            self.set_status(403)
            self.finish("Cross origin websockets not allowed")

    def make_socket(self) -> LiveSocket:
        """The socket that will serve this connection."""
        return LiveSocket(self.ctx, self.request.remote_ip or "", self.get_query_argument("site_id", ""))

    @declare("token_in_first_message")
    async def get(self) -> None:
        await take_over(self, self.make_socket())


# Event-tail filters of the SSE stream as query arguments: the history's filter names (`page` ending in
# `*` is a prefix); `name` and `path_prefix` are older spellings of `event` and of `page` with a `*`.
LiveStreamQuery = msgspec.defstruct(
    "LiveStreamQuery",
    [(key, str, "") for key in (*FILTER_KEYS, "name", "path_prefix")],
    forbid_unknown_fields=True,
)


class LiveEventStreamHandler(ApiHandler):
    """`GET /api/v1/sites/{site_id}/live/stream`: the live stream as server-sent events."""

    def initialize(self) -> None:
        super().initialize()
        self._done = asyncio.Event()
        self._stream: LiveStream | None = None
        self.session = ""
        self.site_id = ""  # with user_id: a removed member's stream ends (domain/live/membership.py)
        self.user_id = ""

    @documented(query=LiveStreamQuery, response=StreamMessage, response_media="text/event-stream")
    @authorized("site:view")
    async def get(self, site_id: str) -> None:
        """Live counters and event tail as server-sent events

        `event: snapshot` first, then `event: tick` messages carrying visitors_now, events_per_s,
        top_pages, top_sources, top_countries and recent events. The same stream is served over the
        websocket `/ws/live?site_id=ID` (first message `{token}`)."""
        filters = self._filters()
        live = self.ctx.live
        self.session = self.principal.session  # a revoked session ends the stream (SocketRegistry)
        self.site_id, self.user_id = site_id, self.principal.user_id
        if not self.ctx.sockets.admit(self, self.request.remote_ip or ""):
            raise ApiError(429, "too_many_connections", "too many live connections from this address")
        expires_at = token_expiry(self.request.headers["Authorization"][7:].strip())
        loop = IOLoop.current()
        expiry = loop.call_later(max(0.0, expires_at - time.time()), self._done.set)
        heartbeat = loop.call_later(SSE_HEARTBEAT_S, self._heartbeat)
        self._heartbeat_handle = heartbeat
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Accel-Buffering", "no")
        try:
            self.flush()
            stream = LiveStream(site_id, self, filters)
            self._stream = stream
            await live.hub.watch(stream)
            await self._done.wait()
        finally:
            loop.remove_timeout(expiry)
            loop.remove_timeout(self._heartbeat_handle)
            if self._stream is not None:
                live.hub.unwatch(self._stream)
            self.ctx.sockets.discard(self)
        if not request_finished(self):
            with contextlib.suppress(StreamClosedError):
                self.finish()

    def _filters(self) -> Filters:
        raw = {key: self.get_query_argument(key, None) for key in LiveStreamQuery.__struct_fields__}
        try:
            return parse_filters({k: v for k, v in raw.items() if v is not None})
        except DomainError as error:
            raise ApiError(422, error.code, error.message, fields=error.fields) from None

    def _heartbeat(self) -> None:
        if self._done.is_set():
            return
        self._write_raw(": keep-alive\n\n")
        self._heartbeat_handle = IOLoop.current().call_later(SSE_HEARTBEAT_S, self._heartbeat)

    def _write_raw(self, text: str) -> Awaitable[None] | None:
        try:
            self.write(text)
            return self.flush()
        except StreamClosedError:
            self._done.set()
            return None

    # Transport for LiveStream
    def send(self, text: str) -> Awaitable[None] | None:
        kind = "snapshot" if text.startswith('{"type":"snapshot"') else "tick"
        return self._write_raw(f"event: {kind}\ndata: {text}\n\n")

    def drop(self, reason: str) -> None:
        log.info("dropping a slow live stream: %s", reason)
        self._done.set()

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Shutdown (SocketRegistry.close_all) ends the stream."""
        self._done.set()

    def on_connection_close(self) -> None:
        self._done.set()
        super().on_connection_close()


_STREAM = "/api/v1/sites/{site_id}/live/stream"
openapi_tag = "live"
default_handlers = [(r"/ws/live", LiveSocketHandler), route(_STREAM, LiveEventStreamHandler)]
