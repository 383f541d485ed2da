"""`POST /api/v1/sites/{site_id}/snippet`: the `<script>` tag for a site (any member, viewers included),
built by domain/snippets.py with the site's public key and Eddy's public URL."""

from __future__ import annotations

from domain.snippets import Snippet, SnippetRequest, base_url
from handlers.access import authorized
from handlers.base import ApiHandler
from handlers.operations import documented
from handlers.routes import route
from tracker.bundle import current_bundle


class SnippetHandler(ApiHandler):
    """Generates a tracking snippet."""

    @documented(request=SnippetRequest, response=Snippet)
    @authorized("site:view")
    async def post(self, site_id: str) -> None:
        """The <script> tag to paste into the site's pages

        Uses a public key of the site (`key_id`); secret, disabled and expired keys are refused with 422.
        Options are data-* attributes of the tag, so it runs under a strict CSP."""
        request = self.body_as(SnippetRequest)
        base = base_url(self.ctx.config.public_url, self.request.protocol, self.request.host)
        bundle = await current_bundle()
        snippets = self.ctx.accounts.snippets
        self.write_json(await snippets.make(self.site, request, base, bundle.version, bundle.integrity))


_PATH = "/api/v1/sites/{site_id}/snippet"
openapi_tag = "sites"
default_handlers = [route(_PATH, SnippetHandler)]
