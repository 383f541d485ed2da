"""Publishes this process's per-site deltas on the bus, coalesced: at most one per site every
`min_interval` seconds while the site has activity (the first after a quiet spell leaves at once).

The event listener only counts in memory, so ingest never waits on Redis and never sees its errors. A
flush marks the visitors it saw in the shared member set, then sends every ready site's delta in one
pipelined `publish_many`. When the bus or key-value store fails, the delta still reaches this process's own
dashboards (fan-out across processes pauses until the bus reconnects) and the failure is counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass

from domain.live.counters import PendingCounts
from domain.live.hub import KV_TIMEOUT_S, VISITORS_TTL_S, LiveHub
from domain.live.messages import channel_for, encode_delta, visitors_key
from storage.ports import Bus, KeyValue
from storage.records import Event

log = logging.getLogger("eddy.live")
MIN_INTERVAL_S = 0.25
PUBLISH_TIMEOUT_S = 2.0
WARN_EVERY_S = 30.0


@dataclass(eq=False)
class LivePublisher:
    """Counts ingested events per site and publishes coalesced deltas."""

    bus: Bus
    kv: KeyValue
    hub: LiveHub
    _: KW_ONLY
    min_interval: float = MIN_INTERVAL_S
    on_failure: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        self._pending = PendingCounts()
        self._last_sent: dict[str, float] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._ready: set[str] = set()
        self._flusher: asyncio.Task[None] | None = None
        self._stopped = False
        self._last_warning = 0.0
        self.published = 0
        self.failures = 0

    def on_events(self, events: Sequence[Event]) -> None:
        """The ctx.event_listeners entry: count a durable batch and schedule its sites' deltas."""
        if self._stopped:
            return
        try:
            touched = self._pending.add(events)
            now = time.monotonic()
            for site_id in touched:
                if site_id in self._timers or site_id in self._ready:
                    continue
                wait = self._last_sent.get(site_id, 0.0) + self.min_interval - now
                if wait <= 0:
                    self._mark_ready(site_id)
                else:
                    loop = asyncio.get_running_loop()
                    self._timers[site_id] = loop.call_later(wait, self._mark_ready, site_id)
        except Exception:  # listeners must never raise into ingest
            log.exception("live counting failed")

    def _mark_ready(self, site_id: str) -> None:
        self._timers.pop(site_id, None)
        self._ready.add(site_id)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_ready())

    async def _flush_ready(self) -> None:
        # Let the rest of this loop iteration's batches land in the same publish.
        await asyncio.sleep(0)
        while self._ready:
            sites, self._ready = sorted(self._ready), set()
            await self.flush(sites)

    async def flush(self, sites: Sequence[str] | None = None) -> None:
        """Publish the pending deltas of these sites (all when None) now."""
        now = time.monotonic()
        now_ms = int(time.time() * 1000)
        messages: list[tuple[str, bytes]] = []
        deltas = []
        touches = []
        for site_id in self._pending.sites() if sites is None else sites:
            taken = self._pending.take(site_id, now_ms)
            if taken is None:
                continue
            delta, visitors = taken
            self._last_sent[site_id] = now
            deltas.append(delta)
            messages.append((channel_for(site_id), encode_delta(delta)))
            if visitors:
                touches.append(self.kv.touch_members(visitors_key(site_id), visitors, VISITORS_TTL_S))
        self._forget_quiet(now)
        if not messages:
            return
        if touches:
            results = await asyncio.gather(
                *(asyncio.wait_for(touch, KV_TIMEOUT_S) for touch in touches), return_exceptions=True
            )
            errors = [r for r in results if isinstance(r, BaseException)]
            if errors:
                self._failed("kv", errors[0])
        try:
            await asyncio.wait_for(self.bus.publish_many(messages), PUBLISH_TIMEOUT_S)
            self.published += len(messages)
            if not self.bus.healthy:
                # Sent for other processes, but this process's own reader is reconnecting and would miss it.
                for delta in deltas:
                    self.hub.apply(delta)
        except Exception as error:  # noqa: BLE001 - live fan-out pauses; ingest and local dashboards go on
            self._failed("bus", error)
            for delta in deltas:
                self.hub.apply(delta)

    def _failed(self, part: str, error: BaseException) -> None:
        self.failures += 1
        if self.on_failure is not None:
            self.on_failure(part)
        now = time.monotonic()
        if now - self._last_warning >= WARN_EVERY_S:
            self._last_warning = now
            log.warning("live %s unavailable (%s); cross-process fan-out paused", part, error)

    def _forget_quiet(self, now: float) -> None:
        # Sites quiet for longer than the interval need no throttle record (keeps memory bounded).
        if len(self._last_sent) > 1000:
            horizon = now - self.min_interval
            for site_id in [s for s, at in self._last_sent.items() if at < horizon]:
                del self._last_sent[site_id]

    async def start(self) -> None:
        """Nothing runs until events arrive."""
        self._stopped = False

    async def stop(self) -> None:
        """Cancel pending timers and publish what is left, best effort."""
        self._stopped = True
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._ready.clear()
        if self._flusher is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._flusher
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flush(), PUBLISH_TIMEOUT_S)
