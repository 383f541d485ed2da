"""The live service of one process: the hub (dashboards, merged views) and the publisher (deltas of what
this process ingests), started and stopped together as one context component."""

from __future__ import annotations

from collections.abc import Callable

from domain.live.hub import LiveHub
from domain.live.publisher import LivePublisher
from storage.ports import Stores


class LiveService:
    """`on_events` is the ingest listener; `hub` serves the dashboard sockets and SSE streams."""

    def __init__(
        self,
        stores: Stores,
        *,
        on_failure: Callable[[str], None] | None = None,
        on_drop: Callable[[], None] | None = None,
    ) -> None:
        self.hub = LiveHub(stores.bus, stores.kv, stores.events)
        self.hub.on_drop = on_drop
        self.publisher = LivePublisher(stores.bus, stores.kv, self.hub, on_failure=on_failure)
        self.on_events = self.publisher.on_events

    async def start(self) -> None:
        """Start the hub's refresh and the publisher."""
        await self.hub.start()
        await self.publisher.start()

    async def stop(self) -> None:
        """Publish what is pending, then release every subscription."""
        await self.publisher.stop()
        await self.hub.stop()
