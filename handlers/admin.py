"""`/api/v1/admin/*`: the instance admin's view (registration mode, users). Only accounts with
`instance_admin` (the first account, or one made so with `python run.py admin`) get past 403."""

from __future__ import annotations

from typing import Annotated

import msgspec

from domain.accounts.registration import RegistrationOut, RegistrationSettings
from domain.accounts.users import UserOut, user_out
from handlers.access import authorized
from handlers.base import ApiHandler
from handlers.operations import documented
from handlers.routes import route

MAX_LISTED = 1000


class UserList(msgspec.Struct):
    """`{users}`, oldest first (at most 1000)."""

    users: Annotated[list[UserOut], msgspec.Meta(max_length=MAX_LISTED)]


class AdminSettingsHandler(ApiHandler):
    """Read and change the registration mode."""

    @documented(response=RegistrationOut, errors=(404,))
    @authorized("instance:admin")
    async def get(self) -> None:
        """The registration mode (instance admin)"""
        self.write_json(await self.ctx.accounts.registration.describe())

    @documented(request=RegistrationSettings, response=RegistrationOut, errors=(404, 409))
    @authorized("instance:admin")
    async def patch(self) -> None:
        """Change the registration mode (instance admin)"""
        body = self.body_as(RegistrationSettings)
        self.write_json(await self.ctx.accounts.registration.set_mode(body.registration))


class AdminUsersHandler(ApiHandler):
    """Every account."""

    @documented(response=UserList, errors=(404,))
    @authorized("instance:admin")
    async def get(self) -> None:
        """Every account, oldest first (instance admin)"""
        rows = await self.ctx.accounts.users.oldest_first(MAX_LISTED)
        self.write_json(UserList(users=[user_out(row) for row in rows]))


openapi_tag = "admin"
default_handlers = [
    route("/api/v1/admin/settings", AdminSettingsHandler),
    route("/api/v1/admin/users", AdminUsersHandler),
]
