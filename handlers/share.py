"""Share links: manage them (`/api/v1/sites/{site_id}/share-links`, admins of the site), and use them
(`/api/v1/share/...` and `WS /ws/share/live`, read-only, with the link's token).

The token never travels in a URL: the dashboard keeps it in the link's fragment (`/share#TOKEN`, which
browsers neither send to servers nor put in a Referer) and sends it in the `X-Share-Token` header, or
as `{"share_token": ...}` in the live socket's first message. What a token opens is exactly what a
viewer of the site sees through the stats API and the live stream; nothing else (no keys, members or
settings).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from domain.errors import RateLimited, Unauthorized
from domain.share import ShareLinkOut
from handlers import goals, imports, stats
from handlers.access import authorized
from handlers.base import ApiHandler
from handlers.live import (
    CLOSE_TOO_MANY,
    CLOSE_UNAUTHORIZED,
    CLOSE_UNAVAILABLE,
    LiveSocket,
    LiveSocketHandler,
)
from handlers.operations import documented
from handlers.policy import declare
from handlers.routes import route
from web.websocket import take_over

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
# A live socket opened with a share token checks it again this often, in the open stream (a revoked
# link stops streaming even if the revocation's broadcast was missed; a live one streams on).
SHARE_RECHECK_S = 300.0
MAX_TOKEN_LENGTH = 128


def share_token(method: F) -> F:
    """Require a valid, unrevoked share token in `X-Share-Token`; its site is `self.site`, for reading
    only: no principal is set, so a handler asking `site_for` anything answers 404."""

    @functools.wraps(method)
    async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        raw = (self.request.headers.get("X-Share-Token") or "").strip()
        throttle = self.ctx.accounts.throttle
        ip = self.request.remote_ip or ""
        await throttle.credential_allowed(ip)  # 429 for an address guessing tokens
        site = await self.ctx.share.site_for_token(raw[:MAX_TOKEN_LENGTH]) if raw else None
        if site is None:
            await throttle.credential_failed(ip)
            raise Unauthorized("this share link is invalid or was revoked", code="invalid_share_token")
        self.site = site
        result = method(self, *args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    return declare("share_token")(wrapper)  # type: ignore[return-value]


class ShareLinkAnswer(msgspec.Struct):
    """One share link."""

    share_link: ShareLinkOut


class ShareLinkList(msgspec.Struct):
    """A site's share links, newest first."""

    share_links: list[ShareLinkOut]


class SharedSite(msgspec.Struct):
    """What a share link shows of its site."""

    id: str
    name: str
    domain: str
    timezone: str


class SharedSiteAnswer(msgspec.Struct):
    """The site a share link opens."""

    site: SharedSite


class ShareLinksHandler(ApiHandler):
    """List and create a site's share links."""

    @documented(response=ShareLinkList)
    @authorized("site:admin")
    async def get(self, site_id: str) -> None:
        """The site's share links"""
        self.write_json(ShareLinkList(share_links=await self.ctx.share.list(self.site)))

    @documented(response=ShareLinkAnswer, status=201, errors=(409,))
    @authorized("site:admin")
    async def post(self, site_id: str) -> None:
        """Create a read-only share link (its token is in this answer only)"""
        self.write_json(ShareLinkAnswer(share_link=await self.ctx.share.create(self.site)), 201)


class ShareLinkHandler(ApiHandler):
    """Revoke one share link."""

    @documented(status=204)
    @authorized("site:admin")
    async def delete(self, site_id: str, link_id: str) -> None:
        """Revoke a share link"""
        await self.ctx.share.revoke(self.site, link_id)
        self.no_content()


class SharedSiteHandler(ApiHandler):
    """`GET /api/v1/share/site`: the site behind the token."""

    @share_token
    def get(self) -> None:
        site = self.site
        shown = SharedSite(id=site.id, name=site.name, domain=site.domain, timezone=site.timezone)
        self.write_json(SharedSiteAnswer(site=shown))


