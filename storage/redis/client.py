"""Create redis-py asyncio clients with the timeouts Eddy relies on (fail fast when Redis is down, so
ingest and dashboards degrade instead of hanging), and `RedisStore`, the client's life cycle that the Redis
key-value store and bus share."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from storage.errors import StoreUnavailableError


def make_client(url: str) -> aioredis.Redis:
    """A pooled client; created inside the running loop (after any fork)."""
    return aioredis.Redis.from_url(
        url,
        socket_connect_timeout=1.0,
        socket_timeout=2.0,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2),
        health_check_interval=15,
        max_connections=64,
    )


class RedisStore:
    """What the Redis key-value store and bus share: a client made when opened (inside the running loop)
    and closed when closed, names namespaced with `prefix` so several deployments or tests can share one
    server, and a ping that reports an outage as StoreUnavailableError."""

    what = "redis"  # how a "not open" error names the store

    def __init__(self, url: str, prefix: str = "eddy:") -> None:
        self._url = url
        self._prefix = prefix
        self._client: aioredis.Redis | None = None

    @property
    def client(self) -> aioredis.Redis:
        if self._client is None:
            raise StoreUnavailableError(f"{self.what} is not open")
        return self._client

    def _k(self, name: str) -> str:
        """The name on the server of a key or channel."""
        return self._prefix + name

    async def open(self) -> None:
        self._client = make_client(self._url)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def ping(self) -> None:
        try:
            await self.client.ping()
        except (RedisError, OSError) as error:
            raise StoreUnavailableError(f"redis: {error}") from error
