"""`GET /api/v1/sites/{site_id}/stats/goals`: the site's goals with conversions, conversion rates and
revenue per currency (domain/goals/), plus `by` (an event field or `prop:<name>`) for the same per group.
`GET /api/v1/sites/{site_id}/stats/engagement`: time on page and scroll depth, overall and per page
(`limit` pages, or the `pages` asked for). Same auth, range and filter parameters as the other stats
(`from`, `to`, `tz`, `filters`), and readable through a share link (`/api/v1/share/stats/goals`, ...)."""

from __future__ import annotations

import msgspec

from domain.errors import Invalid
from domain.goals.answers import EngagementAnswer, GoalsAnswer, TitlesAnswer
from domain.stats.titles import MAX_PAGES
from handlers.access import authorized
from handlers.operations import documented
from handlers.routes import route
from handlers.stats import StatsHandler


def _pages(pages: list[str]) -> list[str]:
    """The `pages` arguments, bounded (Invalid past MAX_PAGES or a long path)."""
    if len(pages) > MAX_PAGES or any(len(page) > 2048 for page in pages):
        raise Invalid("too many pages", fields={"pages": f"at most {MAX_PAGES} pages"})
    return pages


class RangeQuery(msgspec.Struct, omit_defaults=True):
    """The range and filters, as for every stats query."""

    from_: str | None = msgspec.field(default=None, name="from")
    to: str | None = None
    tz: str | None = None
    filters: str | None = None


class GoalsQuery(RangeQuery, omit_defaults=True):
    """The range and filters, and an optional grouping."""

    by: str | None = None


class EngagementQuery(RangeQuery, omit_defaults=True):
    """The range and filters, and how many pages or which (repeatable)."""

    limit: int | None = None
    pages: str | None = None


class TitlesQuery(RangeQuery, omit_defaults=True):
    """The range and filters, and the pages (repeatable, at most 100)."""

    pages: str | None = None


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
        report = self.ctx.stats.goals(
            site, query.start, query.end, tz=query.tz, by=params.by or "", base=query.event_filter(site.id)
        )
        await self.answer(report)


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
        report = self.ctx.stats.engagement(
            site.id,
            query.start,
            query.end,
            tz=query.tz,
            limit=query.limit,
            base=query.event_filter(site.id),
            pages=pages,
        )
        await self.answer(report)


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
        await self.answer(self.ctx.stats.titles(query.event_filter(site.id), pages, tz=query.tz))


_STATS = "/api/v1/sites/{site_id}/stats"
openapi_tag = "stats"
default_handlers = [
    route(f"{_STATS}/goals", GoalsHandler),
    route(f"{_STATS}/engagement", EngagementHandler),
    route(f"{_STATS}/titles", TitlesHandler),
]
