"""`write_whole_answer` (web/tornado_private.py) sends the bytes Tornado's own `write_headers(start,
headers, body)` + `finish()` would send, and leaves the connection in the same state: checked side by
side on a real HTTPServer for keep-alive, closing and HTTP/1.0 requests and a 204, each followed by a
second request on the same connection where the connection stays open."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from tornado import httputil
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from handlers.lean_http import render_header_lines
from web.tornado_private import write_whole_answer

HEADERS = (
    ("Date", "Mon, 23 Nov 2026 10:00:00 GMT"),
    ("Content-Type", "application/json; charset=utf-8"),
    ("Access-Control-Allow-Origin", "*"),
    ("Vary", "Accept-Encoding"),
)


class _Answer(httputil.HTTPMessageDelegate):
    """Answers `/fast/<status>` through write_whole_answer and `/tornado/<status>` through
    write_headers + finish, with the same headers and body."""

    def __init__(self, connection: httputil.HTTPConnection) -> None:
        self.connection = connection

    def headers_received(self, start_line, headers):  # type: ignore[no-untyped-def]
        self.path = start_line.path

    def finish(self) -> None:
        _, how, code = self.path.split("/")
        status = int(code)
        body = b"" if status == 204 else b'{"accepted":1}'
        pairs = list(HEADERS) + ([("Content-Length", str(len(body)))] if body else [])
        if how == "fast":
            write_whole_answer(self.connection, status, render_header_lines(pairs), body)
        else:
            headers = httputil.HTTPHeaders()
            for name, value in pairs:
                headers[name] = value
            start = httputil.ResponseStartLine("", status, httputil.responses[status])
            self.connection.write_headers(start, headers, body or None)
            self.connection.finish()


class _Delegate(httputil.HTTPServerConnectionDelegate):
    def start_request(self, server_conn, request_conn):  # type: ignore[no-untyped-def]
        return _Answer(request_conn)


async def _exchange(port: int, requests: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(requests)
    await writer.drain()
    data = b""
    with contextlib.suppress(TimeoutError):
        while chunk := await asyncio.wait_for(reader.read(65536), timeout=1.0):
            data += chunk
    writer.close()
    return data


@pytest.fixture
async def port() -> AsyncIterator[int]:
    sockets = bind_sockets(0, "127.0.0.1")  # non-blocking, as the server's accept handler needs
    server = HTTPServer(_Delegate())
    server.add_sockets(sockets)
    yield sockets[0].getsockname()[1]
    server.stop()


REQUESTS = {
    "keep-alive": "POST /{how}/202 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    "close": "POST /{how}/202 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    "1.0 keep-alive": "POST /{how}/202 HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
    "1.0": "POST /{how}/429 HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
    "no content": "OPTIONS /{how}/204 HTTP/1.1\r\nHost: x\r\n\r\n",
}


@pytest.mark.parametrize("case", list(REQUESTS))
async def test_same_bytes_as_tornado(port: int, case: str) -> None:
    # Each request is followed by a second one: answered when the first left the connection open.
    follow_up = "GET /{how}/200 HTTP/1.1\r\nHost: x\r\n\r\n"
    answers = {}
    for how in ("fast", "tornado"):
        raw = (REQUESTS[case] + follow_up).format(how=how).encode()
        answers[how] = await _exchange(port, raw)
    assert answers["fast"] == answers["tornado"]
    expected = 1 if case in ("close", "1.0") else 2
    assert answers["fast"].count(b"HTTP/1.1 ") == expected
    if case == "close":
        assert b"\r\nConnection: close\r\n" in answers["fast"]
    if case == "1.0 keep-alive":
        assert b"\r\nConnection: Keep-Alive\r\n" in answers["fast"]


def test_header_lines_refuse_line_breaks() -> None:
    with pytest.raises(ValueError, match="CR or LF"):
        render_header_lines([("X-Evil", "a\r\nSet-Cookie: b")])
