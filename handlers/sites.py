"""`/api/v1/sites` and `/api/v1/sites/{site_id}/members`: sites and their teams (thin handlers).

Roles (declared with `@authorized`): viewers read; owners alone change members and delete the site;
admins and owners change the rest.
"""

from __future__ import annotations

from domain.accounts.invitations import InvitationAnswer, InvitationIn
from domain.accounts.members import MemberAnswer, MemberList, MemberUpdate
from domain.accounts.site_docs import StoredSite
from domain.accounts.sites import SiteAnswer, SiteCreate, SiteList, SiteUpdate, site_out
from handlers.access import authenticated, authorized
from handlers.base import ApiHandler
from handlers.operations import documented
from handlers.routes import route


class SitesHandler(ApiHandler):
    """List and create sites."""

    @documented(response=SiteList)
    @authenticated
    async def get(self) -> None:
        """Sites the user owns or is a member of"""
        pairs = await self.ctx.accounts.sites.list_for(self.principal.user_id)
        self.write_json(SiteList(sites=[site_out(site, role) for site, role in pairs]))

    @documented(request=SiteCreate, response=SiteAnswer, status=201, errors=(409,))
    @authenticated
    async def post(self) -> None:
        """Create a site

        409 when `compat.plausible` names a domain another site already takes Plausible traffic for, or
        `umami_alias` is another site's."""
        body = self.body_as(SiteCreate)
        site = await self.ctx.accounts.sites.create(self.principal.user_id, body)
        self.write_json(SiteAnswer(site=site_out(site, "owner")), 201)


class SiteHandler(ApiHandler):
    """Read, change and delete one site."""

    async def _role(self, site: StoredSite) -> str:
        return await self.ctx.site_access.role_of(self.principal.user_id, site) or "viewer"

    @documented(response=SiteAnswer)
    @authorized("site:view")
    async def get(self, site_id: str) -> None:
        """One site"""
        self.write_json(SiteAnswer(site=site_out(self.site, await self._role(self.site))))

    @documented(request=SiteUpdate, response=SiteAnswer, errors=(409,))
    @authorized("site:admin")
    async def patch(self, site_id: str) -> None:
        """Change a site (admin; the retention is the owner's alone: 403 for an admin)"""
        body = self.body_as(SiteUpdate)
        before = self.site.retention_days
        role = await self._role(self.site)
        site = await self.ctx.accounts.sites.update(self.site, body, role)
        if site.retention_days != before:
            self.ctx.retention.sweep_soon(site)  # a lowered retention applies now, not at the next round
        self.write_json(SiteAnswer(site=site_out(site, role)))

    @documented(status=204)
    @authorized("site:owner")
    async def delete(self, site_id: str) -> None:
        """Delete a site with its keys, members, metric configs and events (owner)"""
        await self.ctx.accounts.sites.delete(self.site)
        self.no_content()


class MembersHandler(ApiHandler):
    """List and add members."""

    @documented(tag="members", response=MemberList)
    @authorized("site:view")
    async def get(self, site_id: str) -> None:
        """The site's members"""
        self.write_json(MemberList(members=await self.ctx.accounts.members.list(self.site)))

    @documented(tag="members", request=InvitationIn, response=InvitationAnswer, status=201, errors=(409,))
    @authorized("site:owner")
    async def post(self, site_id: str) -> None:
        # Adding a member is inviting them (L1): the same answer whether or not the address has an account.
        """Invite someone by email (owner): the same as POST .../invitations; they join when they accept"""
        body = self.body_as(InvitationIn)
        invitation = await self.ctx.accounts.invitations.create(self.site, self.principal.user_id, body)
        self.write_json(invitation, 201)


class MemberHandler(ApiHandler):
    """Change a member's role, or remove them (members may remove themselves)."""

    @documented(tag="members", request=MemberUpdate, response=MemberAnswer)
    @authorized("site:owner")
    async def patch(self, site_id: str, member_id: str) -> None:
        """Change a member's role (owner)"""
        body = self.body_as(MemberUpdate)
        member = await self.ctx.accounts.members.set_role(self.site, member_id, body)
        self.write_json(MemberAnswer(member=member))

    @documented(tag="members", status=204, errors=(403,))
    @authorized("site:view")
    async def delete(self, site_id: str, member_id: str) -> None:
        """Remove a member (owner, or the member themselves)"""
        role = await self.ctx.site_access.role_of(self.principal.user_id, self.site) or "viewer"
        await self.ctx.accounts.members.remove(self.site, member_id, self.principal.user_id, role)
        self.no_content()


_SITE = "/api/v1/sites/{site_id}"
openapi_tag = "sites"
default_handlers = [
    route("/api/v1/sites", SitesHandler),
    route(_SITE, SiteHandler),
    route(f"{_SITE}/members", MembersHandler),
    route(f"{_SITE}/members/{{member_id}}", MemberHandler),
]
