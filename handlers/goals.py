"""`GET /api/v1/sites/{site_id}/stats/goals`: the site's goals with conversions, conversion rates and
revenue per currency (domain/goals/), plus `by` (an event field or `prop:<name>`) for the same per group.
`GET /api/v1/sites/{site_id}/stats/engagement`: time on page and scroll depth, overall and per page
(`limit` pages, or the `pages` asked for). Same auth, range and filter parameters as the other stats
(`from`, `to`, `tz`, `filters`), and readable through a share link (`/api/v1/share/stats/goals`, ...)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import msgspec

from domain.errors import Invalid
from domain.goals.engagement import engagement_report
from domain.goals.report import goal_report
from domain.stats.titles import MAX_PAGES, page_titles
from handlers.access import authorized
from handlers.operations import documented
from handlers.routes import route
from handlers.stats import StatsHandler


def _pages(pages: list[str]) -> list[str]:
    """The `pages` arguments, bounded (Invalid past MAX_PAGES or a long path)."""
    if len(pages) > MAX_PAGES or any(len(page) > 2048 for page in pages):
        raise Invalid("too many pages", fields={"pages": f"at most {MAX_PAGES} pages"})
    return pages


async def _titled(titles: Awaitable[dict[str, str]]) -> dict[str, Any]:
    return {"titles": await titles}


async def _framed(site_id: str, tz: str, report: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    return {"site_id": site_id, "tz": tz, **await report}


class RangeQuery(msgspec.Struct, omit_defaults=True):
    """The range and filters, as for every stats query."""

    from_: str | None = msgspec.field(default=None, name="from")
    to: str | None = None
    tz: str | None = None
    filters: str | None = None


class GoalsQuery(RangeQuery, omit_defaults=True):
    """The range and filters, and an optional grouping."""

    by: str | None = None


class Revenue(msgspec.Struct):
    """Revenue in one currency: the exact decimal sum (as text) and how many events carried it."""

    sum: str
    count: int


class GroupRow(msgspec.Struct):
    """One group's conversions (`by`)."""

    value: str | None
    visitors: int
    conversions: int
    conversion_rate: float
    revenue: dict[str, Revenue]
    revenue_total: str | None


class GoalRow(msgspec.Struct):
    """One goal's conversions; `groups` with `by`."""

    goal: str
    kind: str
    match: str
    visitors: int
    conversions: int
    conversion_rate: float
    revenue: dict[str, Revenue]
    revenue_total: str | None
    groups: list[GroupRow] | None = None


class GoalsAnswer(msgspec.Struct):
    """Every goal of the site over the range."""

    site_id: str
    tz: str
    visitors: int
    currency: str | None
    by: str | None
    goals: list[GoalRow]


class EngagementQuery(RangeQuery, omit_defaults=True):
    """The range and filters, and how many pages or which (repeatable)."""

    limit: int | None = None
    pages: str | None = None


class Engagement(msgspec.Struct):
    """Mean engaged seconds and deepest scroll (%) of the views that sent engagement."""

    time_on_page_s: float
    scroll_depth: float
    views: int


class PageEngagement(Engagement):
    """One page's engagement."""

    page: str


class TitlesQuery(RangeQuery, omit_defaults=True):
    """The range and filters, and the pages (repeatable, at most 100)."""

    pages: str | None = None


class TitlesAnswer(msgspec.Struct):
    """Each asked page's title (pages without a titled pageview in the range are left out)."""

    site_id: str
    tz: str
    titles: dict[str, str]


class EngagementAnswer(msgspec.Struct):
    """Engagement overall and per page."""

    site_id: str
    tz: str
    overall: Engagement
    pages: list[PageEngagement]


class GoalsHandler(StatsHandler):
    """Conversions of the site's goals."""

    @documented(query=GoalsQuery, response=GoalsAnswer)
    @authorized("site:view", secret_key=True)
    async def get(self, site_id: str) -> None:
        """Goals: conversions, conversion rate and revenue per currency

        Goals are set on the site (`goals`: `{event}` or `{page}`, a trailing * matching a prefix). Revenue
        sums the events' `revenue_amount` per `revenue_currency` as exact decimals; `revenue_total` is the
        sum in the site's `currency`."""
        params = self.params()
        # goals group by an event field or prop (checked by goal_report), not by a breakdown name
        query = self.query(msgspec.structs.replace(params, by=None))
        site = self.site
        report = goal_report(
            self.ctx.stores.events,
            site.id,
            site.goals,
            query.start,
            query.end,
            currency=site.currency or None,
            by=params.by or "",
            base=query.event_filter(site.id),
        )
        await self.answer(_framed(site.id, query.tz, report))


class EngagementHandler(StatsHandler):
    """Time on page and scroll depth."""

    @documented(query=EngagementQuery, response=EngagementAnswer)
    @authorized("site:view", secret_key=True)
    async def get(self, site_id: str) -> None:
        """Time on page and scroll depth, overall and per page

        From `engagement` events (Eddy's tracker, Plausible's): a view is a (visit, page) pair;
        time_on_page_s is the mean of its summed engaged_ms, scroll_depth the mean of its deepest scroll."""
        site, query = self.site, self.query()
        pages = _pages(self.get_query_arguments("pages"))
        report = engagement_report(
            self.ctx.stores.events,
            site.id,
            query.start,
            query.end,
            limit=query.limit,
            base=query.event_filter(site.id),
            pages=pages,
        )
        await self.answer(_framed(site.id, query.tz, report))


class TitlesHandler(StatsHandler):
    """The titles of the pages asked for."""

    @documented(query=TitlesQuery, response=TitlesAnswer)
    @authorized("site:view", secret_key=True)
    async def get(self, site_id: str) -> None:
        """The titles of some pages (shown on hover in the dashboard)

        The title of each page's first pageview in the range and filters; `pages` is repeatable, at most
        100."""
        site, query = self.site, self.query()
        pages = _pages(self.get_query_arguments("pages"))
        titles = page_titles(self.ctx.stores.events, query.event_filter(site.id), pages)
        await self.answer(_framed(site.id, query.tz, _titled(titles)))


_STATS = "/api/v1/sites/{site_id}/stats"
openapi_tag = "stats"
default_handlers = [
    route(f"{_STATS}/goals", GoalsHandler),
    route(f"{_STATS}/engagement", EngagementHandler),
    route(f"{_STATS}/titles", TitlesHandler),
]
