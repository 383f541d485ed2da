"""`/api/v1/auth/2fa*`: two-factor sign-in with an authenticator app (thin: domain/accounts/two_factor.py)."""

from __future__ import annotations

from domain.accounts.two_factor import (
    CodeIn,
    PasswordAndCode,
    PasswordConfirm,
    RecoveryCodesOut,
    SetupOut,
    TwoFactorOut,
)
from handlers.access import authenticated
from handlers.base import ApiHandler
from handlers.operations import documented
from handlers.routes import route


class TwoFactorHandler(ApiHandler):
    """Whether two-factor sign-in is on."""

    @documented(response=TwoFactorOut, errors=(404,))
    @authenticated
    async def get(self) -> None:
        """Whether two-factor sign-in is on"""
        user = await self.current_user()
        self.write_json(self.ctx.accounts.two_factor.status(user))


class SetupHandler(ApiHandler):
    """Start: a new secret and its QR code (password checked)."""

    @documented(request=PasswordConfirm, response=SetupOut, errors=(404, 409))
    @authenticated
    async def post(self) -> None:
        """Start two-factor setup: a TOTP secret and its QR code (password checked)"""
        body = self.body_as(PasswordConfirm)
        user = await self.current_user()
        self.write_json(await self.ctx.accounts.two_factor.begin(user, body.current_password))


class EnableHandler(ApiHandler):
    """Finish with a first code; answers the recovery codes, once."""

    @documented(request=CodeIn, response=RecoveryCodesOut, errors=(404, 409))
    @authenticated
    async def post(self) -> None:
        """Turn two-factor sign-in on with a first code; the recovery codes are shown this once"""
        body = self.body_as(CodeIn)
        user = await self.current_user()
        self.write_json(await self.ctx.accounts.two_factor.enable(user, body.code))


class DisableHandler(ApiHandler):
    """Turn it off (password and code)."""

    @documented(request=PasswordAndCode, status=204, errors=(404,))
    @authenticated
    async def post(self) -> None:
        """Turn two-factor sign-in off (password and code)"""
        body = self.body_as(PasswordAndCode)
        user = await self.current_user()
        await self.ctx.accounts.two_factor.disable(user, body.current_password, body.code)
        self.no_content()


class RecoveryCodesHandler(ApiHandler):
    """New recovery codes (password and code)."""

    @documented(request=PasswordAndCode, response=RecoveryCodesOut, errors=(404,))
    @authenticated
    async def post(self) -> None:
        """Replace the recovery codes (password and code); shown this once"""
        body = self.body_as(PasswordAndCode)
        user = await self.current_user()
        self.write_json(await self.ctx.accounts.two_factor.regenerate(user, body.current_password, body.code))


_2FA = "/api/v1/auth/2fa"
openapi_tag = "auth"
default_handlers = [
    route(_2FA, TwoFactorHandler),
    route(f"{_2FA}/setup", SetupHandler),
    route(f"{_2FA}/enable", EnableHandler),
    route(f"{_2FA}/disable", DisableHandler),
    route(f"{_2FA}/recovery-codes", RecoveryCodesHandler),
]
