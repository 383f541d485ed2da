"""`/api/v1/sites/{site_id}/stats/...`: the analytics queries (thin handlers over domain/stats).

Auth (`@authorized("site:view", secret_key=True)`): an owner or member's bearer token, or the site's own
secret key (`X-Api-Key`). Parameters are
described in domain/stats/query.py (`StatsParams`); each kind's answer is a Struct of
domain/stats/answers.py, encoded here once, and carries `cached: true|false`. One handler class serves
every kind of answer (`KINDS`), each on its own route; the OpenAPI document describes each kind's answer
from its Struct.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import msgspec

from domain.stats.answers import (
    ActiveAnswer,
    BreakdownAnswer,
    FunnelAnswer,
    JourneyAnswer,
    RealtimeAnswer,
    RetentionAnswer,
    StatsAnswer,
    SummaryAnswer,
    TimeseriesAnswer,
)
from domain.stats.funnels import parse_steps
from domain.stats.query import DEFAULT_WINDOW_S, PARAM_NAMES, StatsParams, StatsQuery, query_of, read_params
from handlers.access import authorized
from handlers.base import ApiHandler
from handlers.operations import Operation
from handlers.routes import route

# Each kind of answer: what it says (its OpenAPI summary), its path under the site's stats, and the
# Struct it answers with. `realtime` takes no parameters.
KINDS: dict[str, tuple[str, str, type[StatsAnswer]]] = {
    "summary": (
        "Visitors, visits, pageviews, events, bounce rate, visit duration, with the previous period",
        "summary",
        SummaryAnswer,
    ),
    "timeseries": (
        "Metrics per minute/hour/day/week/month in the site's timezone",
        "timeseries",
        TimeseriesAnswer,
    ),
    "breakdown": ("Top values of a dimension (`by`), sorted and limited", "breakdown", BreakdownAnswer),
    "realtime": (
        "Visitors in the last 5 minutes, pageviews per minute, top pages now",
        "realtime",
        RealtimeAnswer,
    ),
    "funnel": ("People through ordered steps (`steps`) within `window` seconds", "funnel", FunnelAnswer),
    "retention": ("Weekly cohorts", "retention", RetentionAnswer),
    "active": ("Daily, weekly and monthly active people per day", "active", ActiveAnswer),
    "users": (
        "One user's journey: first and last seen, totals, recent events and sessions",
        "users/{user_id}",
        JourneyAnswer,
    ),
}
_encoder = msgspec.json.Encoder()


class StatsHandler(ApiHandler):
    """Shared parsing: the site (checked first, by the access declaration), then the query in the site's
    timezone; answers are computed in a task that is cancelled (stopping the store's scan) when the client
    goes away."""

    _work: asyncio.Future[msgspec.Struct] | None = None
    _gone = False

    async def answer(self, work: Awaitable[msgspec.Struct]) -> None:
        """Write the answer of `work` (a Struct: a stats, goals, engagement or titles answer), encoded
        straight to JSON, unless the client left first (then the work is cancelled)."""
        self._work = asyncio.ensure_future(work)
        try:
            result = await self._work
        except asyncio.CancelledError:
            if self._gone:
                return
            raise
        finally:
            self._work = None
        self.finish(_encoder.encode(result))

    def on_connection_close(self) -> None:
        self._gone = True
        if self._work is not None:
            self._work.cancel()
        super().on_connection_close()

    def params(self) -> StatsParams:
        """The query parameters this API knows (`filters` and its older spelling `filter` repeatable,
        the others single-valued), read and bounded by `StatsParams`; Invalid (422) names a bad one."""
        raw: dict[str, str | list[str]] = {
            name: value
            for name in PARAM_NAMES
            if name != "filters" and (value := self.get_query_argument(name, None)) is not None
        }
        raw["filters"] = [*self.get_query_arguments("filters"), *self.get_query_arguments("filter")]
        return read_params(raw)

    def query(self, params: StatsParams | None = None, *, need_by: bool = False) -> StatsQuery:
        """The validated query over the site (`self.site`, settled by the method's access declaration)."""
        return query_of(
            self.params() if params is None else params,
            default_tz=self.site.timezone,
            now_ms=self.ctx.stats.now_ms(),
            need_by=need_by,
        )


class StatsKindHandler(StatsHandler):
    """Every kind of stats answer (`KINDS`): one route per kind, the kind given by the route."""

    def initialize(self, kind: str) -> None:
        super().initialize()
        self.kind = kind

    @authorized("site:view", secret_key=True)
    async def get(self, site_id: str, user_id: str = "") -> None:
        await self.answer(self.work(self.site.id, user_id))

    def work(self, site_id: str, user_id: str) -> Awaitable[StatsAnswer]:
        """The stats service's answer for this kind (parameters read and checked first)."""
        stats = self.ctx.stats
        if self.kind == "realtime":  # never cached, no parameters: the polling twin of the live socket
            return stats.realtime(site_id)
        params = self.params()
        query = self.query(params, need_by=self.kind == "breakdown")
        match self.kind:
            case "summary":
                return stats.summary(site_id, query)
            case "timeseries":
                return stats.timeseries(site_id, query)
            case "breakdown":
                return stats.breakdown(site_id, query)
            case "funnel":
                steps = parse_steps(params.steps or "")
                return stats.funnel(site_id, query, steps, params.window or DEFAULT_WINDOW_S)
            case "retention":
                return stats.retention(site_id, query)
            case "active":
                return stats.active(site_id, query)
            case "users":
                return stats.user(site_id, user_id, query)
        raise LookupError(f"no stats kind {self.kind!r}")


_USER = r"([^/]{1,256})"
_BASE = "/api/v1/sites/{site_id}/stats"
openapi_tag = "stats"
default_handlers = [
    route(f"{_BASE}/{path}", StatsKindHandler, {"kind": kind}, user_id=_USER)
    for kind, (_summary, path, _answer) in KINDS.items()
]

openapi_operations = [
    Operation(
        "GET",
        f"{_BASE}/{path}",
        summary,
        auth="bearer_or_secret_key",
        response=answer,
        errors=(404, 503),
        query=None if kind == "realtime" else StatsParams,
    )
    for kind, (summary, path, answer) in KINDS.items()
]
