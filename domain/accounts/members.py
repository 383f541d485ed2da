"""Team members of a site: {id, site_id, user_id, role: viewer|admin, created_at}.

Only the owner changes or removes members (a member may also remove themselves). People join a team only
by accepting an invitation (domain/accounts/invitations.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

import msgspec

from domain.accounts.site_docs import StoredSite
from domain.errors import Forbidden
from domain.site_items import site_item
from storage.ports import DocumentStore

MemberRole = Literal["viewer", "admin"]
MAX_MEMBERS = 100


class MemberUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Change a member's role."""

    role: MemberRole


class MemberOut(msgspec.Struct):
    """A member as the API shows them."""

    id: str
    site_id: str
    user_id: str
    email: str
    name: str
    role: str
    created_at: float


class MemberAnswer(msgspec.Struct):
    """`{member}`."""

    member: MemberOut


class MemberList(msgspec.Struct):
    """`{members}`."""

    members: Annotated[list[MemberOut], msgspec.Meta(max_length=MAX_MEMBERS)]


class MemberService:
    """Members of sites."""

    def __init__(self, docs: DocumentStore) -> None:
        self._docs = docs
        # Told (site id, user id) after a removal: open live streams of that user end (domain/live).
        self.on_removed: Callable[[str, str], Awaitable[None]] | None = None

    async def _out(self, member: dict[str, Any]) -> MemberOut:
        user = await self._docs.get("users", member["user_id"]) or {}
        return MemberOut(
            id=member["id"],
            site_id=member["site_id"],
            user_id=member["user_id"],
            email=user.get("email", ""),
            name=user.get("name") or "",
            role=member["role"],
            created_at=member["created_at"],
        )

    async def list(self, site: StoredSite) -> list[MemberOut]:
        """The site's members, oldest first."""
        rows = await self._docs.find("members", {"site_id": site.id}, sort="created_at")
        return [await self._out(row) for row in rows]

    async def get(self, site: StoredSite, member_id: str) -> dict[str, Any]:
        """A member of this site; 404 otherwise."""
        return await site_item(self._docs, "members", site.id, member_id, "no such member")

    async def set_role(self, site: StoredSite, member_id: str, body: MemberUpdate) -> MemberOut:
        """Change a member's role."""
        member = await self.get(site, member_id)
        await self._docs.update("members", {"id": member["id"]}, {"role": body.role})
        return await self._out({**member, "role": body.role})

    async def remove(self, site: StoredSite, member_id: str, by_user: str, by_role: str) -> None:
        """Remove a member: the owner may remove anyone, a member only themselves."""
        member = await self.get(site, member_id)
        if by_role != "owner" and member["user_id"] != by_user:
            raise Forbidden("only the owner manages members")
        await self._docs.delete("members", {"id": member["id"]})
        if self.on_removed is not None:
            await self.on_removed(site.id, member["user_id"])
