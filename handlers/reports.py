"""Email report subscriptions (`/api/v1/account/reports`, `/api/v1/sites/{site_id}/reports`) and the
unsubscribe link, which works without signing in (thin: domain/reports/service.py)."""

from __future__ import annotations

import msgspec

from domain.reports.service import SubscriptionIn, SubscriptionList, SubscriptionOut, UnsubscribeIn
from handlers.access import authenticated, authorized
from handlers.base import ApiHandler, validation_error
from handlers.operations import documented
from handlers.policy import public
from handlers.routes import route


class Unsubscribed(msgspec.Struct, kw_only=True):
    """The reports of that subscription are off."""

    status: str = "unsubscribed"


class AccountReportsHandler(ApiHandler):
    """The signed-in user's report choices for every site they can see."""

    @documented(response=SubscriptionList)
    @authenticated
    async def get(self) -> None:
        """Your weekly/monthly email report choices, per site"""
        self.write_json(
            SubscriptionList(subscriptions=await self.ctx.reports.list_for(self.principal.user_id))
        )


class SiteReportsHandler(ApiHandler):
    """Choose the weekly and monthly reports of one site (any member)."""

    @documented(request=SubscriptionIn, response=SubscriptionOut, errors=(409,))
    @authorized("site:view")
    async def put(self, site_id: str) -> None:
        """Choose the weekly and monthly email reports of a site (any member)"""
        body = self.body_as(SubscriptionIn)
        self.ctx.mailer.require()
        self.write_json(await self.ctx.reports.set(self.principal.user_id, self.site, body))


class UnsubscribeHandler(ApiHandler):
    """Stop a subscription's reports: `{id, key}` as JSON, or as query arguments (the one-click POST of a
    mail client's List-Unsubscribe button, RFC 8058)."""

    @documented(request=UnsubscribeIn, response=Unsubscribed)
    @public
    async def post(self) -> None:
        """Stop a subscription's reports with the id and key of its link (no sign-in)"""
        if self.get_query_argument("id", None) is not None:
            try:
                body = msgspec.convert(
                    {"id": self.get_query_argument("id"), "key": self.get_query_argument("key", "")},
                    UnsubscribeIn,
                )
            except msgspec.ValidationError as error:
                raise validation_error(error) from None
        else:
            body = self.body_as(UnsubscribeIn)
        await self.ctx.reports.unsubscribe(body.id, body.key)
        self.write_json(Unsubscribed())


_ACCOUNT = "/api/v1/account/reports"
_SITE = "/api/v1/sites/{site_id}/reports"
_UNSUBSCRIBE = "/api/v1/reports/unsubscribe"
openapi_tag = "reports"
default_handlers = [
    route(_ACCOUNT, AccountReportsHandler),
    route(_SITE, SiteReportsHandler),
    route(_UNSUBSCRIBE, UnsubscribeHandler),
]
