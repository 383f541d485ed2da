"""People: registration, sign-in, profile and password change.

Users: {id, email (lower-cased), name, password_hash (bcrypt, or None for Google-only accounts), created_at,
password_changed_at, email_verified, instance_admin?, google_sub?, totp?}. Unknown emails and wrong
passwords answer alike and take about the same time (a dummy bcrypt check runs for unknown emails).

Sign-up follows the registration mode (domain/accounts/registration.py). Under `open` with mail
configured, sign-up never tells whether an address has an account: every well-formed request answers 202
"check your email", a new address gets its verification link (the account can sign in at once) and a
taken one a note to its owner. Without mail there is no other channel, so a taken address answers 409
(the default `invite` mode never answers sign-ups at all).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import msgspec

from domain.accounts.emails import AccountEmails
from domain.accounts.passwords import MAX_LENGTH, MIN_LENGTH, PasswordHasher
from domain.accounts.registration import Registration
from domain.accounts.sessions import SessionService, TokenPair
from domain.accounts.throttle import Throttle
from domain.accounts.tokens import new_id
from domain.errors import Conflict, NotFound, Unauthorized
from storage.errors import DuplicateKeyError
from storage.ports import DocumentStore

Email = Annotated[
    str,
    msgspec.Meta(
        min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", description="an email address"
    ),
]
NewPassword = Annotated[
    str,
    msgspec.Meta(
        min_length=MIN_LENGTH,
        max_length=MAX_LENGTH,
        description="8 to 1024 characters; over 72 bytes is fine (pre-hashed, never truncated)",
    ),
]
GivenPassword = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_LENGTH)]
Name = Annotated[str, msgspec.Meta(max_length=100)]
BAD_CREDENTIALS = "wrong email or password"
# Checks the second factor of a user who just gave the right password (401 `code_required`/`invalid_code`).
SecondFactorCheck = Callable[[dict[str, Any], str | None], Awaitable[None]]


class RegisterIn(msgspec.Struct, forbid_unknown_fields=True):
    """A new account."""

    email: Email
    password: NewPassword
    name: Name = ""


TotpCode = Annotated[
    str,
    msgspec.Meta(max_length=64, description="a 6-digit code from the authenticator app, or a recovery code"),
]


class LoginIn(msgspec.Struct, forbid_unknown_fields=True):
    """Credentials (`code` when the account has two-factor sign-in on)."""

    email: Email
    password: GivenPassword
    code: TotpCode | None = None


class PasswordChangeIn(msgspec.Struct, forbid_unknown_fields=True):
    """The current password and the new one."""

    current_password: GivenPassword
    new_password: NewPassword
    code: TotpCode | None = None


class UserOut(msgspec.Struct, kw_only=True):
    """A user as the API shows them (never the password hash)."""

    id: str
    email: str
    name: str
    created_at: float
    email_verified: bool = False
    instance_admin: bool = False
    two_factor: bool = False
    has_password: bool = True


class RegisterAccepted(msgspec.Struct, kw_only=True):
    """Sign-up taken in; what happens next is in the mail (the same answer whether or not the address
    already had an account)."""

    status: str = "check_your_email"
    message: str


class UserAnswer(msgspec.Struct):
    """`{user}`."""

    user: UserOut


class AuthAnswer(msgspec.Struct, kw_only=True):
    """The user and a fresh token pair."""

    user: UserOut
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int


def user_out(doc: dict[str, Any]) -> UserOut:
    """The public view of a user document."""
    return UserOut(
        id=doc["id"],
        email=doc["email"],
        name=doc.get("name") or "",
        created_at=doc["created_at"],
        email_verified=bool(doc.get("email_verified")),
        instance_admin=bool(doc.get("instance_admin")),
        two_factor=bool((doc.get("totp") or {}).get("enabled")),
        has_password=bool(doc.get("password_hash")),
    )


def auth_answer(user: dict[str, Any], pair: TokenPair) -> AuthAnswer:
    """What register, login and password change answer."""
    return AuthAnswer(
        user=user_out(user),
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        token_type=pair.token_type,
        expires_in=pair.expires_in,
    )


def normalise_email(email: str) -> str:
    """Emails are compared lower-cased and trimmed."""
    return email.strip().lower()


@dataclass(eq=False)
class UserService:
    """Accounts of people."""

    docs: DocumentStore
    hasher: PasswordHasher
    sessions: SessionService
    throttle: Throttle
    registration: Registration
    emails: AccountEmails
    # Set by build_accounts once the second-factor service exists (it needs this one).
    second_factor: SecondFactorCheck | None = field(default=None, init=False)

    async def get(self, user_id: str) -> dict[str, Any]:
        """A user document; NotFound when gone."""
        user = await self.docs.get("users", user_id)
        if user is None:
            raise NotFound("no such user")
        return user

    async def oldest_first(self, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` user documents, oldest account first (the instance admin's list)."""
        return await self.docs.find("users", {}, sort="created_at", limit=limit)

    async def find_by_email(self, email: str) -> dict[str, Any] | None:
        """The user with this email, or None."""
        rows = await self.docs.find("users", {"email": normalise_email(email)}, limit=1)
        return rows[0] if rows else None

    async def create(self, email: str, name: str, password_hash: str | None, **extra: Any) -> dict[str, Any]:
        """Insert a user; Conflict when the email is taken."""
        now = time.time()
        user = {
            "id": new_id(),
            "email": normalise_email(email),
            "name": name.strip(),
            "password_hash": password_hash,
            "created_at": now,
            "password_changed_at": now,
            "email_verified": False,
            **extra,
        }
        try:
            await self.docs.insert("users", user)
        except DuplicateKeyError:
            raise Conflict("this email is already registered", code="email_taken") from None
        return user

    async def register(self, body: RegisterIn, ip: str) -> AuthAnswer | RegisterAccepted:
        """Create an account: signed in at once (the first account, or without mail), else 202 whatever
        the address (see the module docstring); 403 when the registration mode does not allow it."""
        await self.throttle.register(ip)
        first = await self.registration.admit()
        if first or not self.emails.mail_enabled:
            if await self.find_by_email(body.email) is not None:
                raise Conflict("this email is already registered", code="email_taken")
            user = await self.create(
                body.email, body.name, await self.hasher.hash(body.password), instance_admin=first
            )
            await self.emails.send_verification(user)
            return auth_answer(user, await self.sessions.start(user["id"]))
        # The password is hashed either way, so both answers take the same time.
        password_hash = await self.hasher.hash(body.password)
        existing = await self.find_by_email(body.email)
        if existing is not None:
            await self.emails.tell_already_registered(existing)
        else:
            try:
                user = await self.create(body.email, body.name, password_hash)
            except Conflict:
                pass  # registered a moment ago by a racing request: the same answer
            else:
                await self.emails.send_verification(user)
        return RegisterAccepted(
            message="Check your email: the message we sent tells you how to go on. You can sign in now."
        )

    async def login(self, body: LoginIn, ip: str) -> AuthAnswer:
        """Check credentials (throttled per address and per account: domain/accounts/throttle.py) and
        start a session."""
        email = normalise_email(body.email)
        await self.throttle.login(ip, email)
        user = await self.find_by_email(email)
        if user is None or not user.get("password_hash"):
            await self.hasher.waste_time(body.password)
            await self.throttle.login_failed(ip, email)
            raise Unauthorized(BAD_CREDENTIALS, code="invalid_credentials")
        if not await self.hasher.verify(body.password, user["password_hash"]):
            await self.throttle.login_failed(ip, email)
            raise Unauthorized(BAD_CREDENTIALS, code="invalid_credentials")
        if self.second_factor is not None:
            await self.second_factor(user, body.code)
        await self.throttle.login_succeeded(ip, email)
        return auth_answer(user, await self.sessions.start(user["id"]))

    async def change_email(self, user_id: str, new_email: str, password: str, code: str | None) -> None:
        """Mail a verification link to a new address (password and second factor checked first); the
        account keeps its address until the link is used."""
        self.emails.mailer.require()
        user = await self.get(user_id)
        await self.check_password(user, password)
        if self.second_factor is not None:
            await self.second_factor(user, code)
        await self.emails.request_email_change(user, normalise_email(new_email))

    async def hash_password(self, password: str) -> str:
        """A bcrypt hash of a new password (off the IOLoop)."""
        return await self.hasher.hash(password)

    async def check_password(self, user: dict[str, Any], password: str) -> None:
        """401 unless `password` is the user's (throttled per account): guards sensitive changes."""
        await self.throttle.password_check(user["id"])
        stored = user.get("password_hash")
        if not stored or not await self.hasher.verify(password, stored):
            raise Unauthorized("the current password is wrong", code="invalid_credentials")

    async def change_password(self, user_id: str, body: PasswordChangeIn) -> AuthAnswer:
        """Replace the password, end every session, and start a new one for the caller."""
        user = await self.get(user_id)
        await self.check_password(user, body.current_password)
        if self.second_factor is not None:
            await self.second_factor(user, body.code)
        new_hash = await self.hasher.hash(body.new_password)
        await self.docs.update(
            "users", {"id": user_id}, {"password_hash": new_hash, "password_changed_at": time.time()}
        )
        await self.sessions.revoke_all(user_id)
        return auth_answer(user, await self.sessions.start(user_id))
