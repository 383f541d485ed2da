"""`POST /api/event`: Plausible's Events API, for sites that switched `compat.plausible` on.

Answers as Plausible does: 202 `ok` (text/plain); 202 `ok` with `x-plausible-dropped: <n>` when events were
dropped (bots such as HeadlessChrome, spam referrers, a domain no site takes Plausible traffic for, an
origin the site does not allow); 400 `{"errors": {field: [message]}}` for a request it cannot take (the
answer also carries Eddy's own `error` object). Any origin may call it (CORS `*`): which origins a site
takes is checked per site. Client IP and user agent are read as for `/api/v1/collect` (X-Forwarded-For
only with --trust-proxy).
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson
from msgspec.structs import replace

from domain.compat.ingest import ingest_compat
from domain.compat.plausible import PlausibleInvalid, parse_event, path_with_fragment
from handlers.cross_origin import CrossOriginHandler
from handlers.operations import documented
from handlers.policy import public
from handlers.routes import route
from runtime.metrics import DropReason
from storage.records import Event

PATH = "/api/event"
MAX_BODY_BYTES = 64 * 1024
CORS_HEADERS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Expose-Headers", "x-plausible-dropped, Retry-After"),
)


def _keep_fragment(event: Event) -> Event:
    return replace(event, path=path_with_fragment(event.path, event.url))


class PlausibleEventBody(msgspec.Struct, omit_defaults=True):
    """Plausible's event body: the tracker's short names or the server API's long ones."""

    name: str | None = None
    url: str | None = None
    domain: str | None = None
    referrer: str | None = None
    props: dict[str, str | int | float | bool] | None = None
    revenue: dict[str, str | float] | None = None
    interactive: bool | None = None
    n: str | None = None
    u: str | None = None
    d: str | None = None
    r: str | None = None
    p: dict[str, str | int | float | bool] | None = None
    m: str | None = None
    h: int | None = None
    i: bool | None = None
    sd: int | None = None
    e: int | None = None
    v: int | str | None = None


class PlausibleEventHandler(CrossOriginHandler):
    """Plausible's tracker and server calls."""

    max_body_bytes = MAX_BODY_BYTES
    cors_headers = CORS_HEADERS

    @documented(
        request=PlausibleEventBody,
        response=str,
        response_media="text/plain",
        status=202,
        errors=(429, 503),
        request_media=("text/plain", "application/json"),
    )
    @public
    async def post(self) -> None:
        """Plausible's Events API (sites with compat.plausible on)

        Plausible's tracker and server calls, unchanged: 202 `ok` (text/plain), with `x-plausible-dropped:
        <n>` when events were dropped (bots, spam, a domain no site takes, an origin the site does not
        allow); 400 `{errors: {field: [message]}}` when the body is refused."""
        try:
            parsed = parse_event(self.body)
        except PlausibleInvalid as invalid:
            self.ctx.ingest.drop(DropReason.INVALID)
            self._errors(invalid)
            return
        sender = self.sender()
        fix = _keep_fragment if parsed.hash_mode else None
        dropped = 0
        for domain in parsed.domains:
            site = await self.ctx.compat_sites.plausible(domain)
            if site is None or not site.allows_origin(sender.origin):
                self.ctx.ingest.drop(DropReason.UNKNOWN_SITE if site is None else DropReason.BAD_ORIGIN)
                dropped += 1
                continue
            outcome = await ingest_compat(self.ctx.ingest, "plausible", site.id, [parsed.event], sender, fix)
            dropped += outcome.dropped_count
        if dropped:
            self.set_header("x-plausible-dropped", str(dropped))
        self.set_status(202)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(b"ok")

    def _errors(self, invalid: PlausibleInvalid) -> None:
        fields = {field: " ".join(messages) for field, messages in invalid.errors.items()}
        document: dict[str, Any] = {
            "errors": invalid.errors,
            "error": {
                "code": "invalid_event",
                "message": f"The event was not accepted: {invalid}.",
                "fields": fields,
            },
        }
        self.set_status(400)
        self.finish(orjson.dumps(document))


openapi_tag = "compat"
default_handlers = [route(PATH, PlausibleEventHandler)]
