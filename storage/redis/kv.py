"""KeyValue on Redis: every process of every host sees the same counters, cache and member sets."""

from __future__ import annotations

from collections.abc import Mapping

from storage.redis.client import RedisStore


class RedisKeyValue(RedisStore):
    """Keys are namespaced with `prefix` so several deployments or tests can share one server."""

    what = "redis key-value store"

    async def get(self, key: str) -> bytes | None:
        return await self.client.get(self._k(key))

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self.client.set(self._k(key), value, px=max(1, int(ttl * 1000)))

    async def delete(self, key: str) -> None:
        await self.client.delete(self._k(key))

    async def set_if_absent(self, key: str, value: bytes, ttl: float) -> bool:
        return bool(await self.client.set(self._k(key), value, px=max(1, int(ttl * 1000)), nx=True))

    async def incr(self, key: str, ttl: float | None = None) -> int:
        name = self._k(key)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            if ttl is not None:
                pipe.pexpire(name, max(1, int(ttl * 1000)), nx=True)
            results = await pipe.execute()
        return int(results[0])

    async def hit(self, key: str, window: float) -> tuple[int, float]:
        name = self._k(key)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.pexpire(name, max(1, int(window * 1000)), nx=True)
            pipe.pttl(name)
            count, _, pttl = await pipe.execute()
        return int(count), max(0.0, pttl / 1000.0)

    async def touch_members(self, key: str, members: Mapping[str, float], ttl: float) -> None:
        if not members:
            return
        name = self._k(key)
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.zadd(name, dict(members), gt=True)
            pipe.pexpire(name, max(1, int(ttl * 1000)))
            await pipe.execute()

    async def count_members(self, key: str, min_score: float) -> int:
        name = self._k(key)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(name, "-inf", f"({min_score}")
            pipe.zcard(name)
            _, count = await pipe.execute()
        return int(count)

    async def top_members(self, key: str, min_score: float, limit: int) -> list[tuple[str, float]]:
        rows = await self.client.zrevrangebyscore(
            self._k(key), "+inf", min_score, start=0, num=limit, withscores=True
        )
        return [(member.decode(), float(score)) for member, score in rows]
