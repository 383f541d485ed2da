"""Password hashing: bcrypt, cost 12, always run in a small thread pool so the IOLoop never stalls.

Policy for bcrypt's 72-byte input limit: passwords are 8 to 1024 characters. One whose UTF-8 form is over
72 bytes (or holds a NUL byte) is first pre-hashed: base64(HMAC-SHA256(pepper, password)), 44 ASCII bytes,
then bcrypt'ed. So long passphrases keep all their entropy, are never silently truncated, and never cause
an error. The pepper is a server secret (`Secrets.password_pepper`), so the pre-hash is not a public
transform of the password.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from concurrent.futures import ThreadPoolExecutor

import bcrypt

BCRYPT_COST = 12
# A cost-12 hash of a random string nobody knows, made once and kept here: checking an unknown account's
# password against it costs what checking a real one does, from the first sign-in after a start (made
# lazily, the first unknown sign-in after a restart took twice as long: a tell).
DUMMY_HASH = b"$2b$12$Bri8Em7t522CyHPEx7r/RuSm7M8IHiyc/W2jo2TkziN7SXlVpy9Gy"
BCRYPT_MAX_BYTES = 72
MIN_LENGTH = 8
MAX_LENGTH = 1024
# bcrypt releases the GIL; two workers keep a burst of logins from taking every core.
HASH_WORKERS = 2


def bcrypt_input(password: str, pepper: bytes) -> bytes:
    """The bytes bcrypt sees for a password (pre-hashed when over 72 bytes or holding NUL)."""
    raw = password.encode("utf-8", "surrogatepass")
    if len(raw) > BCRYPT_MAX_BYTES or b"\x00" in raw:
        return base64.b64encode(hmac.new(pepper, raw, hashlib.sha256).digest())
    return raw


def hash_cost(stored_hash: str) -> int:
    """The cost factor recorded in a bcrypt hash (`$2b$12$...` -> 12)."""
    return int(stored_hash.split("$")[2])


class PasswordHasher:
    """Hashes and checks passwords off the IOLoop."""

    def __init__(self, pepper: bytes, cost: int = BCRYPT_COST) -> None:
        self._pepper = pepper
        self.cost = cost
        self._pool = ThreadPoolExecutor(max_workers=HASH_WORKERS, thread_name_prefix="bcrypt")
        self._dummy_hash: bytes | None = DUMMY_HASH if cost == BCRYPT_COST else None

    async def start(self) -> None:
        """Make the dummy hash now when the cost is not the default one (DUMMY_HASH is ready)."""
        if self._dummy_hash is None:
            self._dummy_hash = await self._run(bcrypt.hashpw, b"not a password", bcrypt.gensalt(self.cost))

    async def stop(self) -> None:
        """Let running hashes finish; take no new ones."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _run(self, func, *args):  # type: ignore[no-untyped-def]
        return await asyncio.get_running_loop().run_in_executor(self._pool, func, *args)

    async def hash(self, password: str) -> str:
        """A new bcrypt hash of the password."""
        salt = bcrypt.gensalt(self.cost)
        hashed: bytes = await self._run(bcrypt.hashpw, bcrypt_input(password, self._pepper), salt)
        return hashed.decode()

    async def verify(self, password: str, stored_hash: str) -> bool:
        """True when the password matches the stored hash (bcrypt compares in constant time)."""
        try:
            return bool(
                await self._run(bcrypt.checkpw, bcrypt_input(password, self._pepper), stored_hash.encode())
            )
        except ValueError:
            return False  # a malformed stored hash never matches

    async def waste_time(self, password: str) -> None:
        """Spend one bcrypt check's time (for unknown accounts), so timing tells nothing."""
        if self._dummy_hash is None:
            self._dummy_hash = await self._run(bcrypt.hashpw, b"not a password", bcrypt.gensalt(self.cost))
        await self._run(bcrypt.checkpw, bcrypt_input(password, self._pepper), self._dummy_hash)
