"""The in-process broadcaster: one bus subscription per watched site (reference-counted by the dashboards
watching it), one merged SiteView per watched site, and the fan-out of ticks to every dashboard stream.

Bus callbacks only fold the delta into the view and mark the site dirty; a short push task per site then
reads visitors now from the shared member set (one key-value call for all of the site's dashboards, however
many deltas arrived meanwhile), encodes the tick once per distinct filter, and offers it to each stream.
A slow refresh also pushes ticks for quiet sites so visitors now and events/s fall back as time passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import msgspec

from domain.live.messages import (
    LiveState,
    SiteDelta,
    Snapshot,
    Tick,
    channel_for,
    decode_delta,
    visitors_key,
    with_recent,
)
from domain.live.stream import Filters, LiveStream
from domain.live.view import RECENT_LIMIT, TOP_WINDOW_S, SiteView
from runtime.tasks import cancel_and_wait
from storage.ports import Bus, EventFilter, EventStore, KeyValue, Subscription

log = logging.getLogger("eddy.live")
IDLE_REFRESH_S = 2.0
SEED_LIMIT = 20_000
KV_TIMEOUT_S = 1.0
VISITORS_TTL_S = 2 * TOP_WINDOW_S


class _Site:
    __slots__ = (
        "holders",
        "last_push",
        "last_state",
        "pending_recent",
        "push_task",
        "ready",
        "streams",
        "subscription",
        "view",
        "visitors",
    )

    def __init__(self, site_id: str) -> None:
        self.view = SiteView(site_id)
        self.streams: dict[LiveStream, None] = {}
        self.holders = 0
        self.subscription: Subscription | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending_recent: list[dict[str, Any]] = []
        self.push_task: asyncio.Task[None] | None = None
        self.visitors = 0
        self.last_state: LiveState | None = None
        self.last_push = 0.0


class LiveHub:
    """Dashboards of this process, grouped by the site they watch."""

    def __init__(self, bus: Bus, kv: KeyValue, events: EventStore) -> None:
        self._bus = bus
        self._kv = kv
        self._events = events
        self._sites: dict[str, _Site] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._refresher: asyncio.Task[None] | None = None
        self.dropped = 0
        self.on_drop: Any = None  # called once per dropped slow stream (metrics)

    # lifecycle -------------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the slow refresh of quiet sites."""
        self._refresher = asyncio.create_task(self._refresh_forever(), name="eddy-live-refresh")

    async def stop(self) -> None:
        """Stop refreshing and release every subscription."""
        task, self._refresher = self._refresher, None
        await cancel_and_wait(task)
        for site_id, site in list(self._sites.items()):
            for stream in list(site.streams):
                stream.close()
            await self._release(site_id, site)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # what other parts ask --------------------------------------------------------------------------------
    def watched_sites(self) -> list[str]:
        """Sites with at least one dashboard (or one arriving) in this process."""
        return list(self._sites)

    def stream_count(self, site_id: str | None = None) -> int:
        """Dashboards watching one site, or all sites."""
        sites = [self._sites[site_id]] if site_id in self._sites else [] if site_id else self._sites.values()
        return sum(len(site.streams) for site in sites)

    async def watch(self, stream: LiveStream) -> None:
        """Attach a dashboard: subscribe its site if it is the first here, then send it the snapshot."""
        site_id = stream.site_id
        site = self._sites.get(site_id)
        first = site is None
        if site is None:
            site = self._sites[site_id] = _Site(site_id)
        site.holders += 1
        try:
            if first:
                await self._subscribe(site_id, site)
            else:
                await asyncio.shield(site.ready)
        except BaseException:
            self._let_go(site_id, site)
            raise
        if stream.closed:
            self._let_go(site_id, site)
            return
        stream.on_drop = self._count_drop
        site.streams[stream] = None
        stream.offer(self.snapshot(site_id, stream.filters))

    def unwatch(self, stream: LiveStream) -> None:
        """Detach a dashboard (idempotent); the site's subscription goes with its last dashboard."""
        stream.close()
        site = self._sites.get(stream.site_id)
        if site is None or stream not in site.streams:
            return
        del site.streams[stream]
        self._let_go(stream.site_id, site)

    def snapshot(self, site_id: str, filters: Filters) -> str:
        """The full current state of a watched site as a snapshot message."""
        site = self._sites[site_id]
        state = site.view.state(time.time(), site.visitors)
        recent = [event for event in site.view.recent if filters.matches(event)]
        return with_recent(Snapshot, state, recent[-RECENT_LIMIT:])

    def set_filters(self, stream: LiveStream, filters: Filters) -> None:
        """Change a dashboard's tail filters and send it a fresh snapshot under them."""
        stream.filters = filters
        if stream.site_id in self._sites and stream in self._sites[stream.site_id].streams:
            stream.offer(self.snapshot(stream.site_id, filters))

    # bus side ---------------------------------------------------------------------------------------------
    def on_message(self, _channel: str, data: bytes) -> None:
        """A delta from any process (bus callback): fold it in and schedule a push."""
        try:
            delta = decode_delta(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            log.warning("ignoring a malformed live delta")
            return
        self.apply(delta)

    def apply(self, delta: SiteDelta) -> None:
        """Fold a delta into its site's view (when watched here) and schedule a push."""
        site = self._sites.get(delta.site)
        if site is None:
            return
        recent = site.view.apply(delta, time.time())
        site.pending_recent.extend(recent)
        del site.pending_recent[:-RECENT_LIMIT]
        self._schedule_push(delta.site, site)

    # internals --------------------------------------------------------------------------------------------
    def _count_drop(self) -> None:
        self.dropped += 1
        if self.on_drop is not None:
            self.on_drop()

    def _let_go(self, site_id: str, site: _Site) -> None:
        site.holders -= 1
        if site.holders <= 0 and self._sites.get(site_id) is site:
            del self._sites[site_id]
            self._spawn(self._release(site_id, site))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _subscribe(self, site_id: str, site: _Site) -> None:
        try:
            site.subscription = await self._bus.subscribe(channel_for(site_id), self.on_message)
            await self._seed(site_id, site)
            site.visitors = await self._visitors(site_id, site.visitors)
        finally:
            if not site.ready.done():
                site.ready.set_result(None)

    async def _release(self, site_id: str, site: _Site) -> None:
        if site.push_task is not None:
            site.push_task.cancel()
        if site.subscription is not None:
            subscription, site.subscription = site.subscription, None
            try:
                await subscription.unsubscribe()
            except Exception as error:  # noqa: BLE001 - the bus drops it on reconnect anyway
                log.warning("live unsubscribe of %s failed: %s", site_id, error)

    async def _seed(self, site_id: str, site: _Site) -> None:
        """Start the view from the store's last minutes, and re-mark their visitors as seen (a restarted
        process or a flushed Redis would otherwise start visitors now from zero)."""
        now = time.time()
        flt = EventFilter(
            site_id=site_id, start=int((now - TOP_WINDOW_S) * 1000), end=int((now + 3600) * 1000)
        )
        events = []
        try:
            async with contextlib.aclosing(self._events.read(flt, batch_size=2000)) as batches:
                async for batch in batches:
                    events.extend(batch)
                    if len(events) >= SEED_LIMIT:
                        break
        except Exception as error:  # noqa: BLE001 - a dashboard still works from live deltas
            log.warning("live: could not read recent events of %s: %s", site_id, error)
        site.view.seed(events, now)
        seen: dict[str, float] = {}
        for event in events:
            if event.visitor_id:
                seen[event.visitor_id] = max(seen.get(event.visitor_id, 0.0), min(event.ts / 1000.0, now))
        if seen:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    self._kv.touch_members(visitors_key(site_id), seen, VISITORS_TTL_S), KV_TIMEOUT_S
                )

    async def _visitors(self, site_id: str, fallback: int) -> int:
        try:
            return await asyncio.wait_for(
                self._kv.count_members(visitors_key(site_id), time.time() - TOP_WINDOW_S), KV_TIMEOUT_S
            )
        except Exception as error:  # noqa: BLE001 - keep the last known number while the kv is down
            log.debug("live: visitors now of %s unavailable: %s", site_id, error)
            return fallback

    def _schedule_push(self, site_id: str, site: _Site) -> None:
        if site.push_task is None or site.push_task.done():
            site.push_task = asyncio.create_task(self._push(site_id, site))

    async def _push(self, site_id: str, site: _Site) -> None:
        if not site.ready.done():
            await asyncio.shield(site.ready)
        site.visitors = await self._visitors(site_id, site.visitors)
        if self._sites.get(site_id) is not site:
            return
        now = time.time()
        recent, site.pending_recent = site.pending_recent, []
        state = site.view.state(now, site.visitors)
        if not recent and state == site.last_state:
            return
        site.last_state = state
        site.last_push = now
        texts: dict[Filters, str] = {}
        for stream in list(site.streams):
            text = texts.get(stream.filters)
            if text is None:
                shown = [event for event in recent if stream.filters.matches(event)]
                text = texts[stream.filters] = with_recent(Tick, state, shown)
            stream.offer(text)

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(IDLE_REFRESH_S)
            now = time.time()
            for site_id, site in list(self._sites.items()):
                if site.streams and now - site.last_push >= IDLE_REFRESH_S:
                    self._schedule_push(site_id, site)
