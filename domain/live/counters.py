"""Per-site counters one process keeps from the events it ingests, between two publishes.

Adding events is cheap dictionary work on the IOLoop (it runs inside the ingest path); `take` hands back
the accumulated delta and the visitors seen, and starts the site afresh.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from domain.live.messages import MAX_RECENT_PER_DELTA, SiteDelta, bounded_counts, recent_event
from storage.records import Event

# Distinct keys one pending site may hold before new ones fold into "(other)": bounds memory under floods.
MAX_PENDING_KEYS = 1000
MAX_PENDING_VISITORS = 10_000


@dataclass
class _Pending:
    n: int = 0
    pages: Counter[str] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)
    countries: Counter[str] = field(default_factory=Counter)
    recent: deque[Event] = field(default_factory=lambda: deque(maxlen=MAX_RECENT_PER_DELTA))
    visitors: dict[str, float] = field(default_factory=dict)


def _count(counter: Counter[str], key: str) -> None:
    if key in counter or len(counter) < MAX_PENDING_KEYS:
        counter[key] += 1
    else:
        counter["(other)"] += 1


class PendingCounts:
    """Counts per site since the last publish."""

    def __init__(self) -> None:
        self._sites: dict[str, _Pending] = {}

    def __contains__(self, site_id: str) -> bool:
        return site_id in self._sites

    def sites(self) -> list[str]:
        """Sites with something to publish."""
        return list(self._sites)

    def add(self, events: Iterable[Event]) -> set[str]:
        """Count a durable batch; returns the sites it touched."""
        touched: set[str] = set()
        for event in events:
            pending = self._sites.get(event.site_id)
            if pending is None:
                pending = self._sites[event.site_id] = _Pending()
            touched.add(event.site_id)
            pending.n += 1
            if event.path:
                _count(pending.pages, event.path)
            _count(pending.sources, event.source or "(direct)")
            if event.country:
                _count(pending.countries, event.country)
            pending.recent.append(event)
            if event.visitor_id:
                seen = event.ts / 1000.0
                visitors = pending.visitors
                if event.visitor_id in visitors:
                    visitors[event.visitor_id] = max(seen, visitors[event.visitor_id])
                elif len(visitors) < MAX_PENDING_VISITORS:
                    visitors[event.visitor_id] = seen
        return touched

    def take(self, site_id: str, now_ms: int) -> tuple[SiteDelta, dict[str, float]] | None:
        """The delta and the visitors (id -> last seen, epoch s) of a site, forgetting them; None when the
        site has nothing pending."""
        pending = self._sites.pop(site_id, None)
        if pending is None:
            return None
        recent: list[dict[str, Any]] = [recent_event(event) for event in pending.recent]
        delta = SiteDelta(
            site=site_id,
            n=pending.n,
            at=now_ms,
            pages=bounded_counts(pending.pages),
            sources=bounded_counts(pending.sources),
            countries=bounded_counts(pending.countries),
            recent=recent,
        )
        return delta, pending.visitors
