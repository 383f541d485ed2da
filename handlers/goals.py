"""`GET /api/v1/sites/{site_id}/stats/goals`: the site's goals with conversions, conversion rates and
revenue per currency (domain/goals/), plus `by` (an event field or `prop:<name>`) for the same per group.
`GET /api/v1/sites/{site_id}/stats/engagement`: time on page and scroll depth, overall and per page
(`limit` pages). Same auth and range parameters as the other stats (`from`, `to`, `tz`)."""

from __future__ import annotations

import msgspec

from domain.errors import Invalid
from domain.goals.definitions import goals_of
from domain.goals.engagement import engagement_report
from domain.goals.report import goal_report
from domain.stats.query import parse_query
from handlers.access import bearer_or_secret_key
from handlers.base import ApiHandler
from handlers.openapi import Operation

MAX_PARAM_LENGTH = 256


class RangeHandler(ApiHandler):
    """Reads the stats range parameters and a few of its own."""

    def params(self, *extra: str) -> dict[str, str]:
        """The query parameters named, bounded in length."""
        params = {}
        for name in ("from", "to", "tz", *extra):
            value = self.get_query_argument(name, None)
            if value is not None:
                if len(value) > MAX_PARAM_LENGTH:
                    raise Invalid("a parameter is too long", fields={name: "too long"})
                params[name] = value
        return params


class GoalsHandler(RangeHandler):
    """Conversions of the site's goals."""

    @bearer_or_secret_key
    async def get(self, site_id: str) -> None:
        site = await self.site_for(site_id)
        params = self.params("by")
        by = params.pop("by", "")
        query = parse_query(params, default_tz=site.get("timezone") or "UTC", now_ms=self.ctx.stats.now_ms())
        report = await goal_report(
            self.ctx.stores.events,
            site["id"],
            goals_of(site),
            query.start,
            query.end,
            currency=site.get("currency") or None,
            by=by,
        )
        self.write_json({"site_id": site["id"], "tz": query.tz, **report})


class EngagementHandler(RangeHandler):
    """Time on page and scroll depth."""

    @bearer_or_secret_key
    async def get(self, site_id: str) -> None:
        site = await self.site_for(site_id)
        params = self.params("limit")
        raw_limit = params.pop("limit", "10")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 1000:
            raise Invalid("limit must be a whole number from 1 to 1000", fields={"limit": "1 to 1000"})
        query = parse_query(params, default_tz=site.get("timezone") or "UTC", now_ms=self.ctx.stats.now_ms())
        report = await engagement_report(
            self.ctx.stores.events, site["id"], query.start, query.end, limit=int(raw_limit)
        )
        self.write_json({"site_id": site["id"], "tz": query.tz, **report})


class GoalsQuery(msgspec.Struct, omit_defaults=True):
    """The range (as for every stats query) and an optional grouping."""

    from_: str | None = msgspec.field(default=None, name="from")
    to: str | None = None
    tz: str | None = None
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


class EngagementQuery(msgspec.Struct, omit_defaults=True):
    """The range (as for every stats query) and how many pages."""

    from_: str | None = msgspec.field(default=None, name="from")
    to: str | None = None
    tz: str | None = None
    limit: int | None = None


class Engagement(msgspec.Struct):
    """Mean engaged seconds and deepest scroll (%) of the views that sent engagement."""

    time_on_page_s: float
    scroll_depth: float
    views: int


class PageEngagement(Engagement):
    """One page's engagement."""

    page: str


class EngagementAnswer(msgspec.Struct):
    """Engagement overall and per page."""

    site_id: str
    tz: str
    overall: Engagement
    pages: list[PageEngagement]


_ID = r"([A-Za-z0-9_-]{1,64})"
default_handlers = [
    (rf"/api/v1/sites/{_ID}/stats/goals", GoalsHandler),
    (rf"/api/v1/sites/{_ID}/stats/engagement", EngagementHandler),
]

openapi_operations = [
    Operation(
        "GET",
        "/api/v1/sites/{site_id}/stats/goals",
        "Goals: conversions, conversion rate and revenue per currency",
        tag="stats",
        auth="bearer_or_secret_key",
        query=GoalsQuery,
        response=GoalsAnswer,
        errors=(404,),
        description="Goals are set on the site (`goals`: `{event}` or `{page}`, a trailing * matching "
        "a prefix). Revenue sums the events' `revenue_amount` per `revenue_currency` as exact decimals; "
        "`revenue_total` is the sum in the site's `currency`.",
    ),
    Operation(
        "GET",
        "/api/v1/sites/{site_id}/stats/engagement",
        "Time on page and scroll depth, overall and per page",
        tag="stats",
        auth="bearer_or_secret_key",
        query=EngagementQuery,
        response=EngagementAnswer,
        errors=(404,),
        description="From `engagement` events (Eddy's tracker, Plausible's): a view is a (visit, page) "
        "pair; time_on_page_s is the mean of its summed engaged_ms, scroll_depth the mean of its deepest "
        "scroll.",
    ),
]
