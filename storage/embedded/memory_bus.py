"""Bus in process memory: the embedded default. Subscribers of a channel are called in order."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence

from storage.ports import Callback

log = logging.getLogger("eddy.bus")


class _MemorySubscription:
    def __init__(self, bus: MemoryBus, channel: str, callback: Callback) -> None:
        self._bus = bus
        self._channel = channel
        self._callback = callback

    async def unsubscribe(self) -> None:
        self._bus.remove(self._channel, self._callback)


class MemoryBus:
    """Delivers messages to subscribers in this process only."""

    def __init__(self) -> None:
        self._subscribers: dict[str, list[Callback]] = {}

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
        await deliver(self._subscribers.get(channel, ()), channel, data)

    async def publish_many(self, messages: Sequence[tuple[str, bytes]]) -> None:
        for channel, data in messages:
            await self.publish(channel, data)

    async def subscribe(self, channel: str, callback: Callback) -> _MemorySubscription:
        self._subscribers.setdefault(channel, []).append(callback)
        return _MemorySubscription(self, channel, callback)

    def remove(self, channel: str, callback: Callback) -> None:
        """Forget one subscriber (used by subscriptions)."""
        callbacks = self._subscribers.get(channel)
        if callbacks and callback in callbacks:
            callbacks.remove(callback)
            if not callbacks:
                del self._subscribers[channel]

    def channel_count(self) -> int:
        """Channels with at least one subscriber."""
        return len(self._subscribers)


async def deliver(callbacks: Sequence[Callback], channel: str, data: bytes) -> None:
    """Call each subscriber; one failing subscriber never stops the others."""
    for callback in list(callbacks):
        try:
            result = callback(channel, data)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("bus subscriber failed on %s", channel)
