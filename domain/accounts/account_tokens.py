"""One-use secrets mailed to people: email verification and password reset links.

`account_tokens`: {id, user_id, purpose, token_hash, expires_at, used, created_at, data}. Only an HMAC of
the token is stored (a copy of the database cannot be used to take over an account); the token is spent
with a compare-and-set (`used: false -> true`), so it works once even when two requests race.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from typing import Any

from domain.accounts.tokens import new_id
from domain.errors import Invalid
from storage.ports import DocumentStore

VERIFY_EMAIL = "verify_email"
PASSWORD_RESET = "password_reset"  # noqa: S105 - a purpose name, not a secret
TTL_S = {VERIFY_EMAIL: 7 * 24 * 3600.0, PASSWORD_RESET: 30 * 60.0}
MAX_TOKEN_LENGTH = 200


def token_hash(hash_key: bytes, token: str, purpose: str) -> str:
    """The stored form of a token (HMAC-SHA256 under the server's hash key, bound to its purpose)."""
    return hmac.new(hash_key, f"{purpose}:{token}".encode(), hashlib.sha256).hexdigest()


class AccountTokens:
    """Issues and spends one-use account tokens."""

    def __init__(self, docs: DocumentStore, hash_key: bytes) -> None:
        self._docs = docs
        self._key = hash_key

    async def issue(self, user_id: str, purpose: str, data: Mapping[str, Any] | None = None) -> str:
        """A new token for `purpose`; earlier unused tokens of the same purpose for this user stop working."""
        for row in await self._docs.find(
            "account_tokens", {"user_id": user_id, "purpose": purpose, "used": False}
        ):
            await self._docs.update("account_tokens", {"id": row["id"]}, {"used": True})
        token = secrets.token_urlsafe(32)
        now = time.time()
        await self._docs.insert(
            "account_tokens",
            {
                "id": new_id(),
                "user_id": user_id,
                "purpose": purpose,
                "token_hash": token_hash(self._key, token, purpose),
                "expires_at": now + TTL_S[purpose],
                "used": False,
                "created_at": now,
                "data": dict(data or {}),
            },
        )
        return token

    async def spend(self, token: str, purpose: str) -> dict[str, Any]:
        """The token's document, spent now; 422 `invalid_token` when unknown, used or expired."""
        refused = Invalid("This link is invalid, expired or already used.", code="invalid_token")
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise refused
        rows = await self._docs.find(
            "account_tokens", {"token_hash": token_hash(self._key, token, purpose)}, limit=1
        )
        if not rows or rows[0]["purpose"] != purpose or float(rows[0]["expires_at"]) <= time.time():
            raise refused
        if (
            await self._docs.update("account_tokens", {"id": rows[0]["id"], "used": False}, {"used": True})
            != 1
        ):
            raise refused
        return rows[0]

    async def forget_user(self, user_id: str) -> None:
        """Drop every token of a user (account deleted)."""
        await self._docs.delete("account_tokens", {"user_id": user_id})
