"""Create redis-py asyncio clients with the timeouts Eddy relies on (fail fast when Redis is down, so
ingest and dashboards degrade instead of hanging)."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff


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
