"""What account flows send by mail: email verification (on sign-up and before an email change takes
effect) and password reset.

- Verification: a link `<public-url>/verify#token=...` (7 days); spending it marks the address verified
  (and, for a change, switches the account to the new address only then).
- Password reset: `POST /auth/password-reset {email}` answers 202 whether or not an account has the
  address; the link `<public-url>/reset#token=...` works once within 30 minutes; using it sets the new
  password, marks the address verified (the person read mail sent to it) and ends every session. It never
  signs in by itself: a second factor still applies at the next sign-in.
Tokens are stored only as HMACs (domain/accounts/account_tokens.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from domain.accounts.account_tokens import PASSWORD_RESET, VERIFY_EMAIL, AccountTokens
from domain.accounts.passwords import PasswordHasher
from domain.accounts.sessions import SessionService
from domain.accounts.throttle import Limit, Throttle
from domain.errors import Conflict, NotFound
from domain.mail import templates
from domain.mail.outbox import Mailer
from storage.errors import DuplicateKeyError
from storage.ports import DocumentStore

RESET_PER_IP = Limit(10, 600.0)
RESET_PER_ADDRESS = Limit(3, 600.0)
VERIFY_RESENDS = Limit(5, 3600.0)


@dataclass(eq=False)
class AccountEmails:
    """Verification and reset mails, and spending their links."""

    docs: DocumentStore
    mailer: Mailer
    tokens: AccountTokens
    hasher: PasswordHasher
    sessions: SessionService
    throttle: Throttle

    @property
    def mail_enabled(self) -> bool:
        """Whether mail with links can be sent."""
        return self.mailer.enabled

    async def send_verification(self, user: dict[str, Any], new_email: str | None = None) -> bool:
        """Mail a verification link to the user's address (or to `new_email`, which becomes the account's
        address when the link is used); False when mail is off."""
        if not self.mailer.enabled:
            return False
        target = new_email or user["email"]
        token = await self.tokens.issue(user["id"], VERIFY_EMAIL, {"email": target})
        mail = templates.verify_email(self.mailer.link("verify", token), new_address=new_email is not None)
        await self.mailer.send(target, mail.subject, mail.text, mail.html, kind="verify_email")
        return True

    async def resend_verification(self, user: dict[str, Any]) -> None:
        """Mail a new verification link to the user's address (at most 5 an hour)."""
        self.mailer.require()
        await self.throttle.hit_limit(f"verify:{user['id']}", VERIFY_RESENDS, "too many verification mails")
        await self.send_verification(user)

    async def tell_already_registered(self, user: dict[str, Any]) -> None:
        """Let the owner of an address know someone tried to sign up with it."""
        mail = templates.already_registered(f"{self.mailer.public_url}/login")
        await self.mailer.send(user["email"], mail.subject, mail.text, mail.html, kind="already_registered")

    async def verify(self, token: str) -> dict[str, Any]:
        """Spend a verification link; the user document afterwards."""
        spent = await self.tokens.spend(token, VERIFY_EMAIL)
        user = await self.docs.get("users", spent["user_id"])
        if user is None:
            raise NotFound("this account no longer exists")
        target = str(spent["data"].get("email") or user["email"])
        changes: dict[str, Any] = {"email_verified": True, "email_verified_at": time.time(), "email": target}
        try:
            await self.docs.update("users", {"id": user["id"]}, changes)
        except DuplicateKeyError:
            raise Conflict("another account has this email now", code="email_taken") from None
        return {**user, **changes}

    async def request_email_change(self, user: dict[str, Any], new_email: str) -> None:
        """Mail a link to the new address; the account keeps its address until the link is used."""
        self.mailer.require()
        await self.send_verification(user, new_email)

    async def request_reset(self, email: str, ip: str) -> None:
        """Mail a reset link when an account has this address; the same (silent) outcome otherwise."""
        self.mailer.require()
        address = email.strip().lower()
        await self.throttle.hit_limit(f"reset:ip:{ip}", RESET_PER_IP, "too many reset requests")
        await self.throttle.hit_limit(
            f"reset:address:{address}", RESET_PER_ADDRESS, "too many reset requests"
        )
        rows = await self.docs.find("users", {"email": address}, limit=1)
        if not rows:
            return
        user = rows[0]
        token = await self.tokens.issue(user["id"], PASSWORD_RESET, {"email": address})
        mail = templates.password_reset(self.mailer.link("reset", token))
        await self.mailer.send(address, mail.subject, mail.text, mail.html, kind="password_reset")

    async def confirm_reset(self, token: str, password: str) -> dict[str, Any]:
        """Spend a reset link: set the password and end every session of the account."""
        spent = await self.tokens.spend(token, PASSWORD_RESET)
        user = await self.docs.get("users", spent["user_id"])
        if user is None:
            raise NotFound("this account no longer exists")
        changes: dict[str, Any] = {
            "password_hash": await self.hasher.hash(password),
            "password_changed_at": time.time(),
        }
        if spent["data"].get("email") == user["email"]:
            changes["email_verified"] = True
        await self.docs.update("users", {"id": user["id"]}, changes)
        await self.sessions.revoke_all(user["id"])
        return {**user, **changes}
