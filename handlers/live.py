"""Live dashboards: `WS /ws/live?site_id=ID` and `GET /api/v1/sites/{site_id}/live/stream` (SSE).

Websocket protocol:
1. The upgrade is refused with 403 when the `Origin` header is not Eddy's own (the origin of
   `--public-url` when set, else the request's own host). Clients that send no Origin (not browsers) pass:
   they must still authenticate.
2. The first client message, within AUTH_TIMEOUT_S, is `{"token": "<access token>"}` (never in the URL).
3. The server answers `{"type": "snapshot", site_id, visitors_now, events_per_s, top_pages, top_sources,
   top_countries, recent: [...]}` and then `{"type": "tick", ...}` with the same numbers and the events
   received since the previous tick in `recent`. Tops are `[{"value", "count"}]`, most first.
4. Later client messages: `{"filter": {"name", "path_prefix", "country"}}` filters the event tail (a fresh
   snapshot follows); `{"token": ...}` renews the authentication before the access token expires.

Close codes (application range, each with a reason text):
  4400 malformed message or missing site_id     4401 no token, bad or expired token, or none in time
  4403 the user's role on the site is too low   4404 no such site, or not visible to this user
  4408 too slow: messages piled up (dropped)     4429 too many connections from this address
  1001 server shutting down                     1009 message too big

The SSE stream sends the same messages as `event: snapshot` / `event: tick` with the JSON as `data:`.
It takes the access token in the `Authorization` header (fetch-based EventSource clients can send it),
filters as query arguments, and ends when the token expires (the client reconnects with a new one).
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
from tornado.websocket import WebSocketHandler

from domain.errors import DomainError, Forbidden, NotFound, Unauthorized
from domain.live.service import LiveService
from domain.live.stream import Filters, LiveStream, encode, parse_filters
from handlers.access import authenticated
from handlers.base import ApiHandler, BaseHandler
from handlers.errors import ApiError
from handlers.openapi import Operation
from handlers.policy import declare

log = logging.getLogger("eddy.live")

AUTH_TIMEOUT_S = 5.0
MAX_CLIENT_MESSAGE = 4096
SSE_HEARTBEAT_S = 15.0
_SITE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_SLOW = 4408
CLOSE_TOO_MANY = 4429
CLOSE_TOO_BIG = 1009


def _origin(url: str) -> str:
    """`scheme://host[:port]`, lowercased, default ports dropped."""
    parts = urlsplit(url.strip())
    scheme = (parts.scheme or "").lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def own_origin(origin: str, public_url: str | None, request_host: str) -> bool:
    """Whether a browser's Origin is Eddy's own dashboard: the public URL's origin when one is set,
    else the host the request was sent to."""
    try:
        if public_url:
            return _origin(origin) == _origin(public_url)
        return (urlsplit(origin).netloc or "").lower() == request_host.lower()
    except ValueError:
        return False


def token_expiry(token: str) -> float:
    """The `exp` of an access token that has already been verified."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return float(claims.get("exp", 0))


def _live(handler: BaseHandler) -> LiveService:
    live = handler.ctx.live
    if live is None:
        raise ApiError(503, "unavailable", "live dashboards are not running")
    return live


