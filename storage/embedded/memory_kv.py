"""KeyValue in process memory: the embedded default for rate limits, cache, counters and member sets.

Expired entries are dropped lazily on access and by a periodic sweep, so memory stays bounded by what is
live. The event loop is single-threaded, so no locks are needed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

from runtime.periodic import Periodic

log = logging.getLogger("eddy.kv")


class MemoryKeyValue:
    """A dict of (value, expires_at) plus dicts of scored members."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, sweep_every: float = 30.0) -> None:
        self._clock = clock
        self._values: dict[str, tuple[object, float | None]] = {}
        self._sweep_every = sweep_every
        self._sweeper = Periodic("expiry sweep", self.sweep, lambda: self._sweep_every, log)

    async def open(self) -> None:
        self._sweeper.start()

    async def close(self) -> None:
        await self._sweeper.stop()

    async def ping(self) -> None:
        return None

    def sweep(self) -> None:
        """Drop every expired key."""
        now = self._clock()
        expired = [k for k, (_, exp) in self._values.items() if exp is not None and exp <= now]
        for key in expired:
            del self._values[key]

    def _live(self, key: str) -> object | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        value, expires_at = entry
        if expires_at is not None and expires_at <= self._clock():
            del self._values[key]
            return None
        return value

    def _expiry(self, ttl: float | None) -> float | None:
        return None if ttl is None else self._clock() + ttl

    async def get(self, key: str) -> bytes | None:
        value = self._live(key)
        if isinstance(value, int):
            return str(value).encode()  # counters read back as Redis returns them
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        self._values[key] = (bytes(value), self._expiry(ttl))

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)

    async def set_if_absent(self, key: str, value: bytes, ttl: float) -> bool:
        if self._live(key) is not None:
            return False
        self._values[key] = (bytes(value), self._expiry(ttl))
        return True

    async def incr(self, key: str, ttl: float | None = None) -> int:
        current = self._live(key)
        if isinstance(current, int):
            count = current + 1
            self._values[key] = (count, self._values[key][1])
        else:
            count = 1
            self._values[key] = (count, self._expiry(ttl))
        return count

    async def hit(self, key: str, window: float) -> tuple[int, float]:
        count = await self.incr(key, ttl=window)
        expires_at = self._values[key][1]
        remaining = max(0.0, (expires_at or 0.0) - self._clock())
        return count, remaining

    async def touch_members(self, key: str, members: Mapping[str, float], ttl: float) -> None:
        current = self._live(key)
        scores: dict[str, float] = current if isinstance(current, dict) else {}
        for member, score in members.items():
            if score > scores.get(member, float("-inf")):
                scores[member] = score
        self._values[key] = (scores, self._expiry(ttl))

    def _scores(self, key: str, min_score: float) -> dict[str, float]:
        current = self._live(key)
        if not isinstance(current, dict):
            return {}
        for member in [m for m, s in current.items() if s < min_score]:
            del current[member]
        return current

    async def count_members(self, key: str, min_score: float) -> int:
        return len(self._scores(key, min_score))

    async def top_members(self, key: str, min_score: float, limit: int) -> list[tuple[str, float]]:
        scores = self._scores(key, min_score)
        return sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:limit]
