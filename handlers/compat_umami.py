"""`POST /api/send` and `POST /api/batch`: Umami's collect API, for sites that switched `compat.umami` on.

`/api/send` answers 200 `{cache, sessionId, visitId}` (sessionId: Eddy's visitor, visitId: its visit),
200 `{"beep": "boop"}` when the event was dropped (a bot, a spam referrer), 400 for a body Umami would
refuse or a website no site takes Umami traffic for, 403 for an origin the site does not allow.
`/api/batch` takes an array of such messages and answers 200 `{size, processed, errors, details}` (each
refused message's index and error). Any origin may call them (CORS `*`, `x-umami-cache` allowed).
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

from domain.compat.ingest import ingest_compat
from domain.compat.umami import cache_token, parse_batch, parse_message
from domain.errors import BadRequest, DomainError, Forbidden, Invalid
from handlers.cross_origin import CrossOriginHandler, preflight
from handlers.errors import ApiError
from handlers.operations import documented
from handlers.policy import public
from handlers.routes import route
from runtime.metrics import DropReason

MAX_BODY_BYTES = 256 * 1024
CORS_HEADERS = (("Access-Control-Allow-Origin", "*"), ("Access-Control-Expose-Headers", "Retry-After"))
BOT_ANSWER = {"beep": "boop"}


class UmamiPayload(msgspec.Struct, omit_defaults=True):
    """What an Umami tracker sends about the page and event."""

    website: str
    hostname: str | None = None
    screen: str | None = None
    language: str | None = None
    title: str | None = None
    url: str | None = None
    referrer: str | None = None
    name: str | None = None
    data: dict[str, Any] | None = None
    id: str | None = None
    tag: str | None = None
    timestamp: int | None = None


class UmamiMessage(msgspec.Struct):
    """`{type, payload}`: type is event or identify."""

    type: str
    payload: UmamiPayload


class UmamiAnswer(msgspec.Struct, omit_defaults=True):
    """The tracker's cache token with the visitor and visit ids (or `beep` for a dropped event)."""

    cache: str | None = None
    sessionId: str | None = None
    visitId: str | None = None
    beep: str | None = None


class UmamiBatchAnswer(msgspec.Struct):
    """How many messages of a batch were taken, and why the others were refused."""

    size: int
    processed: int
    errors: int
    details: list[dict[str, Any]]


class UmamiHandler(CrossOriginHandler):
    """Shared parts of the two Umami routes."""

    max_body_bytes = MAX_BODY_BYTES
    cors_headers = CORS_HEADERS
    preflight_headers = preflight("Content-Type, x-umami-cache")

    def parsed_body(self) -> Any:
        """The body as JSON (400 when it is not)."""
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            raise ApiError(400, "invalid_json", "The body is not valid JSON.") from None

    async def send_one(self, message: Any) -> dict[str, Any]:
        """Store one message; returns the answer's document. Raises DomainError."""
        parsed = parse_message(message)
        site = await self.ctx.compat_sites.umami(parsed.website)
        if site is None:
            self.ctx.ingest.drop(DropReason.UNKNOWN_SITE)
            raise BadRequest(
                "Website not found.", code="unknown_website", fields={"payload.website": "unknown"}
            )
        sender = self.sender()
        if not site.allows_origin(sender.origin):
            self.ctx.ingest.drop(DropReason.BAD_ORIGIN)
            raise Forbidden("this origin may not send events for the site", code="bad_origin")
        try:
            outcome = await ingest_compat(self.ctx.ingest, "umami", site.id, [parsed.event], sender)
        except Invalid as invalid:  # a timestamp outside the window: Umami refuses bad payloads with 400
            raise BadRequest(invalid.message, code="invalid_payload", fields=invalid.fields) from None
        if not outcome.events:
            return BOT_ANSWER
        event = outcome.events[0]
        token = cache_token(self.ctx.secrets.hash_key, parsed.website, event.visitor_id, event.session_id)
        return {"cache": token, "sessionId": event.visitor_id, "visitId": event.session_id}


class SendHandler(UmamiHandler):
    """One message."""

    @documented(request=UmamiMessage, response=UmamiAnswer, errors=(403, 429, 503))
    @public
    async def post(self) -> None:
        """Umami's collect API: one event or identify

        Sites with compat.umami on; the website is the site id or its umami_alias. 200 `{beep: boop}` when
        the event was dropped (bots, spam)."""
        self.write_json(await self.send_one(self.parsed_body()))


class BatchHandler(UmamiHandler):
    """Several messages, each stored or refused on its own."""

    @documented(request=list[UmamiMessage], response=UmamiBatchAnswer, errors=(429, 503))
    @public
    async def post(self) -> None:
        """Umami's batch API: several messages

        Sites with compat.umami on; the website is the site id or its umami_alias. At most 100 messages;
        each refused one is listed in `details`."""
        messages = parse_batch(self.parsed_body())
        details: list[dict[str, Any]] = []
        for index, message in enumerate(messages):
            try:
                await self.send_one(message)
            except DomainError as error:
                if error.status in (429, 503):
                    raise  # the whole batch is worth retrying later
                details.append({"index": index, "response": ApiError.from_domain(error).document()})
        processed = len(messages) - len(details)
        self.write_json(
            {"size": len(messages), "processed": processed, "errors": len(details), "details": details}
        )


openapi_tag = "compat"
default_handlers = [route("/api/send", SendHandler), route("/api/batch", BatchHandler)]

_HOW = "Sites with compat.umami on; the website is the site id or its umami_alias."
