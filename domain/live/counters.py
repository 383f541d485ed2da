"""Per-site counters one process keeps from the events it ingests, between two publishes.

Adding events is cheap dictionary work on the IOLoop (it runs inside the ingest path); `take` hands back
the accumulated delta and the visitors seen, and starts the site afresh.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from domain.live.messages import MAX_RECENT_PER_DELTA, SiteDelta, bounded_counts, recent_event
from storage.records import Event

# Distinct keys one pending site may hold before new ones fold into "(other)": bounds memory under floods.
MAX_PENDING_KEYS = 1000
MAX_PENDING_VISITORS = 10_000
# Visits whose source was counted lately, per site: a visit's source counts once, at its first event.
MAX_COUNTED_VISITS = 50_000


@dataclass
class _Pending:
    n: int = 0
    pages: Counter[str] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)
    countries: Counter[str] = field(default_factory=Counter)
    recent: deque[Event] = field(default_factory=lambda: deque(maxlen=MAX_RECENT_PER_DELTA))
    visitors: dict[str, float] = field(default_factory=dict)


_SITE = attrgetter("site_id")
_BREAKDOWN = attrgetter("path", "country")
_VISIT = attrgetter("session_id", "id", "source")
_VISITOR = attrgetter("visitor_id")
_TS = attrgetter("ts")


def _count(counter: Counter[str], key: str, n: int) -> None:
    if key in counter or len(counter) < MAX_PENDING_KEYS:
        counter[key] += n
    else:
        counter["(other)"] += n


def _by_site(events: Sequence[Event]) -> dict[str, Sequence[Event]]:
    sites = set(map(_SITE, events))
    if len(sites) == 1:  # the usual batch: no per-event Python to split it
        return {sites.pop(): events}
    groups: dict[str, list[Event]] = {}
    for event in events:
        groups.setdefault(event.site_id, []).append(event)
    return dict(groups)


class PendingCounts:
    """Counts per site since the last publish."""

    def __init__(self) -> None:
        self._sites: dict[str, _Pending] = {}
        self._visits: dict[str, dict[str, None]] = {}

    def __contains__(self, site_id: str) -> bool:
        return site_id in self._sites

    def sites(self) -> list[str]:
        """Sites with something to publish."""
        return list(self._sites)

    def add(self, events: Sequence[Event]) -> set[str]:
        """Count a durable batch; returns the sites it touched."""
        # Runs on the IOLoop for every commit: the breakdowns are counted per distinct (path, source,
        # country) with C-level Counters rather than three dictionary updates per event. Distinct keys
        # come in order of first appearance, so the MAX_PENDING_KEYS cut-off falls as it would event by
        # event.
        groups = _by_site(events)
        for site_id, site_events in groups.items():
            pending = self._sites.get(site_id)
            if pending is None:
                pending = self._sites[site_id] = _Pending()
            pending.n += len(site_events)
            for (path, country), n in Counter(map(_BREAKDOWN, site_events)).items():
                if path:
                    _count(pending.pages, path, n)
                if country:
                    _count(pending.countries, country, n)
            # Sources count visits (a 3-page visit from Google is one), not events.
            counted = self._visits.setdefault(site_id, {})
            for session_id, event_id, source in map(_VISIT, site_events):
                visit = session_id or event_id
                if visit not in counted:
                    counted[visit] = None
                    _count(pending.sources, source or "(direct)", 1)
            while len(counted) > MAX_COUNTED_VISITS:  # oldest first: dicts keep insertion order
                del counted[next(iter(counted))]
            pending.recent.extend(site_events[-MAX_RECENT_PER_DELTA:])
            visitors = pending.visitors
            for visitor_id, ts in zip(map(_VISITOR, site_events), map(_TS, site_events), strict=True):
                if visitor_id:
                    seen = ts / 1000.0
                    if visitor_id in visitors:
                        if seen > visitors[visitor_id]:
                            visitors[visitor_id] = seen
                    elif len(visitors) < MAX_PENDING_VISITORS:
                        visitors[visitor_id] = seen
        return set(groups)

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
