"""Bus on Redis pub/sub: one publisher client and one reader task per process.

Dashboard sockets never hold a Redis connection of their own: they subscribe here, and the single reader
fans messages out in process. The reader keeps a control channel subscribed so a dead connection is noticed
even when no site is watched, reconnects with capped exponential backoff, and resubscribes everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from runtime.tasks import cancel_and_wait
from storage.errors import StoreUnavailableError
from storage.ports import Callback
from storage.redis.client import RedisStore
from storage.subscribers import Subscribers, Subscription

log = logging.getLogger("eddy.bus")
CONTROL_CHANNEL = "_control"


class RedisBus(RedisStore):
    """Channels are namespaced with `prefix`."""

    what = "redis bus"

    def __init__(self, url: str, prefix: str = "eddy:") -> None:
        super().__init__(url, prefix)
        self._pubsub: aioredis.client.PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._subscribers = Subscribers()
        self._healthy = False
        self._connected = asyncio.Event()
        self.reconnects = 0

    @property
    def healthy(self) -> bool:
        return self._healthy

    async def open(self) -> None:
        await super().open()
        self._reader = asyncio.create_task(self._read_forever(), name="eddy-bus-reader")
        # Give the first connection a moment, but never fail start-up because Redis is slow or down.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout=2.0)

    async def close(self) -> None:
        task, self._reader = self._reader, None
        await cancel_and_wait(task)
        await self._drop_pubsub()
        await super().close()
        self._healthy = False

    async def publish(self, channel: str, data: bytes) -> None:
        try:
            await self.client.publish(self._k(channel), data)
        except (RedisError, OSError) as error:
            raise StoreUnavailableError(f"redis publish: {error}") from error

    async def publish_many(self, messages: Sequence[tuple[str, bytes]]) -> None:
        if not messages:
            return
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for channel, data in messages:
                    pipe.publish(self._k(channel), data)
                await pipe.execute()
        except (RedisError, OSError) as error:
            raise StoreUnavailableError(f"redis publish: {error}") from error

    async def subscribe(self, channel: str, callback: Callback) -> Subscription:
        first = self._subscribers.add(channel, callback)
        if first and self._pubsub is not None and self._healthy:
            try:
                await self._pubsub.subscribe(self._k(channel))
            except (RedisError, OSError):
                # The reader will notice the broken connection and resubscribe everything.
                log.warning("redis subscribe to %s failed; will retry on reconnect", channel)
        return Subscription(self.remove, channel, callback)

    async def remove(self, channel: str, callback: Callback) -> None:
        """Forget one subscriber; the Redis channel is dropped with its last subscriber."""
        last = self._subscribers.discard(channel, callback)
        if last and self._pubsub is not None and self._healthy:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(self._k(channel))

    def channel_count(self) -> int:
        """Channels with at least one subscriber in this process."""
        return len(self._subscribers)

    async def _drop_pubsub(self) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            self._pubsub = None

    async def _read_forever(self) -> None:
        backoff = 0.05
        while True:
            try:
                pubsub = self.client.pubsub(ignore_subscribe_messages=True)
                self._pubsub = pubsub
                await pubsub.subscribe(self._k(CONTROL_CHANNEL), *(self._k(c) for c in self._subscribers))
                if not self._healthy and self._connected.is_set():
                    self.reconnects += 1
                    log.info("redis bus reconnected")
                self._healthy = True
                self._connected.set()
                backoff = 0.05
                await self._pump(pubsub)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as error:
                if self._healthy:
                    log.warning("redis bus lost its connection: %s", error)
                self._healthy = False
                await self._drop_pubsub()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    async def _pump(self, pubsub: aioredis.client.PubSub) -> None:
        prefix_len = len(self._prefix)
        while True:
            message = await pubsub.get_message(timeout=1.0)
            if message is None or message.get("type") != "message":
                continue
            wire = message["channel"]
            channel = (wire.decode() if isinstance(wire, bytes) else wire)[prefix_len:]
            await self._subscribers.deliver(channel, message["data"])
