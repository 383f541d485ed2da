"""Alert rules of a site: `/api/v1/sites/{site_id}/alerts[/{rule_id}]` (site admins only; see
domain/alerts for the kinds, the webhook signature and the SSRF note)."""

from __future__ import annotations

import msgspec

from domain.alerts.rules import AlertRuleCreate, AlertRulePatch, AlertRuleView, view
from handlers.access import authorized
from handlers.base import ApiHandler
from handlers.operations import documented
from handlers.routes import route


class AlertRuleOut(msgspec.Struct):
    """One rule (`secret` only in the create answer)."""

    rule: AlertRuleView


class AlertRuleList(msgspec.Struct):
    """The site's rules."""

    rules: list[AlertRuleView]


class AlertRulesHandler(ApiHandler):
    """List and create rules."""

    @documented(response=AlertRuleList)
    @authorized("site:admin")
    async def get(self, site_id: str) -> None:
        """List the site's alert rules"""
        docs = await self.ctx.alerts.rules.list(site_id)
        self.write_json(AlertRuleList([view(doc) for doc in docs]))

    @documented(request=AlertRuleCreate, response=AlertRuleOut, status=201, errors=(409,))
    @authorized("site:admin")
    async def post(self, site_id: str) -> None:
        """Create an alert rule (the answer holds its webhook signing secret, shown only here)"""
        doc = await self.ctx.alerts.rules.create(site_id, self.body_as(AlertRuleCreate))
        self.write_json(AlertRuleOut(view(doc, with_secret=True)), 201)


class AlertRuleHandler(ApiHandler):
    """Read, change and delete one rule."""

    @documented(response=AlertRuleOut)
    @authorized("site:admin")
    async def get(self, site_id: str, rule_id: str) -> None:
        """Read an alert rule"""
        self.write_json(AlertRuleOut(view(await self.ctx.alerts.rules.get(site_id, rule_id))))

    @documented(request=AlertRulePatch, response=AlertRuleOut)
    @authorized("site:admin")
    async def patch(self, site_id: str, rule_id: str) -> None:
        """Change an alert rule"""
        patch = self.body_as(AlertRulePatch)
        self.write_json(AlertRuleOut(view(await self.ctx.alerts.rules.update(site_id, rule_id, patch))))

    @documented(status=204)
    @authorized("site:admin")
    async def delete(self, site_id: str, rule_id: str) -> None:
        """Delete an alert rule"""
        await self.ctx.alerts.rules.delete(site_id, rule_id)
        self.no_content()


_RULES = "/api/v1/sites/{site_id}/alerts"
_RULE = _RULES + "/{rule_id}"
openapi_tag = "alerts"
default_handlers = [route(_RULES, AlertRulesHandler), route(_RULE, AlertRuleHandler)]
