"""`POST /api/v1/collect`: events over HTTP (tracker beacons and servers).

The key comes in `X-Api-Key` or, for `navigator.sendBeacon` (which cannot set headers), in the body's `k`
field. Bodies are JSON sent as `application/json` or `text/plain` (a beacon's simple request needs no
preflight). Any origin may call it without credentials (CORS `*`); which origins a public key accepts is
the pipeline's check. Answers 202 `{accepted}` once the events are durable.

Two adapters serve it with the same answers: `CollectRequest`, a lean HTTP message delegate that
`handlers/lean_http.py` hands POST and OPTIONS on this path to (no RequestHandler: a beacon is the hottest
request Eddy serves), and `CollectHandler`, the route in the Application (every other method, answered
405, and any server not built by `make_http_server`). Both call `collect()`.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import time
from typing import Any

import msgspec
import orjson
from tornado import httputil

from domain.errors import DomainError
from domain.ingest.decode import MAX_BODY_BYTES, Payload
from handlers.base import API_HEADERS, HSTS, SECURITY_HEADERS
from handlers.context import AppContext
from handlers.cross_origin import CrossOriginHandler, preflight, sender_of
from handlers.errors import ApiError
from handlers.lean_http import render_header_lines
from handlers.operations import documented
from handlers.policy import public
from handlers.routes import route
from web.access_log import record_request
from web.tornado_private import buffered_size, write_whole_answer

log = logging.getLogger("eddy.api")
PATH = "/api/v1/collect"
ACCEPTED_TYPES = ("application/json", "text/plain", "")
# Errors too carry CORS headers, so a tracker can read why it was refused.
CORS_HEADERS = (("Access-Control-Allow-Origin", "*"), ("Access-Control-Expose-Headers", "Retry-After"))
PREFLIGHT_HEADERS = preflight("Content-Type, X-Api-Key")
# The metric label and access-log name of this route on both adapters.
HANDLER_NAME = "CollectHandler"


async def collect(ctx: AppContext, body: bytes, headers: httputil.HTTPHeaders, remote_ip: str | None) -> int:
    """Ingest one collect request's body; returns how many events were accepted (durable).
    Raises ApiError (415) or the pipeline's DomainErrors."""
    content_type = headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if content_type not in ACCEPTED_TYPES:
        raise ApiError(415, "unsupported_media_type", "send application/json or text/plain")
    return await ctx.ingest.ingest_body(body, headers.get("X-Api-Key"), sender_of(headers, remote_ip))


_date_cache: tuple[int, str] = (0, "")


def http_date() -> str:
    """The Date header for now, formatted once per second (formatting it was ~2% of a beacon's time)."""
    global _date_cache
    second = int(time.time())
    if _date_cache[0] != second:
        _date_cache = (second, httputil.format_timestamp(second))
    return _date_cache[1]


def body_is_buffered(connection: Any, length: str | None) -> bool:
    """Whether a request's whole body (of declared `length`) already sits in the connection's read
    buffer. Reading it then cannot stall, so the per-request body timer (a Task and a timeout handle,
    ~10% of a beacon's server time) can be skipped; a body still on its way keeps the timeout."""
    return (
        length is not None
        and hasattr(connection, "set_body_timeout")
        and buffered_size(connection) >= int(length)
    )


class CollectAccepted(msgspec.Struct):
    """How many events were stored (bots and spam referrers are dropped and not counted)."""

    accepted: int


class CollectHandler(CrossOriginHandler):
    """Beacon and batch ingestion; auth is the API key the pipeline checks."""

    max_body_bytes = MAX_BODY_BYTES
    cors_headers = CORS_HEADERS
    preflight_headers = PREFLIGHT_HEADERS

    def prepare(self) -> None:
        super().prepare()
        if body_is_buffered(self.request.connection, self.request.headers.get("Content-Length")):
            self.request.connection.set_body_timeout(None)  # type: ignore[union-attr]

    @documented(
        auth="api_key",
        request=Payload,
        response=CollectAccepted,
        status=202,
        errors=(403, 415, 503),
        request_media=("application/json", "text/plain"),
    )
    @public
    async def post(self) -> None:
        """Send one event, or a batch in `events` (at most 500, 1 MiB)

        The key comes in X-Api-Key or the body field `k` (public keys only). Answered once the events are
        durable."""
        accepted = await collect(self.ctx, self.body, self.request.headers, self.request.remote_ip)
        self.write_json({"accepted": accepted}, 202)