class LiveSocketHandler(WebSocketHandler, BaseHandler):
    """One dashboard's websocket."""

    def initialize(self) -> None:
        self.site_id = ""
        self.user_id = ""
        self.stream: LiveStream | None = None
        self._admitted = False
        self._gone = False
        self._auth_timer: object | None = None
        self._expiry_timer: object | None = None

    def prepare(self) -> None:
        # Tornado waves through an Origin equal to the Host header on its own; with --public-url set only
        # that origin is Eddy's, so check every Origin here, before the upgrade.
        origin = self.request.headers.get("Origin")
        if origin is not None and not self.check_origin(origin):
            self.set_status(403)
            self.finish("Cross origin websockets not allowed")

    def check_origin(self, origin: str) -> bool:
        return own_origin(origin, self.ctx.config.public_url, self.request.host)

    def admit(self) -> bool:
        """Register this socket (per-address cap) and count it; closes it with 4429 when over the cap.
        Every live socket handler calls this first in `open`."""
        if not self.ctx.sockets.admit(self, self.request.remote_ip or ""):
            self.close(CLOSE_TOO_MANY, "too many connections from this address")
            return False
        self._admitted = True
        self.ctx.metrics.websocket_connections.labels("live").inc()
        return True

    @declare("token_in_first_message")
    def open(self, *args: str, **kwargs: str) -> None:
        if not self.admit():
            return
        site_id = self.get_query_argument("site_id", "")
        if not _SITE_ID.match(site_id):
            self.close(CLOSE_BAD_REQUEST, "site_id is required")
            return
        self.site_id = site_id
        self._auth_timer = IOLoop.current().call_later(AUTH_TIMEOUT_S, self._auth_timed_out)

    def _auth_timed_out(self) -> None:
        self._auth_timer = None
        if self.stream is None:
            self.close(CLOSE_UNAUTHORIZED, "no token in time")

    async def on_message(self, message: str | bytes) -> None:
        if self._gone:
            return
        if isinstance(message, bytes) or len(message) > MAX_CLIENT_MESSAGE:
            self.close(CLOSE_BAD_REQUEST, "send small JSON text messages")
            return
        try:
            data = orjson.loads(message)
        except orjson.JSONDecodeError:
            self.close(CLOSE_BAD_REQUEST, "messages must be JSON")
            return
        if not isinstance(data, dict):
            self.close(CLOSE_BAD_REQUEST, "messages must be JSON objects")
            return
        if self.stream is None:
            await self._authenticate(data)
        elif "token" in data:
            await self._renew(data)
        elif "filter" in data:
            self._set_filter(data["filter"])
        else:
            self._send_error("unknown_message", "expected filter or token")

    async def _check_token(self, data: dict[str, Any]) -> float | None:
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
        return token_expiry(token)

    async def _authenticate(self, data: dict[str, Any]) -> None:
        expires_at = await self._check_token(data)
        if expires_at is None or self._gone:
            return
        try:
            filters = parse_filters(data.get("filter"))
        except DomainError as error:
            self.close(CLOSE_BAD_REQUEST, error.message)
            return
        self._cancel(self._auth_timer)
        self._auth_timer = None
        self._arm_expiry(expires_at)
        stream = LiveStream(self.site_id, self, filters)
        self.stream = stream
        await _live(self).hub.watch(stream)
        if self._gone:  # the client left while we subscribed
            _live(self).hub.unwatch(stream)

    async def _renew(self, data: dict[str, Any]) -> None:
        expires_at = await self._check_token(data)
        if expires_at is not None and not self._gone:
            self._arm_expiry(expires_at)
            self.write_message(encode({"type": "auth", "expires_at": int(expires_at)}))

    def _set_filter(self, raw: Any) -> None:
        try:
            filters = parse_filters(raw)
        except DomainError as error:
            self._send_error(error.code, error.message, error.fields)
            return
        if self.stream is not None:
            _live(self).hub.set_filters(self.stream, filters)

    def _send_error(self, code: str, message: str, fields: dict[str, str] | None = None) -> None:
        body: dict[str, Any] = {"code": code, "message": message}
        if fields:
            body["fields"] = fields
        self.write_message(encode({"type": "error", "error": body}))

    def _arm_expiry(self, expires_at: float) -> None:
        self._cancel(self._expiry_timer)
        delay = max(0.0, expires_at - time.time())
        self._expiry_timer = IOLoop.current().call_later(delay, self._expired)

    def _expired(self) -> None:
        self._expiry_timer = None
        self.close(CLOSE_UNAUTHORIZED, "access token expired")

    @staticmethod
    def _cancel(timer: object | None) -> None:
        if timer is not None:
            IOLoop.current().remove_timeout(timer)

    # Transport for LiveStream
    def send(self, text: str) -> Awaitable[None] | None:
        return self.write_message(text)

    def drop(self, reason: str) -> None:
        log.info("dropping a slow live dashboard of site %s: %s", self.site_id, reason)
        self.close(CLOSE_TOO_SLOW, reason)

    def on_close(self) -> None:
        self._gone = True
        self._cancel(self._auth_timer)
        self._cancel(self._expiry_timer)
        self._auth_timer = self._expiry_timer = None
        if self.stream is not None and self.ctx.live is not None:
            self.ctx.live.hub.unwatch(self.stream)
        if self._admitted:
            self._admitted = False
            self.ctx.sockets.discard(self)
            self.ctx.metrics.websocket_connections.labels("live").dec()


class LiveStreamQuery(msgspec.Struct, forbid_unknown_fields=True):
    """Event-tail filters of the SSE stream."""

    name: str = ""
    path_prefix: str = ""
    country: str = ""


class LiveEventStreamHandler(ApiHandler):
    """`GET /api/v1/sites/{site_id}/live/stream`: the live stream as server-sent events."""

    def initialize(self) -> None:
        super().initialize()
        self._done = asyncio.Event()
        self._stream: LiveStream | None = None

    @authenticated
    async def get(self, site_id: str) -> None:
        await self.site_for(site_id, "viewer")
        filters = self._filters()
        live = _live(self)
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
        if not self._finished:
            with contextlib.suppress(StreamClosedError):
                self.finish()

    def _filters(self) -> Filters:
        raw = {key: self.get_query_argument(key, None) for key in ("name", "path_prefix", "country")}
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


default_handlers = [
    (r"/ws/live", LiveSocketHandler),
    (r"/api/v1/sites/([A-Za-z0-9_-]{1,64})/live/stream", LiveEventStreamHandler),
]

openapi_operations = [
    Operation(
        "GET",
        "/api/v1/sites/{site_id}/live/stream",
        "Live counters and event tail as server-sent events",
        tag="live",
        auth="bearer",
        query=LiveStreamQuery,
        response=str,
        response_media="text/event-stream",
        errors=(404,),
        description=(
            "`event: snapshot` first, then `event: tick` messages carrying visitors_now, events_per_s, "
            "top_pages, top_sources, top_countries and recent events. The same stream is served over "
            "the websocket `/ws/live?site_id=ID` (first message `{token}`)."
        ),
    ),
]
