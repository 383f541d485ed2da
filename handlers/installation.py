"""`GET /api/v1/sites/{site_id}/installation`: the installation check of the dashboard's Snippet tab and
empty dashboard. Whether Eddy has seen the site's keys in use (the last accepted request: when, from
which origin, with which key), the recent refusals with their reason, and the origins public keys are
honoured from. Any member of the site may ask (viewers included)."""

from __future__ import annotations

import msgspec

from domain.ingest.pipeline import site_origins
from handlers.access import authorized
from handlers.base import ApiHandler
from handlers.operations import documented
from handlers.routes import route


class LastEvent(msgspec.Struct):
    """The last accepted collect request."""

    at: int
    origin: str = ""
    key_id: str = ""


class Refusal(msgspec.Struct):
    """A recent refused request: `at` (epoch ms) is its latest time for this reason and origin."""

    at: int
    reason: str
    origin: str = ""
    detail: str = ""


class Installation(msgspec.Struct):
    """The installation check's answer."""

    site_id: str
    seen: bool
    last_event: LastEvent | None
    refusals: list[Refusal]
    allowed_origins: list[str]


class InstallationHandler(ApiHandler):
    """The installation check of one site."""

    @documented(response=Installation)
    @authorized("site:view")
    async def get(self, site_id: str) -> None:
        """Installation check: the last accepted event and the recent refusals

        `seen` is true once a collect request of the site was accepted; `last_event` says when (epoch ms),
        from which `origin` (empty for servers) and with which key. `refusals` (newest first, at most 20,
        one per reason and origin) use the reasons `bad_origin` (the page's origin is not in
        `allowed_origins`), `wrong_key_kind` (a secret key sent from a browser), `bot`, `rate_limited`,
        `invalid` and `spam_referrer`. Kept for 7 days."""
        report = await self.ctx.ingest.installation.report(self.site.id)
        self.write_json({"site_id": self.site.id, **report, "allowed_origins": site_origins(self.site)})


_PATH = "/api/v1/sites/{site_id}/installation"
openapi_tag = "sites"
default_handlers = [route(_PATH, InstallationHandler)]
