"""Bus in process memory: the embedded default. Subscribers of a channel are called in order."""

from __future__ import annotations

from collections.abc import Sequence

from storage.ports import Callback
from storage.subscribers import Subscribers, Subscription


class MemoryBus:
    """Delivers messages to subscribers in this process only."""

    def __init__(self) -> None:
        self._subscribers = Subscribers()

    @property
    def healthy(self) -> bool:
        return True

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        self._subscribers.clear()

    async def ping(self) -> None:
        return None

    async def publish(self, channel: str, data: bytes) -> None:
        await self._subscribers.deliver(channel, data)

    async def publish_many(self, messages: Sequence[tuple[str, bytes]]) -> None:
        for channel, data in messages:
            await self.publish(channel, data)

    async def subscribe(self, channel: str, callback: Callback) -> Subscription:
        self._subscribers.add(channel, callback)
        return Subscription(self._subscribers.discard, channel, callback)

    def channel_count(self) -> int:
        """Channels with at least one subscriber."""
        return len(self._subscribers)
