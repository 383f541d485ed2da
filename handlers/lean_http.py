"""A connection delegate in front of the Application: requests whose (method, path) is in the lean route
table are answered by a small `HTTPMessageDelegate` of their own, without Tornado's RequestHandler
machinery; every other request goes to the Application unchanged.

The route table is `handlers.lean_routes()`: (method, exact path) → a delegate class built with the
process's AppContext and the request's connection. The path is matched without its query string.

A delegate answers with header lines rendered to bytes once (`render_header_lines`) and sent by
`web.tornado_private.write_whole_answer`, instead of formatting and checking every line on every answer
as `HTTP1Connection.write_headers` does (~10% of a beacon's server time). Like every use of Tornado's
internals, that lives in web/tornado_private.py, which checks the Tornado release.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Iterable, Mapping
from typing import Protocol

from tornado import httputil, netutil
from tornado.web import Application

from handlers.context import AppContext
from web.tornado_private import set_remote_ip

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
    last = headers.get("X-Forwarded-For", "").split(",")[-1].strip()
    if netutil.is_valid_ip(last):
        set_remote_ip(connection, last)


def render_header_lines(headers: Iterable[tuple[str, str]]) -> bytes:
    """`Name: value\\r\\n` lines as write_headers renders them (latin-1); ValueError on CR or LF, as there."""
    lines = [f"{name}: {value}".encode("latin1") for name, value in headers]
    for line in lines:
        if _CR_OR_LF.search(line):
            raise ValueError(f"Illegal characters (CR or LF) in header: {line!r}")
    return b"".join(line + b"\r\n" for line in lines)
