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
from handlers.operations import documented
from handlers.routes import route


class MetricConfigsHandler(ApiHandler):
    """List and declare metrics."""

    @documented(response=MetricList)
    @authorized("site:view")
    async def get(self, site_id: str) -> None:
        """The site's metric declarations"""
        self.write_json(MetricList(metrics=await self.ctx.accounts.metric_configs.list(self.site)))

    @documented(request=MetricCreate, response=MetricAnswer, status=201, errors=(409,))
    @authorized("site:admin")
    async def post(self, site_id: str) -> None:
        """Declare a metric (admin); duplicate name answers 409"""
        body = self.body_as(MetricCreate)
        metric = await self.ctx.accounts.metric_configs.create(self.site, body)
        self.write_json(MetricAnswer(metric=metric), 201)


class MetricConfigHandler(ApiHandler):
    """Read, change or delete one declaration."""

    @documented(response=MetricAnswer)
    @authorized("site:view")
    async def get(self, site_id: str, metric_id: str) -> None:
        """One metric declaration"""
        doc = await self.ctx.accounts.metric_configs.get(self.site, metric_id)
        self.write_json(MetricAnswer(metric=metric_out(doc)))

    @documented(request=MetricUpdate, response=MetricAnswer, errors=(409,))
    @authorized("site:admin")
    async def patch(self, site_id: str, metric_id: str) -> None:
        """Change a declaration (admin; the type cannot change)"""
        body = self.body_as(MetricUpdate)
        metric = await self.ctx.accounts.metric_configs.update(self.site, metric_id, body)
        self.write_json(MetricAnswer(metric=metric))

    @documented(status=204)
    @authorized("site:admin")
    async def delete(self, site_id: str, metric_id: str) -> None:
        """Delete a declaration (admin)"""
        await self.ctx.accounts.metric_configs.delete(self.site, metric_id)
        self.no_content()


_LIST = "/api/v1/sites/{site_id}/metrics"
_ONE = _LIST + "/{metric_id}"
openapi_tag = "metrics"
default_handlers = [route(_LIST, MetricConfigsHandler), route(_ONE, MetricConfigHandler)]
