"""`/api/v1/auth/*`: register, login, refresh, logout, me, change password (thin: domain/accounts does
the work)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from domain.accounts.sessions import TokenPair
from domain.accounts.users import (
    AuthAnswer,
    LoginIn,
    PasswordChangeIn,
    RegisterIn,
    UserAnswer,
    user_out,
)
from handlers.access import authenticated
from handlers.base import ApiHandler
from handlers.operations import documented
from handlers.policy import public
from handlers.routes import route


class RefreshIn(msgspec.Struct, forbid_unknown_fields=True):
    """A refresh token (spent by /refresh, ended by /logout)."""

    refresh_token: Annotated[str, msgspec.Meta(max_length=4096)]


class RegisterHandler(ApiHandler):
    """Create an account."""

    @documented(request=RegisterIn, response=AuthAnswer, status=201, errors=(403, 409, 429))
    @public
    async def post(self) -> None:
        """Create an account and sign in

        Follows EDDY_REGISTRATION: 403 `invitation_required` (invite) or `registration_closed` (closed);
        the first account of a fresh instance always registers and is its instance admin. Under `open` with
        mail configured the answer is 202 `{status: check_your_email}` whether or not the address had an
        account (the mail says what next); without mail a taken address answers 409."""
        body = self.body_as(RegisterIn)
        answer = await self.ctx.accounts.users.register(body, self.request.remote_ip or "?")
        self.write_json(answer, 201 if isinstance(answer, AuthAnswer) else 202)


class LoginHandler(ApiHandler):
    """Sign in with email and password."""

    @documented(request=LoginIn, response=AuthAnswer, errors=(401, 429))
    @public
    async def post(self) -> None:
        """Sign in (throttled per IP and per account)"""
        body = self.body_as(LoginIn)
        self.write_json(await self.ctx.accounts.users.login(body, self.request.remote_ip or "?"))


class RefreshHandler(ApiHandler):
    """Spend a refresh token for a new pair."""

    @documented(request=RefreshIn, response=TokenPair, errors=(401,))
    @public
    async def post(self) -> None:
        """Spend a refresh token for a new pair (a spent token again ends the session)"""
        body = self.body_as(RefreshIn)
        self.write_json(await self.ctx.accounts.sessions.refresh(body.refresh_token))


class LogoutHandler(ApiHandler):
    """End the session of a refresh token."""

    @documented(request=RefreshIn, status=204, errors=(401,))
    @public
    async def post(self) -> None:
        """End the session of a refresh token"""
        body = self.body_as(RefreshIn)
        await self.ctx.accounts.sessions.logout(body.refresh_token)
        self.no_content()


class MeHandler(ApiHandler):
    """The signed-in user."""

    @documented(response=UserAnswer, errors=(404,))
    @authenticated
    async def get(self) -> None:
        """The signed-in user"""
        user = await self.current_user()
        self.write_json(UserAnswer(user=user_out(user)))


class PasswordHandler(ApiHandler):
    """Change the password: every session ends, and a new pair is returned."""

    @documented(request=PasswordChangeIn, response=AuthAnswer)
    @authenticated
    async def post(self) -> None:
        """Change the password; every session ends and a new pair is returned"""
        body = self.body_as(PasswordChangeIn)
        self.write_json(await self.ctx.accounts.users.change_password(self.principal.user_id, body))


_AUTH = "/api/v1/auth"
openapi_tag = "auth"
default_handlers = [
    route(f"{_AUTH}/register", RegisterHandler),
    route(f"{_AUTH}/login", LoginHandler),
    route(f"{_AUTH}/refresh", RefreshHandler),
    route(f"{_AUTH}/logout", LogoutHandler),
    route(f"{_AUTH}/me", MeHandler),
    route(f"{_AUTH}/password", PasswordHandler),
]
