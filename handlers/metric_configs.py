"""`/api/v1/sites/{site_id}/metrics`: a site's Prometheus metric declarations (thin handlers over
domain/accounts/metric_configs.py). Viewers read; admins and owners change."""

from __future__ import annotations

from domain.accounts.metric_configs import (
    MetricAnswer,
    MetricCreate,
    MetricList,
    MetricUpdate,
    metric_out,
)
from handlers.access import authorized
from handlers.base import ApiHandler
from handlers.openapi import Operation
from handlers.routes import route


class MetricConfigsHandler(ApiHandler):
    """List and declare metrics."""

    @authorized("site:view")
    async def get(self, site_id: str) -> None:
        self.write_json(MetricList(metrics=await self.ctx.accounts.metric_configs.list(self.site)))

    @authorized("site:admin")
    async def post(self, site_id: str) -> None:
        body = self.body_as(MetricCreate)
        metric = await self.ctx.accounts.metric_configs.create(self.site, body)
        self.write_json(MetricAnswer(metric=metric), 201)


class MetricConfigHandler(ApiHandler):
    """Read, change or delete one declaration."""

    @authorized("site:view")
    async def get(self, site_id: str, metric_id: str) -> None:
        doc = await self.ctx.accounts.metric_configs.get(self.site, metric_id)
        self.write_json(MetricAnswer(metric=metric_out(doc)))

    @authorized("site:admin")
    async def patch(self, site_id: str, metric_id: str) -> None:
        body = self.body_as(MetricUpdate)
        metric = await self.ctx.accounts.metric_configs.update(self.site, metric_id, body)
        self.write_json(MetricAnswer(metric=metric))

    @authorized("site:admin")
    async def delete(self, site_id: str, metric_id: str) -> None:
        await self.ctx.accounts.metric_configs.delete(self.site, metric_id)
        self.no_content()


_LIST = "/api/v1/sites/{site_id}/metrics"
_ONE = _LIST + "/{metric_id}"
default_handlers = [route(_LIST, MetricConfigsHandler), route(_ONE, MetricConfigHandler)]

openapi_operations = [
    Operation(
        "GET", _LIST, "The site's metric declarations", tag="metrics", response=MetricList, errors=(404,)
    ),
    Operation(
        "POST",
        _LIST,
        "Declare a metric (admin); duplicate name answers 409",
        tag="metrics",
        request=MetricCreate,
        response=MetricAnswer,
        status=201,
        errors=(403, 404, 409),
    ),
    Operation("GET", _ONE, "One metric declaration", tag="metrics", response=MetricAnswer, errors=(404,)),
    Operation(
        "PATCH",
        _ONE,
        "Change a declaration (admin; the type cannot change)",
        tag="metrics",
        request=MetricUpdate,
        response=MetricAnswer,
        errors=(403, 404, 409),
    ),
    Operation("DELETE", _ONE, "Delete a declaration (admin)", tag="metrics", status=204, errors=(403, 404)),
]
