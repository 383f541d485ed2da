"""A connection delegate in front of the Application: requests whose (method, path) is in the lean route
table are answered by a small `HTTPMessageDelegate` of their own, without Tornado's RequestHandler
machinery; every other request goes to the Application unchanged.

The route table is `handlers.lean_routes()`: (method, exact path) → a delegate class built with the
process's AppContext and the request's connection. The path is matched without its query string.

`write_whole_answer` sends a delegate's answer from header lines rendered to bytes once
(`render_header_lines`) instead of formatting and checking every line on every answer as
`HTTP1Connection.write_headers` does (~10% of a beacon's server time). It sets the connection state
write_headers would set (Tornado is pinned; tests/test_lean_answer.py holds its bytes equal to
write_headers' own), and falls back to write_headers on any other connection type.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Iterable, Mapping
from typing import Any, Protocol

from tornado import httputil, iostream, netutil
from tornado.concurrent import Future, future_add_done_callback
from tornado.http1connection import HTTP1Connection
from tornado.web import Application

from server.context import AppContext

_CR_OR_LF = re.compile(b"[\r\n]")


class LeanDelegateFactory(Protocol):
    """What a lean route maps to: builds the message delegate for one request."""

    def __call__(
        self, ctx: AppContext, connection: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate: ...


class LeanRouter(httputil.HTTPServerConnectionDelegate):
    """Hands each request to its lean delegate when its method and path have one, else to `app`."""

    def __init__(self, app: Application, routes: Mapping[tuple[str, str], LeanDelegateFactory]) -> None:
        self.app = app
        self.ctx: AppContext = app.settings["ctx"]
        self.routes = dict(routes)

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        return _Dispatch(self, server_conn, request_conn)

    def on_close(self, server_conn: object) -> None:
        self.app.on_close(server_conn)


class _Dispatch(httputil.HTTPMessageDelegate):
    """Picks the delegate once the start line is known, then forwards everything to it."""

    def __init__(
        self, router: LeanRouter, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> None:
        self.router = router
        self.server_conn = server_conn
        self.request_conn = request_conn
        self.delegate: httputil.HTTPMessageDelegate | None = None

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        assert isinstance(start_line, httputil.RequestStartLine)
        if self.router.ctx.config.trust_proxy and "X-Forwarded-For" in headers:
            prefer_forwarded_for(self.request_conn, headers)
        path = start_line.path.split("?", 1)[0]
        factory = self.router.routes.get((start_line.method, path))
        if factory is not None:
            self.delegate = factory(self.router.ctx, self.request_conn)
        else:
            self.delegate = self.router.app.start_request(self.server_conn, self.request_conn)
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        assert self.delegate is not None
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        assert self.delegate is not None
        self.delegate.finish()

    def on_connection_close(self) -> None:
        if self.delegate is not None:
            self.delegate.on_connection_close()


def prefer_forwarded_for(connection: httputil.HTTPConnection, headers: httputil.HTTPHeaders) -> None:
    """With `--trust-proxy`, the client address is the last X-Forwarded-For entry (the one the trusted
    proxy appended) whatever X-Real-Ip says: Tornado's xheaders let a client-sent X-Real-Ip win, which
    gave every request a new address of the client's choosing (per-address limits bypassed). Sets the
    request context's `remote_ip`, which Tornado restores when the request ends."""
    context = getattr(connection, "context", None)
    if context is None or not hasattr(context, "remote_ip"):
        return
    last = headers.get("X-Forwarded-For", "").split(",")[-1].strip()
    if netutil.is_valid_ip(last):
        context.remote_ip = last


def render_header_lines(headers: Iterable[tuple[str, str]]) -> bytes:
    """`Name: value\\r\\n` lines as write_headers renders them (latin-1); ValueError on CR or LF, as there."""
    lines = [f"{name}: {value}".encode("latin1") for name, value in headers]
    for line in lines:
        if _CR_OR_LF.search(line):
            raise ValueError(f"Illegal characters (CR or LF) in header: {line!r}")
    return b"".join(line + b"\r\n" for line in lines)


def write_whole_answer(
    connection: httputil.HTTPConnection, status: int, header_lines: bytes, body: bytes
) -> None:
    """Send a whole answer (status line, `header_lines` from `render_header_lines`, which must carry
    Content-Length for a body, then `body`) and finish the request: what `write_headers(start, headers,
    body)` and `finish()` do, including the Connection header Tornado adds for closing or HTTP/1.0
    keep-alive requests."""
    reason = httputil.responses.get(status, "Unknown")
    if type(connection) is not HTTP1Connection or (not body and status not in (204, 304)):
        # Another server's connection, or an empty body Tornado would chunk: its own path.
        headers = httputil.HTTPHeaders.parse(header_lines.decode("latin1"))
        start = httputil.ResponseStartLine("", status, reason)
        connection.write_headers(start, headers, body or None)
        connection.finish()
        return
    conn: Any = connection
    request = conn._request_start_line
    connection_line = b""
    if request.version == "HTTP/1.1" and conn._disconnect_on_finish:
        connection_line = b"Connection: close\r\n"
    elif (
        request.version == "HTTP/1.0" and conn._request_headers.get("Connection", "").lower() == "keep-alive"
    ):
        connection_line = b"Connection: Keep-Alive\r\n"
    conn._response_start_line = httputil.ResponseStartLine("", status, reason)
    conn._chunking_output = False  # a body always comes with its Content-Length here
    if request.method == "HEAD" or status == 304:
        body = b""
    conn._expected_content_remaining = 0 if body or request.method == "HEAD" or status == 304 else None
    future: Future[None] = Future()
    conn._write_future = future
    if conn.stream.closed():
        future.set_exception(iostream.StreamClosedError())
        future.exception()
    else:
        head = b"HTTP/1.1 %d %s\r\n" % (status, reason.encode("latin1"))
        conn._pending_write = conn.stream.write(head + header_lines + connection_line + b"\r\n" + body)
        future_add_done_callback(conn._pending_write, conn._on_write_complete)
    connection.finish()
