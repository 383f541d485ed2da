"""Retention, enforced: every site's events older than its `retention_days` (never more than the server's
`--retention-days`) are deleted from every part of the event store (log, segments, rollups) on a schedule.

A round walks the sites and calls `EventStore.purge_before` with the site's cutoff (the start of the UTC day
`retention_days` ago, so a day is kept or dropped whole), then bumps the site's stats cache version so no
cached answer still shows purged events. Rounds run every `interval_s` (EDDY_RETENTION_SWEEP_S, default an
hour) and once shortly after start; a site whose retention was just lowered is swept at once. With several
workers every worker may sweep: purges are idempotent and the store serialises them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass

from domain.accounts.site_docs import StoredSite, stored_site
from domain.stats.cache import StatsCache
from runtime.periodic import Periodic
from storage.ports import DocumentStore, EventStore

log = logging.getLogger("eddy.retention")

DAY_MS = 86_400_000
SWEEP_INTERVAL_S = 3600.0
FIRST_ROUND_S = 60.0


def cutoff_ms(now_ms: int, retention_days: int) -> int:
    """The instant before which a site with this retention keeps nothing: UTC midnight `retention_days`
    days before today."""
    today = now_ms - now_ms % DAY_MS
    return today - retention_days * DAY_MS


@dataclass(eq=False)
class RetentionSweeper:
    """Deletes events past each site's retention, every `interval_s` (a context component)."""

    docs: DocumentStore
    events: EventStore
    cache: StatsCache
    max_retention_days: int
    _: KW_ONLY
    interval_s: float = SWEEP_INTERVAL_S
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self._rounds = Periodic("retention sweep", self.sweep, self._next_delay, log)
        self._started = False
        self._urgent: set[asyncio.Task[int]] = set()
        self.purged_total = 0

    def _next_delay(self) -> float:
        """The first round comes a minute after start (not an interval later), then every interval."""
        if not self._started:
            self._started = True
            return min(FIRST_ROUND_S, self.interval_s)
        return self.interval_s

    async def start(self) -> None:
        """Begin sweeping."""
        self._rounds.start()

    async def stop(self) -> None:
        """Stop sweeping (an urgent sweep under way finishes first)."""
        await self._rounds.stop()
        if self._urgent:
            await asyncio.gather(*self._urgent, return_exceptions=True)

    def retention_of(self, site: StoredSite) -> int:
        """The retention a site gets: its own, capped by the server's."""
        days = site.retention_days or self.max_retention_days
        return max(1, min(days, self.max_retention_days))

    async def sweep_site(self, site: StoredSite) -> int:
        """Purge one site now; returns how many events went (when the store knows)."""
        now_ms = int(self.clock() * 1000)
        removed = await self.events.purge_before(site.id, cutoff_ms(now_ms, self.retention_of(site)))
        if removed:
            await self.cache.bump(site.id)
            self.purged_total += removed
            log.info("retention: %d events of site %s deleted", removed, site.id)
        return removed

    def sweep_soon(self, site: StoredSite) -> None:
        """Sweep one site in the background (its retention was just lowered)."""
        task = asyncio.get_running_loop().create_task(self.sweep_site(site))
        self._urgent.add(task)
        task.add_done_callback(self._urgent.discard)

    async def sweep(self) -> None:
        """One round over every site."""
        for doc in await self.docs.find("sites", {}):
            try:
                await self.sweep_site(stored_site(doc))
            except Exception:
                log.exception("retention sweep of site %s failed", doc.get("id"))
