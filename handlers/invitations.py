"""`/api/v1/sites/{site_id}/invitations` (owner) and `POST /api/v1/invitations/accept` (thin handlers;
domain/accounts/invitations.py holds the rules)."""

from __future__ import annotations

from domain.accounts.invitations import AcceptAnswer, AcceptIn, InvitationAnswer, InvitationIn, InvitationList
from handlers.access import authorized
from handlers.base import ApiHandler
from handlers.openapi import Operation
from handlers.policy import public
from handlers.routes import route


class InvitationsHandler(ApiHandler):
    """Invite by email, and list pending invitations."""

    @authorized("site:owner")
    async def get(self, site_id: str) -> None:
        self.write_json(InvitationList(invitations=await self.ctx.accounts.invitations.list(self.site)))

    @authorized("site:owner")
    async def post(self, site_id: str) -> None:
        body = self.body_as(InvitationIn)
        self.write_json(
            await self.ctx.accounts.invitations.create(self.site, self.principal.user_id, body), 201
        )


class InvitationHandler(ApiHandler):
    """Withdraw a pending invitation."""

    @authorized("site:owner")
    async def delete(self, site_id: str, invitation_id: str) -> None:
        await self.ctx.accounts.invitations.revoke(self.site, invitation_id)
        self.no_content()


class AcceptHandler(ApiHandler):
    """Accept an invitation (a bearer token, when sent, says who is accepting)."""

    @public
    async def post(self) -> None:
        body = self.body_as(AcceptIn)
        user_id = None
        if self.request.headers.get("Authorization"):
            user_id = (await self.ctx.bearer.authenticate(self.request.headers["Authorization"])).user_id
        self.write_json(await self.ctx.accounts.invitations.accept(body, user_id))


_SITE = "/api/v1/sites/{site_id}"
default_handlers = [
    route(f"{_SITE}/invitations", InvitationsHandler),
    route(f"{_SITE}/invitations/{{invitation_id}}", InvitationHandler),
    route("/api/v1/invitations/accept", AcceptHandler),
]

_ROLE = (403, 404)
openapi_operations = [
    Operation(
        "POST",
        f"{_SITE}/invitations",
        "Invite an address to the team with a role (owner); mailed, or without mail the link is returned",
        tag="members",
        request=InvitationIn,
        response=InvitationAnswer,
        status=201,
        errors=(*_ROLE, 409),
    ),
    Operation(
        "GET",
        f"{_SITE}/invitations",
        "Pending invitations (owner)",
        tag="members",
        response=InvitationList,
        errors=_ROLE,
    ),
    Operation(
        "DELETE",
        f"{_SITE}/invitations/{{invitation_id}}",
        "Withdraw a pending invitation (owner)",
        tag="members",
        status=204,
        errors=_ROLE,
    ),
    Operation(
        "POST",
        "/api/v1/invitations/accept",
        "Accept an invitation (creating the account when the address has none, in any registration mode)",
        tag="members",
        auth="public",
        request=AcceptIn,
        response=AcceptAnswer,
        errors=(401, 429),
    ),
]
