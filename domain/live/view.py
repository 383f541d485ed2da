"""The merged live view of one site in one process: every process's deltas folded together.

- events per second: events received over the last EPS_WINDOW_S seconds, divided by that window;
- top pages, sources and countries "now": counts over the last TOP_WINDOW_S seconds (the same window as
  visitors now), kept in BUCKET_S buckets that fall off as time passes;
- the most recent events (at most RECENT_LIMIT).

Visitors now is not kept here: it comes from a member set every process shares (see hub.py).
Time is the receipt time of each delta (seeded events use their own timestamps).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from typing import Any

from domain.live.messages import OTHER, LiveState, SiteDelta, Top, recent_event
from storage.records import Event

EPS_WINDOW_S = 10
TOP_WINDOW_S = 300
BUCKET_S = 10
TOP_LIMIT = 10
RECENT_LIMIT = 50
MAX_KEYS_PER_BUCKET = 500


class _Bucket:
    __slots__ = ("countries", "pages", "sources", "start")

    def __init__(self, start: int) -> None:
        self.start = start
        self.pages: Counter[str] = Counter()
        self.sources: Counter[str] = Counter()
        self.countries: Counter[str] = Counter()


def _merge(target: Counter[str], counts: dict[str, int]) -> None:
    for key, count in counts.items():
        if key in target or len(target) < MAX_KEYS_PER_BUCKET:
            target[key] += count
        else:
            target[OTHER] += count


def _top(buckets: Iterable[_Bucket], attribute: str) -> list[Top]:
    total: Counter[str] = Counter()
    for bucket in buckets:
        total.update(getattr(bucket, attribute))
    ranked = sorted(total.items(), key=lambda item: (-item[1], item[0]))[:TOP_LIMIT]
    return [Top(key, count) for key, count in ranked]


class SiteView:
    """One site's live numbers in this process."""

    def __init__(self, site_id: str) -> None:
        self.site_id = site_id
        self._seconds: deque[list[int]] = deque()  # [second, events], oldest first
        self._buckets: deque[_Bucket] = deque()
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT_LIMIT)

    def _expire(self, now: float) -> None:
        second = int(now)
        while self._seconds and self._seconds[0][0] <= second - EPS_WINDOW_S:
            self._seconds.popleft()
        while self._buckets and self._buckets[0].start <= now - TOP_WINDOW_S - BUCKET_S:
            self._buckets.popleft()

    def _count_events(self, second: int, n: int) -> None:
        # Seeded events may arrive out of order: insert into the right second.
        for entry in reversed(self._seconds):
            if entry[0] == second:
                entry[1] += n
                return
            if entry[0] < second:
                break
        self._seconds.append([second, n])
        if len(self._seconds) > 1 and self._seconds[-2][0] > second:
            self._seconds = deque(sorted(self._seconds))

    def _bucket(self, at: float) -> _Bucket:
        start = int(at) - int(at) % BUCKET_S
        for bucket in reversed(self._buckets):
            if bucket.start == start:
                return bucket
            if bucket.start < start:
                break
        bucket = _Bucket(start)
        self._buckets.append(bucket)
        if len(self._buckets) > 1 and self._buckets[-2].start > start:
            self._buckets = deque(sorted(self._buckets, key=lambda b: b.start))
        return bucket

    def apply(self, delta: SiteDelta, now: float) -> list[dict[str, Any]]:
        """Fold in one delta received at `now` (epoch s); returns its recent events, oldest first."""
        self._expire(now)
        self._count_events(int(now), delta.n)
        bucket = self._bucket(now)
        _merge(bucket.pages, delta.pages)
        _merge(bucket.sources, delta.sources)
        _merge(bucket.countries, delta.countries)
        self.recent.extend(delta.recent)
        return list(delta.recent)

    def seed(self, events: Iterable[Event], now: float) -> int:
        """Fold in stored events (the site's last TOP_WINDOW_S seconds) when this process starts watching
        it, so a fresh dashboard does not start from zero; returns how many were used."""
        used = 0
        visits: set[str] = set()
        for event in events:
            at = min(event.ts / 1000.0, now)
            if at < now - TOP_WINDOW_S:
                continue
            used += 1
            if at > now - EPS_WINDOW_S:
                self._count_events(int(at), 1)
            bucket = self._bucket(at)
            if event.path:
                _merge(bucket.pages, {event.path: 1})
            visit = event.session_id or event.id
            if visit not in visits:  # sources count visits, not events
                visits.add(visit)
                _merge(bucket.sources, {event.source or "(direct)": 1})
            if event.country:
                _merge(bucket.countries, {event.country: 1})
            self.recent.append(recent_event(event))
        self._expire(now)
        return used

    def events_per_s(self, now: float) -> float:
        """Events per second over the last EPS_WINDOW_S seconds."""
        self._expire(now)
        return round(sum(n for _, n in self._seconds) / EPS_WINDOW_S, 2)

    def state(self, now: float, visitors_now: int) -> LiveState:
        """The numbers a tick carries (without the recent events)."""
        self._expire(now)
        live = [b for b in self._buckets if b.start > now - TOP_WINDOW_S - BUCKET_S]
        return LiveState(
            site_id=self.site_id,
            visitors_now=visitors_now,
            events_per_s=self.events_per_s(now),
            top_pages=_top(live, "pages"),
            top_sources=_top(live, "sources"),
            top_countries=_top(live, "countries"),
        )
