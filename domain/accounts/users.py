"""People: registration, sign-in, profile and password change.

Users: {id, email (lower-cased), name, password_hash (bcrypt, or None for Google-only accounts), created_at,
password_changed_at, google_sub?}. Unknown emails and wrong passwords answer alike and take about the same
time (a dummy bcrypt check runs for unknown emails).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import msgspec

from domain.accounts.passwords import MAX_LENGTH, MIN_LENGTH, PasswordHasher
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


class RegisterIn(msgspec.Struct, forbid_unknown_fields=True):
    """A new account."""

    email: Email
    password: NewPassword
    name: Name = ""


class LoginIn(msgspec.Struct, forbid_unknown_fields=True):
    """Credentials."""

    email: Email
    password: GivenPassword


class PasswordChangeIn(msgspec.Struct, forbid_unknown_fields=True):
    """The current password and the new one."""

    current_password: GivenPassword
    new_password: NewPassword


class UserOut(msgspec.Struct):
    """A user as the API shows them (never the password hash)."""

    id: str
    email: str
    name: str
    created_at: float


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
    return UserOut(id=doc["id"], email=doc["email"], name=doc.get("name") or "", created_at=doc["created_at"])


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


class UserService:
    """Accounts of people."""

    def __init__(
        self, docs: DocumentStore, hasher: PasswordHasher, sessions: SessionService, throttle: Throttle
    ) -> None:
        self._docs = docs
        self._hasher = hasher
        self._sessions = sessions
        self._throttle = throttle

    async def get(self, user_id: str) -> dict[str, Any]:
        """A user document; NotFound when gone."""
        user = await self._docs.get("users", user_id)
        if user is None:
            raise NotFound("no such user")
        return user

    async def find_by_email(self, email: str) -> dict[str, Any] | None:
        """The user with this email, or None."""
        rows = await self._docs.find("users", {"email": normalise_email(email)}, limit=1)
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
            **extra,
        }
        try:
            await self._docs.insert("users", user)
        except DuplicateKeyError:
            raise Conflict("this email is already registered", code="email_taken") from None
        return user

    async def register(self, body: RegisterIn, ip: str) -> AuthAnswer:
        """Create an account and sign it in."""
        await self._throttle.register(ip)
        if await self.find_by_email(body.email) is not None:
            raise Conflict("this email is already registered", code="email_taken")
        user = await self.create(body.email, body.name, await self._hasher.hash(body.password))
        return auth_answer(user, await self._sessions.start(user["id"]))

    async def login(self, body: LoginIn, ip: str) -> AuthAnswer:
        """Check credentials (throttled per address and per account: domain/accounts/throttle.py) and
        start a session."""
        email = normalise_email(body.email)
        await self._throttle.login(ip, email)
        user = await self.find_by_email(email)
        if user is None or not user.get("password_hash"):
            await self._hasher.waste_time(body.password)
            await self._throttle.login_failed(ip, email)
            raise Unauthorized(BAD_CREDENTIALS, code="invalid_credentials")
        if not await self._hasher.verify(body.password, user["password_hash"]):
            await self._throttle.login_failed(ip, email)
            raise Unauthorized(BAD_CREDENTIALS, code="invalid_credentials")
        await self._throttle.login_succeeded(ip, email)
        return auth_answer(user, await self._sessions.start(user["id"]))

    async def change_password(self, user_id: str, body: PasswordChangeIn) -> AuthAnswer:
        """Replace the password, end every session, and start a new one for the caller."""
        await self._throttle.password_check(user_id)
        user = await self.get(user_id)
        stored = user.get("password_hash")
        if not stored or not await self._hasher.verify(body.current_password, stored):
            raise Unauthorized("the current password is wrong", code="invalid_credentials")
        new_hash = await self._hasher.hash(body.new_password)
        await self._docs.update(
            "users", {"id": user_id}, {"password_hash": new_hash, "password_changed_at": time.time()}
        )
        await self._sessions.revoke_all(user_id)
        return auth_answer(user, await self._sessions.start(user_id))
