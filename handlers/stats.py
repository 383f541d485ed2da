"""`/api/v1/sites/{site_id}/stats/...`: the analytics queries (thin handlers over domain/stats).

Auth (`@authorized("site:view", secret_key=True)`): an owner or member's bearer token, or the site's own
secret key (`X-Api-Key`). Parameters are
described in domain/stats/query.py; answers carry `cached: true|false`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Annotated, Any

import msgspec

from domain.errors import Invalid
from domain.stats.filters import FILTERS_HELP
from domain.stats.funnels import MAX_WINDOW_S, parse_steps
from domain.stats.query import StatsQuery, parse_query
from handlers.access import authorized
from handlers.base import ApiHandler
from handlers.openapi import Operation

_PARAMS = (
    "from",
    "to",
    "tz",
    "interval",
    "by",
    "limit",
    "sort",
    "metrics",
    "steps",
    "window",
    "with_imported",
)
MAX_PARAM_LENGTH = 2048


class StatsHandler(ApiHandler):
    """Shared parsing: the site (checked first, by the access declaration), then the query in the site's
    timezone; answers are computed in a task that is cancelled (stopping the store's scan) when the client
    goes away."""

    _work: asyncio.Future[Any] | None = None
    _gone = False

    async def answer(self, work: Awaitable[dict[str, Any]]) -> None:
        """Write the answer of `work`, unless the client left first (then the work is cancelled)."""
        self._work = asyncio.ensure_future(work)
        try:
            result = await self._work
        except asyncio.CancelledError:
            if self._gone:
                return
            raise
        finally:
            self._work = None
        self.write_json(result)

    def on_connection_close(self) -> None:
        self._gone = True
        if self._work is not None:
            self._work.cancel()
        super().on_connection_close()

    def params(self) -> dict[str, str]:
        """The single-valued query parameters this API knows (bounded in length)."""
        values: dict[str, str] = {}
        for name in _PARAMS:
            value = self.get_query_argument(name, None)
            if value is not None:
                if len(value) > MAX_PARAM_LENGTH:
                    raise Invalid("a parameter is too long", fields={name: "too long"})
                values[name] = value
        return values

    def query(
        self, *, need_by: bool = False, params: dict[str, str] | None = None
    ) -> tuple[dict[str, Any], StatsQuery]:
        """The site (`self.site`, settled by the method's access declaration) and the validated query."""
        site: dict[str, Any] = self.site
        filters = [*self.get_query_arguments("filters"), *self.get_query_arguments("filter")]
        query = parse_query(
            self.params() if params is None else params,
            filters,
            default_tz=site.get("timezone") or "UTC",
            now_ms=self.ctx.stats.now_ms(),
            need_by=need_by,
        )
        return site, query


class SummaryHandler(StatsHandler):
    """Totals with the previous period alongside."""

    @authorized("site:view", secret_key=True)
    async def get(self, site_id: str) -> None:
        site, query = self.query()
        await self.answer(self.ctx.stats.summary(site["id"], query))


class TimeseriesHandler(StatsHandler):
    """Metrics per interval, empty buckets filled."""

    @authorized("site:view", secret_key=True)
    async def get(self, site_id: str) -> None:
        site, query = self.query()
        await self.answer(self.ctx.stats.timeseries(site["id"], query))


class BreakdownHandler(StatsHandler):
    """Top values of a dimension."""

    @authorized("site:view", secret_key=True)
    async def get(self, site_id: str) -> None:
        site, query = self.query(need_by=True)
        await self.answer(self.ctx.stats.breakdown(site["id"], query))


class RealtimeHandler(StatsHandler):
    """Visitors now, pageviews per minute, top pages (never cached)."""

    @authorized("site:view", secret_key=True)
    async def get(self, site_id: str) -> None:
        await self.answer(self.ctx.stats.realtime(self.site["id"]))


class FunnelHandler(StatsHandler):
    """Ordered steps within a window."""

    @authorized("site:view", secret_key=True)
    async def get(self, site_id: str) -> None:
        site, query = self.query()
        params = self.params()
        steps = parse_steps(params.get("steps", ""))
        raw_window = params.get("window", "86400")
        if not raw_window.isdigit() or not 1 <= int(raw_window) <= MAX_WINDOW_S:
            raise Invalid("bad window", fields={"window": f"seconds, 1 to {MAX_WINDOW_S}"})
        await self.answer(self.ctx.stats.funnel(site["id"], query, steps, int(raw_window)))


class RetentionHandler(StatsHandler):
    """Weekly cohorts."""

    @authorized("site:view", secret_key=True)
    async def get(self, site_id: str) -> None:
        site, query = self.query()
        await self.answer(self.ctx.stats.retention(site["id"], query))


class ActiveHandler(StatsHandler):
    """DAU / WAU / MAU per day."""

    @authorized("site:view", secret_key=True)
    async def get(self, site_id: str) -> None:
        site, query = self.query()
        await self.answer(self.ctx.stats.active(site["id"], query))


class UserJourneyHandler(StatsHandler):
    """One identified user's journey."""

    @authorized("site:view", secret_key=True)
    async def get(self, site_id: str, user_id: str) -> None:
        site, query = self.query()
        await self.answer(self.ctx.stats.user(site["id"], user_id, query))


class StatsParams(msgspec.Struct, forbid_unknown_fields=True):
    """Query parameters of the stats endpoints (see each operation for which apply)."""

    from_: str | None = msgspec.field(name="from", default=None)
    to: str | None = None
    tz: str | None = None
    interval: str | None = None
    filters: Annotated[str | None, msgspec.Meta(description=FILTERS_HELP)] = None
    by: str | None = None
    sort: str | None = None
    limit: int | None = None
    metrics: str | None = None
    steps: str | None = None
    window: int | None = None
    with_imported: Annotated[
        bool | None,
        msgspec.Meta(
            description="true merges the site's imported Plausible history into summary, day/week/month "
            "series and breakdowns (days without live events only); the answer's `imported` says what "
            "was merged."
        ),
    ] = None


_ID = r"([A-Za-z0-9_-]{1,64})"
_USER = r"([^/]{1,256})"
_BASE = "/api/v1/sites/{site_id}/stats"
default_handlers = [
    (rf"/api/v1/sites/{_ID}/stats/summary", SummaryHandler),
    (rf"/api/v1/sites/{_ID}/stats/timeseries", TimeseriesHandler),
    (rf"/api/v1/sites/{_ID}/stats/breakdown", BreakdownHandler),
    (rf"/api/v1/sites/{_ID}/stats/realtime", RealtimeHandler),
    (rf"/api/v1/sites/{_ID}/stats/funnel", FunnelHandler),
    (rf"/api/v1/sites/{_ID}/stats/retention", RetentionHandler),
    (rf"/api/v1/sites/{_ID}/stats/active", ActiveHandler),
    (rf"/api/v1/sites/{_ID}/stats/users/{_USER}", UserJourneyHandler),
]


def _op(path: str, summary: str, **extra: Any) -> Operation:
    return Operation(
        "GET",
        f"{_BASE}/{path}",
        summary,
        tag="stats",
        auth="bearer_or_secret_key",
        response=dict,
        errors=(404, 503),
        **extra,
    )


openapi_operations = [
    _op(
        "summary",
        "Visitors, visits, pageviews, events, bounce rate, visit duration, with the previous period",
        query=StatsParams,
    ),
    _op("timeseries", "Metrics per minute/hour/day/week/month in the site's timezone", query=StatsParams),
    _op("breakdown", "Top values of a dimension (`by`), sorted and limited", query=StatsParams),
    _op("realtime", "Visitors in the last 5 minutes, pageviews per minute, top pages now"),
    _op("funnel", "People through ordered steps (`steps`) within `window` seconds", query=StatsParams),
    _op("retention", "Weekly cohorts", query=StatsParams),
    _op("active", "Daily, weekly and monthly active people per day", query=StatsParams),
    _op(
        "users/{user_id}",
        "One user's journey: first and last seen, totals, recent events and sessions",
        query=StatsParams,
    ),
]
