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
from handlers.openapi import Operation
from handlers.policy import public


class RefreshIn(msgspec.Struct, forbid_unknown_fields=True):
    """A refresh token (spent by /refresh, ended by /logout)."""

    refresh_token: Annotated[str, msgspec.Meta(max_length=4096)]


class RegisterHandler(ApiHandler):
    """Create an account."""

    @public
    async def post(self) -> None:
        body = self.body_as(RegisterIn)
        answer = await self.ctx.accounts.users.register(body, self.request.remote_ip or "?")
        self.write_json(answer, 201 if isinstance(answer, AuthAnswer) else 202)


class LoginHandler(ApiHandler):
    """Sign in with email and password."""

    @public
    async def post(self) -> None:
        body = self.body_as(LoginIn)
        self.write_json(await self.ctx.accounts.users.login(body, self.request.remote_ip or "?"))


class RefreshHandler(ApiHandler):
    """Spend a refresh token for a new pair."""

    @public
    async def post(self) -> None:
        body = self.body_as(RefreshIn)
        self.write_json(await self.ctx.accounts.sessions.refresh(body.refresh_token))


class LogoutHandler(ApiHandler):
    """End the session of a refresh token."""

    @public
    async def post(self) -> None:
        body = self.body_as(RefreshIn)
        await self.ctx.accounts.sessions.logout(body.refresh_token)
        self.no_content()


class MeHandler(ApiHandler):
    """The signed-in user."""

    @authenticated
    async def get(self) -> None:
        user = await self.current_user()
        self.write_json(UserAnswer(user=user_out(user)))


class PasswordHandler(ApiHandler):
    """Change the password: every session ends, and a new pair is returned."""

    @authenticated
    async def post(self) -> None:
        body = self.body_as(PasswordChangeIn)
        self.write_json(await self.ctx.accounts.users.change_password(self.principal.user_id, body))


default_handlers = [
    (r"/api/v1/auth/register", RegisterHandler),
    (r"/api/v1/auth/login", LoginHandler),
    (r"/api/v1/auth/refresh", RefreshHandler),
    (r"/api/v1/auth/logout", LogoutHandler),
    (r"/api/v1/auth/me", MeHandler),
    (r"/api/v1/auth/password", PasswordHandler),
]

_AUTH = "/api/v1/auth"
openapi_operations = [
    Operation(
        "POST",
        f"{_AUTH}/register",
        "Create an account and sign in",
        tag="auth",
        auth="public",
        request=RegisterIn,
        response=AuthAnswer,
        status=201,
        errors=(403, 409, 429),
        description=(
            "Follows EDDY_REGISTRATION: 403 `invitation_required` (invite) or `registration_closed` "
            "(closed); "
            "the first account of a fresh instance always registers and is its instance admin. Under `open` "
            "with mail configured the answer is 202 `{status: check_your_email}` whether or not the address "
            "had an account (the mail says what next); without mail a taken address answers 409."
        ),
    ),
    Operation(
        "POST",
        f"{_AUTH}/login",
        "Sign in (throttled per IP and per account)",
        tag="auth",
        auth="public",
        request=LoginIn,
        response=AuthAnswer,
        errors=(401, 429),
    ),
    Operation(
        "POST",
        f"{_AUTH}/refresh",
        "Spend a refresh token for a new pair (a spent token again ends the session)",
        tag="auth",
        auth="public",
        request=RefreshIn,
        response=TokenPair,
        errors=(401,),
    ),
    Operation(
        "POST",
        f"{_AUTH}/logout",
        "End the session of a refresh token",
        tag="auth",
        auth="public",
        request=RefreshIn,
        status=204,
        errors=(401,),
    ),
    Operation("GET", f"{_AUTH}/me", "The signed-in user", tag="auth", response=UserAnswer, errors=(404,)),
    Operation(
        "POST",
        f"{_AUTH}/password",
        "Change the password; every session ends and a new pair is returned",
        tag="auth",
        request=PasswordChangeIn,
        response=AuthAnswer,
    ),
]
