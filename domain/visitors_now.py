"""`eddy_site_visitors_now{site}`: the live module's visitors now (distinct visitors seen in its last
`TOP_WINDOW_S`, from the shared member set the live publisher keeps) as a Prometheus gauge.

A site's series exists from its first event here on (at 0 until the next refresh reads its number, at
most `refresh_s` later), so the set of series follows the traffic, never the moment of a scrape. Sites
are refreshed while this process has taken their events within the window, plus one last round that
drops them to 0; the series then stays at 0 (its values are bounded by the number of sites). With
several processes each refreshes the sites it ingests for and the merged view keeps the highest live
value: on Redis every process reads the same shared set, so that is the site's number.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from domain.live.messages import visitors_key
from domain.live.view import TOP_WINDOW_S
from runtime.metrics import Metrics
from runtime.periodic import Periodic
from storage.ports import KeyValue
from storage.records import Event

log = logging.getLogger("eddy.metrics")

REFRESH_S = 5.0
KV_TIMEOUT_S = 2.0


class VisitorsNowSeries:
    """Keeps the visitors-now gauge of recently active sites up to date (a context component)."""

    def __init__(self, kv: KeyValue, metrics: Metrics, refresh_s: float = REFRESH_S) -> None:
        self._kv = kv
        self._gauge = metrics.site_visitors_now
        self.refresh_s = refresh_s
        self._last_event: dict[str, float] = {}  # site -> monotonic time of its last event here
        self._rounds = Periodic("visitors-now refresh", self.refresh, lambda: self.refresh_s, log)

    def on_events(self, events: Sequence[Event]) -> None:
        """The event listener: note which sites are active."""
        now = time.monotonic()
        last_event = self._last_event
        for event in events:
            site_id = event.site_id
            if site_id not in last_event:
                self._gauge.labels(site_id)  # the series appears with the site, not with a refresh
            last_event[site_id] = now

    async def start(self) -> None:
        """Begin refreshing."""
        self._rounds.start()

    async def stop(self) -> None:
        """Stop refreshing."""
        await self._rounds.stop()

    async def refresh(self) -> None:
        """Read visitors now of every recently active site; a site quiet for a whole window goes to 0."""
        now = time.monotonic()
        for site_id, last in list(self._last_event.items()):
            if now - last > TOP_WINDOW_S + self.refresh_s:
                self._gauge.labels(site_id).set(0)
                del self._last_event[site_id]
                continue
            try:
                count = await asyncio.wait_for(
                    self._kv.count_members(visitors_key(site_id), time.time() - TOP_WINDOW_S), KV_TIMEOUT_S
                )
            except Exception as error:  # noqa: BLE001 - keep the last value while the kv is down
                log.debug("visitors now of %s unavailable: %s", site_id, error)
                continue
            self._gauge.labels(site_id).set(count)
