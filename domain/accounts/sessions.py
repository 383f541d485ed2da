"""Sessions: refresh-token families with rotation and reuse detection.

A sign-in starts a family `{id, user_id, current_jti, revoked, created_at, expires_at}`. Each refresh
swaps `current_jti` for a new one with a compare-and-set update (`where current_jti == presented jti`), so
of N concurrent refreshes of one token exactly one wins. Presenting a token that is no longer the
current one (a spent token, or the loser of such a race) is treated as theft: the whole family is revoked
and every process forgets it (`BearerAuthenticator.session_revoked`), so its access tokens stop working
too. A family also has an absolute lifetime (`FAMILY_LIFETIME_S`) that refreshing cannot extend.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import msgspec

from domain.accounts.access import BearerAuthenticator
from domain.accounts.tokens import InvalidToken, RefreshClaims, TokenService, new_id
from domain.errors import Unauthorized
from storage.ports import Document, DocumentStore

FAMILY_LIFETIME_S = 30 * 24 * 3600


class TokenPair(msgspec.Struct, kw_only=True):
    """A fresh access token and the refresh token that replaces it."""

    access_token: str
    refresh_token: str
    token_type: str = "Bearer"  # noqa: S105 - the scheme name, not a secret
    expires_in: int


@dataclass(eq=False)
class SessionService:
    """Starts, rotates and ends sessions."""

    tokens: TokenService
    docs: DocumentStore
    bearer: BearerAuthenticator
    family_lifetime: float = FAMILY_LIFETIME_S

    def _pair(self, user_id: str, family: str, jti: str) -> TokenPair:
        return TokenPair(
            access_token=self.tokens.issue_access(user_id, family),
            refresh_token=self.tokens.issue_refresh(user_id, family, jti),
            expires_in=self.tokens.access_ttl,
        )

    async def _presented(self, refresh_token: str) -> tuple[RefreshClaims, Document | None]:
        """The claims of a refresh token that verifies (401 otherwise) and its family, if it still exists."""
        try:
            claims = self.tokens.verify_refresh(refresh_token)
        except InvalidToken:
            raise Unauthorized("invalid or expired refresh token", code="invalid_token") from None
        return claims, await self.docs.get("refresh_families", claims.family)

    async def start(self, user_id: str) -> TokenPair:
        """A new session (family) for a user who just proved who they are."""
        now = time.time()
        family, jti = new_id(), new_id()
        await self.docs.insert(
            "refresh_families",
            {
                "id": family,
                "user_id": user_id,
                "current_jti": jti,
                "revoked": False,
                "created_at": now,
                "expires_at": now + self.family_lifetime,
            },
        )
        return self._pair(user_id, family, jti)

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Spend a refresh token for a new pair; a spent or raced token revokes its family (401)."""
        claims, family = await self._presented(refresh_token)
        if (
            family is None
            or family.get("revoked")
            or family.get("user_id") != claims.user_id
            or float(family.get("expires_at", 0)) <= time.time()
        ):
            raise Unauthorized("this session has ended", code="invalid_token")
        new_jti = new_id()
        swapped = await self.docs.update(
            "refresh_families",
            {"id": claims.family, "current_jti": claims.jti, "revoked": False},
            {"current_jti": new_jti, "rotated_at": time.time()},
        )
        if swapped != 1:
            await self.revoke(claims.family)
            raise Unauthorized(
                "this refresh token was already used; the session is ended", code="token_reused"
            )
        return self._pair(claims.user_id, claims.family, new_jti)

    async def logout(self, refresh_token: str) -> None:
        """End the session a refresh token belongs to (spent tokens of the family work too)."""
        claims, family = await self._presented(refresh_token)
        if family is not None and family.get("user_id") == claims.user_id:
            await self.revoke(claims.family)

    async def revoke(self, *families: str) -> None:
        """Revoke sessions now, in every process."""
        for family in families:
            await self.docs.update("refresh_families", {"id": family}, {"revoked": True})
        await self.bearer.session_revoked(*families)

    async def revoke_all(self, user_id: str) -> None:
        """End every live session of a user (password change, account deletion)."""
        rows = await self.docs.find("refresh_families", {"user_id": user_id, "revoked": False})
        if rows:
            await self.revoke(*(row["id"] for row in rows))
