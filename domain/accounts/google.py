"""Google sign-in: turn a verified Google identity into an Eddy user and a session.

A Google account is matched by its stable id (`google_sub`) first, then by a *verified* email (linking
the Google id to that existing account); otherwise a new account without a password is created. An
unverified email never signs in, so nobody can claim someone else's Eddy account through Google.

The OAuth `state` is one-use: kept in the key-value store for 10 minutes and bound to the browser by a
cookie, so a callback cannot be replayed or forged cross-site.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from domain.accounts.sessions import SessionService
from domain.accounts.users import AuthAnswer, UserService, auth_answer, normalise_email
from domain.errors import Unauthorized
from storage.ports import DocumentStore, KeyValue

STATE_TTL_S = 600.0


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
    elif user.get("google_sub") != sub:
        if user.get("google_sub"):
            raise Unauthorized("this email is linked to another Google account", code="google_mismatch")
        await docs.update("users", {"id": user["id"]}, {"google_sub": sub})
    return auth_answer(user, await sessions.start(user["id"]))
