"""Google sign-in: turn a verified Google identity into an Eddy user and a session.

A Google account is matched by its stable id (`google_sub`) first, then by email; otherwise a new account
without a password is created (its address verified: Google vouched for it). An address Google has not
verified never signs in.

Linking to an existing account by email needs *both* sides verified: Google's `verified_email` and the
Eddy account's own `email_verified` (set by its verification link, a password reset, or an accepted
mailed invitation). Otherwise anyone could register a victim's address with a password of their own,
wait for the victim to sign in with Google, and share the account (pre-hijack): an unverified account
is refused with `google_link_unverified` (sign in with the password and verify the address first). A
link ends every other session of the account, so a password holder's earlier tokens stop at once.

The OAuth `state` is one-use: kept in the key-value store for 10 minutes and bound to the browser by a
cookie, so a callback cannot be replayed or forged cross-site.

The callback hands the browser a one-time handoff code (in a URL fragment, which is never sent to a
server) rather than tokens: the sign-in answer waits in the key-value store for 60 seconds and is spent
by the first `exchange`; any later exchange of the same code fails.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import msgspec

from domain.accounts.sessions import SessionService
from domain.accounts.users import AuthAnswer, UserService, auth_answer, normalise_email
from domain.errors import Unauthorized
from storage.ports import DocumentStore, KeyValue

STATE_TTL_S = 600.0
HANDOFF_TTL_S = 60.0


def _state_key(state: str) -> str:
    return "oauth:google:state:" + hashlib.sha256(state.encode()).hexdigest()


async def new_state(kv: KeyValue) -> str:
    """A fresh one-use OAuth state value."""
    state = secrets.token_urlsafe(24)
    await kv.set(_state_key(state), b"1", STATE_TTL_S)
    return state


async def spend_state(kv: KeyValue, state: str) -> bool:
    """True once for a state this server issued within the last 10 minutes."""
    if not state or len(state) > 100:
        return False
    key = _state_key(state)
    if await kv.get(key) is None:
        return False
    await kv.delete(key)
    return True


def _handoff_key(code: str) -> str:
    return "oauth:google:handoff:" + hashlib.sha256(code.encode()).hexdigest()


async def new_handoff(kv: KeyValue, answer: AuthAnswer) -> str:
    """Keep a sign-in answer for 60 seconds under a fresh one-time code, and return the code."""
    code = secrets.token_urlsafe(32)
    await kv.set(_handoff_key(code), msgspec.json.encode(answer), HANDOFF_TTL_S)
    return code


async def spend_handoff(kv: KeyValue, code: str) -> AuthAnswer:
    """The sign-in answer kept under `code`, exactly once; Unauthorized when unknown, spent or expired."""
    refused = Unauthorized("the sign-in code is unknown, expired or already used", code="invalid_code")
    if not code or len(code) > 100:
        raise refused
    key = _handoff_key(code)
    # The spent marker is claimed atomically, so two racing exchanges cannot both win.
    if not await kv.set_if_absent(key + ":spent", b"1", HANDOFF_TTL_S):
        raise refused
    raw = await kv.get(key)
    await kv.delete(key)
    if raw is None:
        raise refused
    return msgspec.json.decode(raw, type=AuthAnswer)


async def sign_in(
    docs: DocumentStore, users: UserService, sessions: SessionService, info: dict[str, Any]
) -> AuthAnswer:
    """The Eddy user for Google's userinfo answer (`id`, `email`, `verified_email`, `name`), signed in."""
    sub, email = str(info.get("id") or info.get("sub") or ""), str(info.get("email") or "")
    verified = info.get("verified_email", info.get("email_verified")) is True
    if not sub or not email or not verified:
        raise Unauthorized("Google did not vouch for a verified email", code="google_unverified")
    rows = await docs.find("users", {"google_sub": sub}, limit=1)
    user = rows[0] if rows else await users.find_by_email(email)
    if user is None:
        name = str(info.get("name") or "")[:100]
        user = await users.create(normalise_email(email), name, None, google_sub=sub)
        await docs.update("users", {"id": user["id"]}, {"email_verified": True})
        user["email_verified"] = True
    elif (user.get("totp") or {}).get("enabled"):
        # Checked before any link: the second factor cannot be gone around through Google.
        raise Unauthorized(
            "This account uses two-factor sign-in: sign in with its password and code.",
            code="two_factor_required",
        )
    elif user.get("google_sub") != sub:
        if user.get("google_sub"):
            raise Unauthorized("this email is linked to another Google account", code="google_mismatch")
        if not user.get("email_verified"):
            raise Unauthorized(
                "An account with this email exists but its address was never verified. Sign in with its "
                "password and verify the address (or reset the password) before using Google sign-in.",
                code="google_link_unverified",
            )
        await docs.update("users", {"id": user["id"]}, {"google_sub": sub})
        await sessions.revoke_all(user["id"])
    return auth_answer(user, await sessions.start(user["id"]))


@dataclass(frozen=True)
class GoogleSignIn:
    """Google sign-in over this process's stores: the one-use states, the handoff codes and the sign-in
    itself, so the handlers speak to a service instead of reaching the stores."""

    kv: KeyValue
    docs: DocumentStore
    users: UserService
    sessions: SessionService

    async def new_state(self) -> str:
        """A fresh one-use OAuth state."""
        return await new_state(self.kv)

    async def spend_state(self, state: str) -> bool:
        """Whether `state` was issued and unused (it is used up now)."""
        return await spend_state(self.kv, state)

    async def new_handoff(self, answer: AuthAnswer) -> str:
        """A one-time code the browser exchanges for `answer`."""
        return await new_handoff(self.kv, answer)

    async def spend_handoff(self, code: str) -> AuthAnswer:
        """The answer waiting under `code`, once."""
        return await spend_handoff(self.kv, code)

    async def sign_in(self, info: dict[str, Any]) -> AuthAnswer:
        """The Eddy user for Google's userinfo answer, signed in (see `sign_in`)."""
        return await sign_in(self.docs, self.users, self.sessions, info)