class CollectRequest(httputil.HTTPMessageDelegate):
    """One POST or OPTIONS on the collect path, answered without a RequestHandler: the same status codes,
    JSON bodies, headers (security, CORS, Retry-After), body limits, latency metric and access log as
    `CollectHandler`, for about half of its per-request cost."""

    def __init__(self, ctx: AppContext, connection: httputil.HTTPConnection) -> None:
        self.ctx = ctx
        self.connection = connection
        self.chunks: list[bytes] = []
        self.task: asyncio.Task[None] | None = None
        self.started = time.perf_counter()
        self.answered = False

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> None:
        assert isinstance(start_line, httputil.RequestStartLine)
        self.start_line = start_line
        self.headers = headers
        # Read now: an xheaders proxy adapter restores the socket's address when the request finishes.
        context = getattr(self.connection, "context", None)
        self.remote_ip: str | None = getattr(context, "remote_ip", None)
        self.https = getattr(context, "protocol", "http") == "https"
        length = headers.get("Content-Length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                self.answer_error(ApiError(400, "bad_request", "invalid Content-Length"))
                return
            if declared > MAX_BODY_BYTES:
                self.answer_error(ApiError(413, "payload_too_large", f"body over {MAX_BODY_BYTES} bytes"))
                return
        connection: Any = self.connection
        if hasattr(connection, "set_max_body_size"):
            connection.set_max_body_size(MAX_BODY_BYTES)  # chunked bodies are cut off at the same limit
        if body_is_buffered(connection, length):
            connection.set_body_timeout(None)

    def data_received(self, chunk: bytes) -> None:
        if not self.answered:
            self.chunks.append(chunk)

    def finish(self) -> None:
        if self.answered:
            return
        if self.start_line.method == "OPTIONS":
            self.answer(204, b"", PREFLIGHT_HEADERS)
            return
        body = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
        self.chunks = []
        self.task = asyncio.get_running_loop().create_task(self.ingest(body))

    def on_connection_close(self) -> None:
        self.chunks = []  # the client left before its body was complete: nothing to ingest

    async def ingest(self, body: bytes) -> None:
        """Run the shared collect step and answer with its outcome."""
        try:
            accepted = await collect(self.ctx, body, self.headers, self.remote_ip)
        except ApiError as error:
            self.answer_error(error)
        except DomainError as error:
            self.answer_error(ApiError.from_domain(error))
        except Exception:
            log.exception("Uncaught exception POST %s (%s)", self.start_line.path, self.remote_ip)
            self.answer_error(ApiError(500, "internal_error", "internal error"))
        else:
            self.answer(202, orjson.dumps({"accepted": accepted}))

    def answer_error(self, error: ApiError) -> None:
        """Send an error in the contract's JSON shape with its extra headers (e.g. Retry-After)."""
        self.answer(error.status_code, orjson.dumps(error.document()), tuple(error.headers.items()))

    def answer(self, status: int, body: bytes, extra: tuple[tuple[str, str], ...] = ()) -> None:
        """Write the whole answer with the headers every API answer carries, then record and log it."""
        if self.answered:
            return
        self.answered = True
        lines = [b"Date: ", http_date().encode(), b"\r\n", _static_lines(self.https, extra, status == 204)]
        if status != 204:
            if len(body) >= 1024 and "gzip" in self.headers.get("Accept-Encoding", ""):
                body = gzip.compress(body, compresslevel=6)
                lines.append(b"Content-Encoding: gzip\r\n")
            lines.append(b"Content-Length: %d\r\n" % len(body))
        write_whole_answer(self.connection, status, b"".join(lines), body)
        record_request(
            self.ctx,
            HANDLER_NAME,
            status,
            self.start_line.method,
            self.start_line.path,
            self.remote_ip,
            time.perf_counter() - self.started,
        )


_STATIC_LINES_ENTRIES = 64
_static_lines_cache: dict[tuple[bool, tuple[tuple[str, str], ...], bool], bytes] = {}


def _static_lines(https: bool, extra: tuple[tuple[str, str], ...], no_content: bool) -> bytes:
    """The rendered header lines an answer shares with every other of its kind (all but Date,
    Content-Encoding and Content-Length), in the order the Application's handlers send them."""
    key = (https, extra, no_content)
    lines = _static_lines_cache.get(key)
    if lines is None:
        headers = httputil.HTTPHeaders()
        for name, value in (
            *SECURITY_HEADERS,
            *((HSTS,) if https else ()),
            *API_HEADERS,
            *CORS_HEADERS,
            *extra,
            ("Vary", "Accept-Encoding"),  # as the Application's compress_response sets on every answer
        ):
            headers[name] = value
        if no_content:
            del headers["Content-Type"]
        lines = render_header_lines(headers.get_all())
        if len(_static_lines_cache) >= _STATIC_LINES_ENTRIES:  # extras (Retry-After) vary a little
            _static_lines_cache.clear()
        _static_lines_cache[key] = lines
    return lines


openapi_tag = "ingest"
default_handlers = [route(PATH, CollectHandler)]
# Methods that `handlers/lean_http.py` hands to `CollectRequest` instead of the Application.
lean_routes = {(method, PATH): CollectRequest for method in ("POST", "OPTIONS")}
