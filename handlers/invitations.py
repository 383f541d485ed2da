"""`/api/v1/sites/{site_id}/invitations` (owner) and `POST /api/v1/invitations/accept` (thin handlers;
domain/accounts/invitations.py holds the rules)."""

from __future__ import annotations

from domain.accounts.invitations import AcceptAnswer, AcceptIn, InvitationAnswer, InvitationIn, InvitationList
from handlers.access import authorized
from handlers.base import ApiHandler
from handlers.operations import documented
from handlers.policy import public
from handlers.routes import route


class InvitationsHandler(ApiHandler):
    """Invite by email, and list pending invitations."""

    @documented(request=InvitationIn, response=InvitationAnswer, status=201, errors=(409,))
    @authorized("site:owner")
    async def post(self, site_id: str) -> None:
        """Invite an address to the team with a role (owner); mailed, or without mail the link is returned"""
        body = self.body_as(InvitationIn)
        self.write_json(
            await self.ctx.accounts.invitations.create(self.site, self.principal.user_id, body), 201
        )

    @documented(response=InvitationList)
    @authorized("site:owner")
    async def get(self, site_id: str) -> None:
        """Pending invitations (owner)"""
        self.write_json(InvitationList(invitations=await self.ctx.accounts.invitations.list(self.site)))


class InvitationHandler(ApiHandler):
    """Withdraw a pending invitation."""

    @documented(status=204)
    @authorized("site:owner")
    async def delete(self, site_id: str, invitation_id: str) -> None:
        """Withdraw a pending invitation (owner)"""
        await self.ctx.accounts.invitations.revoke(self.site, invitation_id)
        self.no_content()


class AcceptHandler(ApiHandler):
    """Accept an invitation (a bearer token, when sent, says who is accepting)."""

    @documented(request=AcceptIn, response=AcceptAnswer, errors=(401, 429))
    @public
    async def post(self) -> None:
        """Accept an invitation (creating the account when the address has none, in any registration mode)"""
        body = self.body_as(AcceptIn)
        user_id = None
        if self.request.headers.get("Authorization"):
            user_id = (await self.ctx.bearer.authenticate(self.request.headers["Authorization"])).user_id
        self.write_json(await self.ctx.accounts.invitations.accept(body, user_id))


_SITE = "/api/v1/sites/{site_id}"
openapi_tag = "members"
default_handlers = [
    route(f"{_SITE}/invitations", InvitationsHandler),
    route(f"{_SITE}/invitations/{{invitation_id}}", InvitationHandler),
    route("/api/v1/invitations/accept", AcceptHandler),
]
