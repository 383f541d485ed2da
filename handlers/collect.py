"""`POST /api/v1/collect`: events over HTTP (tracker beacons and servers).

The key comes in `X-Api-Key` or, for `navigator.sendBeacon` (which cannot set headers), in the body's `k`
field. Bodies are JSON sent as `application/json` or `text/plain` (a beacon's simple request needs no
preflight). Any origin may call it without credentials (CORS `*`); which origins a public key accepts is
the pipeline's check. Answers 202 `{accepted}` once the events are durable.
"""

from __future__ import annotations

import msgspec

from domain.ingest.decode import MAX_BODY_BYTES, Payload
from domain.ingest.enrich import Sender
from handlers.base import ApiHandler
from handlers.errors import ApiError
from handlers.openapi import Operation
from handlers.policy import public

ACCEPTED_TYPES = ("application/json", "text/plain", "")


class CollectHandler(ApiHandler):
    """Beacon and batch ingestion; auth is the API key the pipeline checks."""

    max_body_bytes = MAX_BODY_BYTES

    def set_default_headers(self) -> None:
        super().set_default_headers()
        # Errors too carry CORS headers, so a tracker can read why it was refused.
        self.set_header("Access-Control-Allow-Origin", "*")
        self.set_header("Access-Control-Expose-Headers", "Retry-After")

    def prepare(self) -> None:
        super().prepare()
        # A beacon's body nearly always arrives in the same read as its headers. When all of it is
        # already buffered, reading it cannot stall, so the per-request body timer (a Task and a timeout
        # handle, ~10% of a beacon's server time) is skipped; a body still on its way keeps the timeout.
        length = self.request.headers.get("Content-Length")
        connection = self.request.connection
        stream = getattr(connection, "stream", None)
        if (
            length is not None
            and hasattr(connection, "set_body_timeout")
            and getattr(stream, "_read_buffer_size", -1) >= int(length)
        ):
            connection.set_body_timeout(None)

    @public
    def options(self) -> None:
        self.set_header("Access-Control-Allow-Methods", "POST, OPTIONS")
        self.set_header("Access-Control-Allow-Headers", "Content-Type, X-Api-Key")
        self.set_header("Access-Control-Max-Age", "86400")
        self.set_status(204)
        self.finish()

    @public
    async def post(self) -> None:
        content_type = self.request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if content_type not in ACCEPTED_TYPES:
            raise ApiError(415, "unsupported_media_type", "send application/json or text/plain")
        headers = self.request.headers
        sender = Sender(
            ip=self.request.remote_ip or "",
            user_agent=headers.get("User-Agent", ""),
            origin=headers.get("Origin"),
        )
        accepted = await self.ctx.ingest.ingest_body(self.body, headers.get("X-Api-Key"), sender)
        self.write_json({"accepted": accepted}, 202)


class CollectAccepted(msgspec.Struct):
    """How many events were stored (bots and spam referrers are dropped and not counted)."""

    accepted: int


default_handlers = [(r"/api/v1/collect", CollectHandler)]

openapi_operations = [
    Operation(
        "POST",
        "/api/v1/collect",
        "Send one event, or a batch in `events` (at most 500, 1 MiB)",
        tag="ingest",
        auth="api_key",
        request=Payload,
        response=CollectAccepted,
        status=202,
        errors=(403, 415, 503),
        request_media=("application/json", "text/plain"),
        description="The key comes in X-Api-Key or the body field `k` (public keys only). Answered once "
        "the events are durable.",
    )
]
