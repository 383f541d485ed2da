"""Throttles on the shared key-value store (Redis when configured, in process otherwise), fixed windows.

- Sign-in attempts: per client IP and per account (lower-cased email), counted before the password is
  checked, so a brute force is answered with 429 without spending bcrypt time on it.
- The management API: requests per user per minute.

Retry-After carries a little random jitter so throttled clients do not come back in lockstep.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from domain.errors import RateLimited
from storage.ports import KeyValue

JITTER_S = 2.0


@dataclass(frozen=True)
class Limit:
    """At most `hits` in each `window` seconds."""

    hits: int
    window: float


LOGIN_PER_IP = Limit(30, 300.0)
LOGIN_PER_ACCOUNT = Limit(10, 600.0)
REGISTER_PER_IP = Limit(20, 600.0)
API_PER_USER = Limit(1200, 60.0)


def _digest(value: str) -> str:
    # Emails and IPs never appear raw in kv keys.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class Throttle:
    """Counts hits against limits and raises RateLimited (429 + Retry-After) past them."""

    def __init__(
        self,
        kv: KeyValue,
        *,
        login_ip: Limit = LOGIN_PER_IP,
        login_account: Limit = LOGIN_PER_ACCOUNT,
        register_ip: Limit = REGISTER_PER_IP,
        api_user: Limit = API_PER_USER,
    ) -> None:
        self._kv = kv
        self.login_ip = login_ip
        self.login_account = login_account
        self.register_ip = register_ip
        self.api_user = api_user

    async def _check(self, key: str, limit: Limit, message: str) -> None:
        count, resets_in = await self._kv.hit(key, limit.window)
        if count > limit.hits:
            raise RateLimited(resets_in + random.uniform(0, JITTER_S), message)

    async def login(self, ip: str, email: str) -> None:
        """Count a sign-in attempt from this IP for this account."""
        await self._check(f"throttle:login:ip:{_digest(ip)}", self.login_ip, "too many sign-in attempts")
        await self._check(
            f"throttle:login:account:{_digest(email.lower())}",
            self.login_account,
            "too many sign-in attempts",
        )

    async def password_check(self, user_id: str) -> None:
        """Count a check of the current password (password change) against the account."""
        await self._check(f"throttle:login:user:{user_id}", self.login_account, "too many attempts")

    async def register(self, ip: str) -> None:
        """Count a registration from this IP."""
        await self._check(f"throttle:register:ip:{_digest(ip)}", self.register_ip, "too many registrations")

    async def hit_limit(self, name: str, limit: Limit, message: str) -> None:
        """Count one hit of a named limit (the name is hashed: it may hold an email or an address)."""
        await self._check(f"throttle:{_digest(name)}", limit, message)

    async def api(self, user_id: str) -> None:
        """Count one management API request by this user."""
        await self._check(f"throttle:api:user:{user_id}", self.api_user, "API rate limit reached")
