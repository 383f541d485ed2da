"""Access and refresh tokens (JWT, HS256 hard-coded).

Access tokens live 15 minutes and carry `typ: access`; refresh tokens live 7 days, carry `typ: refresh`, a
family id (`fam`) and their own id (`jti`). Both carry `iss`, `aud`, `iat`, `nbf`, `exp`, and each kind is
checked for its own `typ` and audience, so a refresh token never works as an access token.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt

ALGORITHM = "HS256"
ISSUER = "eddy"
ACCESS_AUDIENCE = "eddy:api"
REFRESH_AUDIENCE = "eddy:refresh"
ACCESS_TTL_S = 15 * 60
REFRESH_TTL_S = 7 * 24 * 3600
REQUIRED_CLAIMS = ["exp", "iat", "nbf", "iss", "aud", "sub", "typ"]


class InvalidToken(Exception):
    """The token is malformed, forged, expired, not yet valid, or of the wrong kind."""


@dataclass(frozen=True)
class RefreshClaims:
    """What a verified refresh token says."""

    user_id: str
    family: str
    jti: str
    expires_at: int


def new_id() -> str:
    """A random, URL-safe identifier (128 bits)."""
    return secrets.token_urlsafe(16)


class TokenService:
    """Issues and verifies tokens with one HMAC key (≥ 256 random bits, from server secrets)."""

    def __init__(
        self, key: bytes, *, access_ttl: int = ACCESS_TTL_S, refresh_ttl: int = REFRESH_TTL_S
    ) -> None:
        if len(key) < 32:
            raise ValueError("the JWT key must hold at least 256 bits")
        self._key = key
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl

    def _encode(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def _decode(self, token: str, audience: str, typ: str) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=ISSUER,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(str(error)) from None
        if claims.get("typ") != typ or not isinstance(claims.get("sub"), str):
            raise InvalidToken("wrong token type")
        return claims

    def issue_access(self, user_id: str, session: str, now: float | None = None) -> str:
        """A short-lived access token for a user in a session (refresh family)."""
        now = int(now if now is not None else time.time())
        return self._encode(
            {
                "iss": ISSUER,
                "aud": ACCESS_AUDIENCE,
                "sub": user_id,
                "sid": session,
                "typ": "access",
                "iat": now,
                "nbf": now,
                "exp": now + self.access_ttl,
                "jti": new_id(),
            }
        )

    def verify_access(self, token: str) -> tuple[str, str]:
        """(user_id, session) of a valid access token; raises InvalidToken."""
        claims = self._decode(token, ACCESS_AUDIENCE, "access")
        session = claims.get("sid")
        if not isinstance(session, str):
            raise InvalidToken("missing session")
        return claims["sub"], session

    def issue_refresh(self, user_id: str, family: str, jti: str, now: float | None = None) -> str:
        """A refresh token of a family; `jti` must be recorded as the family's current token."""
        now = int(now if now is not None else time.time())
        return self._encode(
            {
                "iss": ISSUER,
                "aud": REFRESH_AUDIENCE,
                "sub": user_id,
                "typ": "refresh",
                "fam": family,
                "jti": jti,
                "iat": now,
                "nbf": now,
                "exp": now + self.refresh_ttl,
            }
        )

    def verify_refresh(self, token: str) -> RefreshClaims:
        """The claims of a valid refresh token; raises InvalidToken."""
        claims = self._decode(token, REFRESH_AUDIENCE, "refresh")
        family, jti = claims.get("fam"), claims.get("jti")
        if not isinstance(family, str) or not isinstance(jti, str):
            raise InvalidToken("missing family")
        return RefreshClaims(user_id=claims["sub"], family=family, jti=jti, expires_at=int(claims["exp"]))
