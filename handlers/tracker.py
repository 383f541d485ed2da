"""`GET /t.js`: the browser tracker, for `<script src>` tags on customers' pages (any origin).

A URL carrying the current version (`/t.js?v=<version>`, what snippets use) is cached for a year as
immutable; any other (no `v`, or an older one) for an hour, revalidated by ETag, so plain `/t.js` picks up
a new release soon. CORS and CORP headers let pages load it cross-origin, with `crossorigin` or under
COEP. Compression is Tornado's (`compress_response`), so the gzipped size is what browsers download.
"""

from __future__ import annotations

from handlers.base import BaseHandler
from handlers.operations import documented
from handlers.policy import public
from handlers.routes import route
from tracker.bundle import current_bundle

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, max-age=3600"


class TrackerScriptHandler(BaseHandler):
    """Serves the built tracker."""

    _etag: str | None = None

    @documented(response=str, response_media="text/javascript")
    @public
    async def get(self) -> None:
        """The browser tracker (`?v=<version>` from a snippet: cached for a year)

        Answers 304 to a matching If-None-Match. See POST /api/v1/sites/{site_id}/snippet."""
        bundle = await current_bundle()
        self._etag = bundle.etag
        versioned = self.get_query_argument("v", None) == bundle.version
        self.set_header("Content-Type", "text/javascript; charset=utf-8")
        self.set_header("Cache-Control", IMMUTABLE if versioned else REVALIDATE)
        self.set_header("Access-Control-Allow-Origin", "*")
        self.set_header("Cross-Origin-Resource-Policy", "cross-origin")
        # finish() sets the ETag below and answers 304 to a matching If-None-Match.
        self.finish(bundle.body)

    @public
    async def head(self) -> None:
        await self.get()

    def compute_etag(self) -> str | None:
        return self._etag


openapi_tag = "ingest"
default_handlers = [route("/t.js", TrackerScriptHandler)]
