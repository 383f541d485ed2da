"""`/api/v1/admin/*`: the instance admin's view (registration mode, users). Only accounts with
`instance_admin` (the first account, or one made so with `python run.py admin`) get past 403."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from domain.accounts.registration import RegistrationOut, RegistrationSettings
from domain.accounts.users import UserOut, user_out
from domain.errors import Forbidden
from handlers.access import authenticated
from handlers.base import ApiHandler
from handlers.openapi import Operation

MAX_LISTED = 1000


class UserList(msgspec.Struct):
    """`{users}`, oldest first (at most 1000)."""

    users: Annotated[list[UserOut], msgspec.Meta(max_length=MAX_LISTED)]


class AdminHandler(ApiHandler):
    """Base: the signed-in user must be an instance admin."""

    async def require_admin(self) -> dict[str, Any]:
        user = await self.ctx.accounts.users.get(self.principal.user_id)
        if not user.get("instance_admin"):
            raise Forbidden("only an instance admin may do this", code="not_instance_admin")
        return user


class AdminSettingsHandler(AdminHandler):
    """Read and change the registration mode."""

    @authenticated
    async def get(self) -> None:
        await self.require_admin()
        self.write_json(await self.ctx.accounts.registration.describe())

    @authenticated
    async def patch(self) -> None:
        await self.require_admin()
        body = self.body_as(RegistrationSettings)
        self.write_json(await self.ctx.accounts.registration.set_mode(body.registration))


class AdminUsersHandler(AdminHandler):
    """Every account."""

    @authenticated
    async def get(self) -> None:
        await self.require_admin()
        rows = await self.ctx.stores.docs.find("users", {}, sort="created_at", limit=MAX_LISTED)
        self.write_json(UserList(users=[user_out(row) for row in rows]))


default_handlers = [
    (r"/api/v1/admin/settings", AdminSettingsHandler),
    (r"/api/v1/admin/users", AdminUsersHandler),
]

openapi_operations = [
    Operation(
        "GET",
        "/api/v1/admin/settings",
        "The registration mode (instance admin)",
        tag="admin",
        response=RegistrationOut,
        errors=(403, 404),
    ),
    Operation(
        "PATCH",
        "/api/v1/admin/settings",
        "Change the registration mode (instance admin)",
        tag="admin",
        request=RegistrationSettings,
        response=RegistrationOut,
        errors=(403, 404, 409),
    ),
    Operation(
        "GET",
        "/api/v1/admin/users",
        "Every account, oldest first (instance admin)",
        tag="admin",
        response=UserList,
        errors=(403, 404),
    ),
]
