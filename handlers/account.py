"""Account mail flows and the instance's public facts (thin: domain/accounts does the work).

`POST /api/v1/auth/verify-email`, `/verify-email/resend`, `/password-reset`, `/password-reset/confirm`,
`/email` (change the address: a link to the new one), and `GET /api/v1/instance` (what the sign-in page
needs to know: registration mode, whether mail and Google sign-in are on)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from domain.accounts.users import Email, GivenPassword, NewPassword, TotpCode, UserAnswer, user_out
from handlers.access import authenticated
from handlers.base import ApiHandler
from handlers.operations import documented
from handlers.policy import public
from handlers.routes import route

_NO_MAIL = 409  # mail_not_configured: the server has no SMTP (or no public URL) set
Token = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class TokenIn(msgspec.Struct, forbid_unknown_fields=True):
    """The token from a mailed link (after `#token=`)."""

    token: Token


class ResetIn(msgspec.Struct, forbid_unknown_fields=True):
    """The address to send a reset link to."""

    email: Email


class ResetConfirmIn(msgspec.Struct, forbid_unknown_fields=True):
    """The reset link's token and the new password."""

    token: Token
    password: NewPassword


class EmailChangeIn(msgspec.Struct, forbid_unknown_fields=True):
    """The new address, confirmed with the current password (and code, with two-factor sign-in on)."""

    email: Email
    current_password: GivenPassword
    code: TotpCode | None = None


class MailAccepted(msgspec.Struct, kw_only=True):
    """Taken in; what happens next is said in `message`."""

    status: str
    message: str


class InstanceOut(msgspec.Struct, kw_only=True):
    """What anyone may know about this server's sign-in options."""

    registration: str
    mail: bool
    google_sign_in: bool


RESET_SENT = MailAccepted(
    status="accepted",
    message="If an account has this address, a link to reset its password is on its way (valid 30 minutes).",
)


class VerifyEmailHandler(ApiHandler):
    """Spend a verification link."""

    @documented(request=TokenIn, response=UserAnswer, errors=(404, 409))
    @public
    async def post(self) -> None:
        """Verify an email address with the token of its link (<public-url>/verify#token=...)"""
        body = self.body_as(TokenIn)
        user = await self.ctx.accounts.emails.verify(body.token)
        self.write_json(UserAnswer(user=user_out(user)))


class ResendVerificationHandler(ApiHandler):
    """Mail a new verification link to the signed-in user's address."""

    @documented(response=MailAccepted, status=202, errors=(404, _NO_MAIL))
    @authenticated
    async def post(self) -> None:
        """Mail a new verification link to the signed-in user's address"""
        user = await self.current_user()
        await self.ctx.accounts.emails.resend_verification(user)
        self.write_json(
            MailAccepted(status="accepted", message=f"A verification link is on its way to {user['email']}."),
            202,
        )


class PasswordResetHandler(ApiHandler):
    """Ask for a reset link (202 whether or not the address has an account)."""

    @documented(request=ResetIn, response=MailAccepted, status=202, errors=(429, _NO_MAIL))
    @public
    async def post(self) -> None:
        """Mail a password reset link (the same 202 whether or not an account has the address)"""
        body = self.body_as(ResetIn)
        await self.ctx.accounts.emails.request_reset(body.email, self.request.remote_ip or "?")
        self.write_json(RESET_SENT, 202)


class PasswordResetConfirmHandler(ApiHandler):
    """Set a new password with a reset link's token; every session of the account ends."""

    @documented(request=ResetConfirmIn, response=MailAccepted, errors=(404,))
    @public
    async def post(self) -> None:
        """Set a new password with a reset link's token (single use, 30 minutes); every session ends"""
        body = self.body_as(ResetConfirmIn)
        await self.ctx.accounts.emails.confirm_reset(body.token, body.password)
        self.write_json(
            MailAccepted(status="password_changed", message="Your password is changed. Sign in with it now.")
        )


class EmailChangeHandler(ApiHandler):
    """Change the account's address: a link goes to the new one, which takes effect when it is used."""

    @documented(request=EmailChangeIn, response=MailAccepted, status=202, errors=(404, _NO_MAIL))
    @authenticated
    async def post(self) -> None:
        """Change the account's email: a verification link goes to the new address, which applies when used"""
        body = self.body_as(EmailChangeIn)
        await self.ctx.accounts.users.change_email(
            self.principal.user_id, body.email, body.current_password, body.code
        )
        self.write_json(
            MailAccepted(
                status="accepted", message="Open the link we sent to the new address to finish the change."
            ),
            202,
        )


class InstanceHandler(ApiHandler):
    """Sign-in options of this server."""

    @documented(response=InstanceOut)
    @public
    async def get(self) -> None:
        """This server's sign-in options: registration mode, mail, Google sign-in"""
        config = self.ctx.config
        self.write_json(
            InstanceOut(
                registration=await self.ctx.accounts.registration.mode(),
                mail=self.ctx.mailer.enabled,
                google_sign_in=bool(config.google_client_id and config.google_client_secret),
            )
        )


_AUTH = "/api/v1/auth"
openapi_tag = "auth"
default_handlers = [
    route(f"{_AUTH}/verify-email", VerifyEmailHandler),
    route(f"{_AUTH}/verify-email/resend", ResendVerificationHandler),
    route(f"{_AUTH}/password-reset", PasswordResetHandler),
    route(f"{_AUTH}/password-reset/confirm", PasswordResetConfirmHandler),
    route(f"{_AUTH}/email", EmailChangeHandler),
    route("/api/v1/instance", InstanceHandler),
]
