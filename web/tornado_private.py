"""Every use of Tornado's private or undocumented internals, in one module, for the Tornado releases it
was verified with.

Importing this module checks the installed Tornado against VERIFIED_FROM..VERIFIED_BELOW and refuses to
start (UnsupportedTornado, a sentence saying what to do) on any other release: these internals may change
in any release without notice, and a silent change would corrupt answers (the lean answer path writes
HTTP/1.1 responses around Tornado's connection state) rather than fail. Widening the range means checking
each function below against the new release's source and running tests/test_lean_answer.py,
tests/test_tornado_private.py, tests/live/ and tests/ingest/.

What is here and why Tornado offers no public way:
- `write_whole_answer`: a whole HTTP/1.1 answer from pre-rendered header lines, setting the connection
  state `HTTP1Connection.write_headers` would set (~10% of a beacon's server time saved);
- `buffered_bytes` / `buffered_size`: what an IOStream has read and not yet handed out (the frames a
  websocket client sent behind its upgrade request; whether a request body is already all there);
- `request_finished`: whether a RequestHandler has finished its answer;
- `set_remote_ip`: the request's client address, which Tornado restores when the request ends;
- `websocket_mask`: Tornado's C masking function (an undocumented module), with a pure-Python fallback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import tornado
from tornado import httputil, iostream
from tornado.concurrent import Future, future_add_done_callback
from tornado.http1connection import HTTP1Connection

if TYPE_CHECKING:  # tornado.web is the slow import; the websocket clients of bench/ load this module
    from tornado.web import RequestHandler

VERIFIED_FROM = (6, 6)  # the first release checked
VERIFIED_BELOW = (6, 7)  # the first release not checked


class UnsupportedTornado(RuntimeError):
    """The installed Tornado is outside the releases this module was verified with."""


def check_version(version_info: tuple[int, ...]) -> None:
    """Raise UnsupportedTornado unless `version_info` is in the verified range."""
    if VERIFIED_FROM <= tuple(version_info[:2]) < VERIFIED_BELOW:
        return
    found = ".".join(str(part) for part in version_info[:3])
    verified = ".".join(map(str, VERIFIED_FROM))
    raise UnsupportedTornado(
        f"Eddy relies on Tornado internals checked with Tornado {verified}.x, but Tornado {found} is "
        "installed. Install the release pinned in requirements.txt (pip install -r requirements.txt), or "
        "check web/tornado_private.py against this release and widen its verified range."
    )


check_version(tornado.version_info)

try:
    from tornado.speedups import websocket_mask as _c_mask
except ImportError:  # Tornado installed without its C extension
    _c_mask = None


def websocket_mask(mask: bytes, data: bytes) -> bytes:
    """`data` XORed with the 4-byte `mask` (both read-only bytes). Tornado's C function is ~7x faster
    than the fallback, a big integer XOR."""
    if _c_mask is not None:
        return _c_mask(mask, data)
    length = len(data)
    if not length:
        return b""
    key = (mask * (length // 4 + 1))[:length]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(length, "big")


def buffered_bytes(stream: iostream.IOStream) -> bytes:
    """The bytes a stream has read from its socket and not yet handed to a reader."""
    return bytes(stream._read_buffer)


def buffered_size(connection: Any) -> int:
    """How many unread bytes sit in a connection's stream buffer; -1 when it has no such stream."""
    stream = getattr(connection, "stream", None)
    return getattr(stream, "_read_buffer_size", -1)


def request_finished(handler: RequestHandler) -> bool:
    """Whether the handler's answer is finished (after which nothing more may be written)."""
    return bool(handler._finished)


def set_remote_ip(connection: httputil.HTTPConnection, ip: str) -> bool:
    """Make `ip` the client address of the request in progress on `connection` (what
    `request.remote_ip` reads); Tornado puts the socket's address back when the request ends (the
    request context's `_unapply_xheaders`, with `xheaders` on). False when the connection has no such
    context (another server's connection)."""
    context = getattr(connection, "context", None)
    if context is None or not hasattr(context, "remote_ip") or not hasattr(context, "_orig_remote_ip"):
        return False
    context.remote_ip = ip
    return True


def write_whole_answer(
    connection: httputil.HTTPConnection, status: int, header_lines: bytes, body: bytes
) -> None:
    """Send a whole answer (status line, `header_lines` as `Name: value\\r\\n` lines, which must carry
    Content-Length for a body, then `body`) and finish the request: what `write_headers(start, headers,
    body)` and `finish()` do, including the Connection header Tornado adds for closing or HTTP/1.0
    keep-alive requests. tests/test_lean_answer.py holds its bytes and connection state equal to
    write_headers' own."""
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
