"""Throttles on the shared key-value store (Redis when configured, in process otherwise), fixed windows.

- Sign-in attempts, a policy no outsider can turn into a lockout of the owner:
  - every attempt from one client address counts against LOGIN_PER_IP (any account);
  - wrong passwords for one account from one address: after LOGIN_FAILURES_PER_ADDRESS that address is
    refused for the account (429, before the password is checked: no bcrypt time spent on it) until its
    window ends;
  - wrong passwords for one account from anywhere: past LOGIN_FAILURES_PER_ACCOUNT (a distributed guess)
    every address that has failed once on the account is refused, so each further address costs the
    attacker one guess; an address with no failure on the account is still checked, so the owner signing
    in from their own address with the right password gets in, whatever others sent;
  - a right password clears its own address's failures on the account.
  Per account, guesses per window are at most LOGIN_FAILURES_PER_ACCOUNT plus one per attacking address
  (each address also bounded by LOGIN_PER_IP over all accounts).
- Checking the current password (password change): attempts per user.
- The management API: requests per user per minute, and per secret API key (the stats API).
- Bad credentials that cost no bcrypt (share-link tokens, API keys on the stats API): past
  BAD_CREDENTIALS_PER_IP failures from one address, it gets 429 before anything is looked up.

Retry-After carries a little random jitter so throttled clients do not come back in lockstep.
"""

from __future__ import annotations

import hashlib
import random
import time
from dataclasses import dataclass, field

from domain.errors import RateLimited
from storage.ports import KeyValue

JITTER_S = 2.0


@dataclass(frozen=True)
class Limit:
    """At most `hits` in each `window` seconds."""

    hits: int
    window: float


LOGIN_PER_IP = Limit(30, 300.0)
LOGIN_FAILURES_PER_ADDRESS = Limit(5, 900.0)
LOGIN_FAILURES_PER_ACCOUNT = Limit(20, 900.0)
PASSWORD_CHECKS_PER_USER = Limit(10, 600.0)
REGISTER_PER_IP = Limit(20, 600.0)
API_PER_USER = Limit(1200, 60.0)
BAD_CREDENTIALS_PER_IP = Limit(30, 300.0)


def _digest(value: str) -> str:
    # Emails and IPs never appear raw in kv keys.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


@dataclass(eq=False, kw_only=True)
class Throttle:
    """Counts hits against limits and raises RateLimited (429 + Retry-After) past them."""

    kv: KeyValue = field(kw_only=False)
    login_ip: Limit = LOGIN_PER_IP
    login_address_failures: Limit = LOGIN_FAILURES_PER_ADDRESS
    login_account_failures: Limit = LOGIN_FAILURES_PER_ACCOUNT
    password_checks: Limit = PASSWORD_CHECKS_PER_USER
    register_ip: Limit = REGISTER_PER_IP
    api_user: Limit = API_PER_USER
    bad_credentials: Limit = BAD_CREDENTIALS_PER_IP

    async def _check(self, key: str, limit: Limit, message: str) -> None:
        count, resets_in = await self.kv.hit(key, limit.window)
        if count > limit.hits:
            raise RateLimited(resets_in + random.uniform(0, JITTER_S), message)

    async def _count(self, key: str) -> int:
        raw = await self.kv.get(key)
        return int(raw) if raw else 0

    @staticmethod
    def _failure_keys(ip: str, email: str) -> tuple[str, str, str]:
        account = _digest(email.lower())
        pair = f"throttle:login:failed:{account}:{_digest(ip)}"
        return f"throttle:login:failed:{account}", pair, pair + ":until"

    async def login(self, ip: str, email: str) -> None:
        """Before the password is checked: count the attempt from this address and refuse it when the
        policy above says so (RateLimited)."""
        await self._check(f"throttle:login:ip:{_digest(ip)}", self.login_ip, "too many sign-in attempts")
        account_key, pair_key, until_key = self._failure_keys(ip, email)
        from_here = await self._count(pair_key)
        if not from_here:
            return  # an address with no failure on this account is always heard
        allowed = self.login_address_failures.hits
        if await self._count(account_key) >= self.login_account_failures.hits:
            allowed = 1
        if from_here >= allowed:
            raw = await self.kv.get(until_key)
            left = float(raw) - time.time() if raw else self.login_address_failures.window
            raise RateLimited(max(1.0, left) + random.uniform(0, JITTER_S), "too many sign-in attempts")

    async def login_failed(self, ip: str, email: str) -> None:
        """A wrong password (or unknown email) from this address for this account."""
        account_key, pair_key, until_key = self._failure_keys(ip, email)
        await self.kv.hit(account_key, self.login_account_failures.window)
        _, resets_in = await self.kv.hit(pair_key, self.login_address_failures.window)
        await self.kv.set(until_key, str(time.time() + resets_in).encode(), max(resets_in, 0.001))

    async def login_succeeded(self, ip: str, email: str) -> None:
        """The right password: this address's failures on the account are forgotten."""
        _, pair_key, until_key = self._failure_keys(ip, email)
        await self.kv.delete(pair_key)
        await self.kv.delete(until_key)

    async def password_check(self, user_id: str) -> None:
        """Count a check of the current password (password change) against the account."""
        await self._check(f"throttle:login:user:{user_id}", self.password_checks, "too many attempts")

    async def register(self, ip: str) -> None:
        """Count a registration from this IP."""
        await self._check(f"throttle:register:ip:{_digest(ip)}", self.register_ip, "too many registrations")

    async def hit_limit(self, name: str, limit: Limit, message: str) -> None:
        """Count one hit of a named limit (the name is hashed: it may hold an email or an address)."""
        await self._check(f"throttle:{_digest(name)}", limit, message)

    async def api(self, user_id: str) -> None:
        """Count one management API request by this user."""
        await self._check(f"throttle:api:user:{user_id}", self.api_user, "API rate limit reached")

    async def api_key(self, key_id: str) -> None:
        """Count one API request made with this secret key (same budget as a user's)."""
        await self._check(f"throttle:api:key:{key_id}", self.api_user, "API rate limit reached")

    async def credential_allowed(self, ip: str) -> None:
        """Before a share token or API key from this address is looked up: RateLimited once the
        address has sent too many bad ones."""
        key = f"throttle:badcred:{_digest(ip)}"
        if await self._count(key) >= self.bad_credentials.hits:
            raw = await self.kv.get(key + ":until")
            left = float(raw) - time.time() if raw else self.bad_credentials.window
            raise RateLimited(max(1.0, left) + random.uniform(0, JITTER_S), "too many invalid credentials")

    async def credential_failed(self, ip: str) -> None:
        """A share token or API key from this address matched nothing."""
        key = f"throttle:badcred:{_digest(ip)}"
        _, resets_in = await self.kv.hit(key, self.bad_credentials.window)
        await self.kv.set(key + ":until", str(time.time() + resets_in).encode(), max(resets_in, 0.001))