def _shared_stats(handler: type[ApiHandler]) -> type[ApiHandler]:
    """The stats handler `handler`, answering for a share token's site (same parsing, same answers)."""
    inner = handler.get.__wrapped__  # type: ignore[attr-defined]  # under its auth decorator

    class Shared(handler):  # type: ignore[misc, valid-type]
        @share_token
        async def get(self) -> None:
            await inner(self, self.site.id)

    Shared.__name__ = Shared.__qualname__ = "Shared" + handler.__name__
    Shared.__doc__ = f"{handler.__doc__} (read-only, through a share link)"
    return Shared


class ShareLiveSocket(LiveSocket):
    """The live stream of a share token's site: first message `{"share_token": ...}` (optionally with
    `filter`); then the same snapshot and ticks, close codes and admission as `/ws/live`. Revoking the
    link closes the stream at once (4401, in every process: its `session` is the link's); the link is
    also checked again every SHARE_RECHECK_S, in case that broadcast was missed while the bus was down:
    a link still valid keeps its stream open (a share link has no expiry of its own)."""

    __slots__ = ("_recheck", "_share_token")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._share_token = ""
        self._recheck: asyncio.Task[None] | None = None

    def refusal(self) -> str | None:
        return None  # the site comes with the token

    async def check_token(self, data: dict[str, Any]) -> float | None:
        raw = data.get("share_token")
        token = raw if isinstance(raw, str) and len(raw) <= MAX_TOKEN_LENGTH else None
        throttle = self.ctx.accounts.throttle
        try:
            await throttle.credential_allowed(self.ip)
        except RateLimited:
            self.close(CLOSE_TOO_MANY, "too many invalid share tokens from this address")
            return None
        opened = await self.ctx.share.open(token)
        if opened is None or (self.site_id and opened[1].id != self.site_id):
            if opened is None:
                await throttle.credential_failed(self.ip)
            self.close(CLOSE_UNAUTHORIZED, "this share link is invalid or was revoked")
            return None
        self.session, site = opened
        self.site_id = site.id
        self._share_token = token or ""
        return time.time() + SHARE_RECHECK_S

    def expired(self) -> None:
        # The sweep calls this synchronously; the store is asked in a task (kept, so it is not collected).
        if self._recheck is None or self._recheck.done():
            self._recheck = asyncio.ensure_future(self._check_again())

    async def _check_again(self) -> None:
        """The periodic check: the same link still opens the same site, or the stream closes."""
        try:
            opened = await self.ctx.share.open(self._share_token)
        except Exception:
            log.warning("share link recheck failed; the dashboard reconnects", exc_info=True)
            if self.open:
                self.close(CLOSE_UNAVAILABLE, "try again shortly")
            return
        if not self.open:
            return
        if opened is None or opened[1].id != self.site_id:
            self.close(CLOSE_UNAUTHORIZED, "this share link is invalid or was revoked")
            return
        self.deadline = time.monotonic() + SHARE_RECHECK_S


class ShareLiveSocketHandler(LiveSocketHandler):
    """`WS /ws/share/live`: same origin check and upgrade as `/ws/live`, served by a ShareLiveSocket."""

    def make_socket(self) -> LiveSocket:
        return ShareLiveSocket(self.ctx, self.request.remote_ip or "", "")

    @declare("share_token_in_first_message")
    async def get(self) -> None:
        await take_over(self, self.make_socket())


_LINKS = "/api/v1/sites/{site_id}/share-links"
# The stats kinds a share link reads, and the other answers it reads (same parsing, same answers).
SHARED_KINDS = ("summary", "timeseries", "breakdown", "realtime", "funnel", "retention")
SharedStats = _shared_stats(stats.StatsKindHandler)
SHARED_STATS = {
    "goals": goals.GoalsHandler,
    "engagement": goals.EngagementHandler,
    "titles": goals.TitlesHandler,
    "history": imports.HistoryHandler,
}
openapi_tag = "share"
default_handlers = [
    route(_LINKS, ShareLinksHandler),
    route(f"{_LINKS}/{{link_id}}", ShareLinkHandler),
    (r"/api/v1/share/site", SharedSiteHandler),
    *((rf"/api/v1/share/stats/{kind}", SharedStats, {"kind": kind}) for kind in SHARED_KINDS),
    *((rf"/api/v1/share/stats/{kind}", _shared_stats(cls)) for kind, cls in SHARED_STATS.items()),
    (r"/ws/share/live", ShareLiveSocketHandler),
]
