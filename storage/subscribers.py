"""The subscribers of a bus in this process: the callbacks of each channel, and how a message reaches them.

Every bus (in memory, on the shared SQLite file, on Redis) keeps this same table; they differ only in how a
message travels between processes before it is handed to `Subscribers.deliver`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterator

from storage.ports import Callback

log = logging.getLogger("eddy.bus")


class Subscribers:
    """Callbacks by channel, in the order they subscribed."""

    def __init__(self) -> None:
        self._by_channel: dict[str, list[Callback]] = {}

    def add(self, channel: str, callback: Callback) -> bool:
        """Register a callback; True when it is the channel's first."""
        callbacks = self._by_channel.setdefault(channel, [])
        callbacks.append(callback)
        return len(callbacks) == 1

    def discard(self, channel: str, callback: Callback) -> bool:
        """Forget a callback; True when it was the channel's last (the channel is dropped then)."""
        callbacks = self._by_channel.get(channel)
        if not callbacks or callback not in callbacks:
            return False
        callbacks.remove(callback)
        if callbacks:
            return False
        del self._by_channel[channel]
        return True

    def __iter__(self) -> Iterator[str]:
        """The channels with at least one subscriber."""
        return iter(self._by_channel)

    def __len__(self) -> int:
        return len(self._by_channel)

    def clear(self) -> None:
        """Forget every subscriber (the bus is closing)."""
        self._by_channel.clear()

    async def deliver(self, channel: str, data: bytes) -> None:
        """Hand a message to the channel's subscribers, if it has any."""
        # A copy: a callback may unsubscribe itself (or another) while the message is handed round.
        for callback in list(self._by_channel.get(channel, ())):
            try:
                result = callback(channel, data)
                if inspect.isawaitable(result):
                    await result
            except Exception:  # one failing subscriber never stops the others
                log.exception("bus subscriber failed on %s", channel)


class Subscription:
    """The handle `Bus.subscribe` returns; unsubscribing calls the bus's `remove` for this callback."""

    def __init__(
        self, remove: Callable[[str, Callback], Awaitable[object] | object], channel: str, callback: Callback
    ) -> None:
        self._remove = remove
        self._channel = channel
        self._callback = callback

    async def unsubscribe(self) -> None:
        result = self._remove(self._channel, self._callback)
        if inspect.isawaitable(result):
            await result
