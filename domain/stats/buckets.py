"""Time buckets of a timeseries in a timezone, and the metrics of one group of events.

Bucket starts are UTC instants: minute and hour buckets start where the local minute/hour starts (the
repeated hour of a DST fall-back is two buckets); day, week (Monday) and month buckets start at local
midnight, so a DST day holds 23 or 25 hours. These match what the stores return as group keys.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from domain.stats.answers import BreakdownRow
from storage.ports import Aggregate

_UNIT_MS = {"minute": 60_000, "hour": 3_600_000}


def _offset_ms(ms: int, tz: ZoneInfo) -> int:
    offset = dt.datetime.fromtimestamp(ms / 1000, tz=tz).utcoffset()
    return int(offset.total_seconds() * 1000) if offset is not None else 0


def _midnight(day: dt.date, tz: ZoneInfo) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=tz).timestamp() * 1000)


def bucket_starts(start: int, end: int, unit: str, tz_name: str) -> list[int]:
    """Every bucket start (UTC ms) of `unit` in `tz` that overlaps [start, end)."""
    tz = ZoneInfo(tz_name)
    if unit in _UNIT_MS:
        size = _UNIT_MS[unit]
        starts = []
        at = start - ((start + _offset_ms(start, tz)) % size)
        while at < end:
            starts.append(at)
            # Step to the next local boundary (an offset change inside a step moves the boundary).
            nxt = at + size
            at = nxt - ((nxt + _offset_ms(nxt, tz)) % size)
            if at <= starts[-1]:
                at = nxt
        return starts
    day = dt.datetime.fromtimestamp(start / 1000, tz=tz).date()
    if unit == "week":
        day -= dt.timedelta(days=day.weekday())
    elif unit == "month":
        day = day.replace(day=1)
    starts = []
    while (at := _midnight(day, tz)) < end:
        starts.append(at)
        if unit == "day":
            day += dt.timedelta(days=1)
        elif unit == "week":
            day += dt.timedelta(days=7)
        else:
            day = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return starts


def bucket_label(ms: int, unit: str, tz_name: str) -> str:
    """The bucket's local start: a date for day/week/month, a timestamp with offset otherwise."""
    moment = dt.datetime.fromtimestamp(ms / 1000, tz=ZoneInfo(tz_name))
    if unit in _UNIT_MS:
        return moment.isoformat(timespec="seconds")
    return moment.date().isoformat()


def metrics_of(agg: Aggregate | None) -> BreakdownRow:
    """The public metrics of one group, its key as `value`: counts, bounce rate (%), mean visit duration
    (s), views/visit (session metrics are None where the store could not know them)."""
    if agg is not None and agg.visits < 0:  # a rollup breakdown: session metrics unknown
        return BreakdownRow(value=agg.key, visitors=agg.visitors, visits=None, pageviews=agg.pageviews,
                            events=agg.events, bounce_rate=None, visit_duration=None,
                            views_per_visit=None)  # fmt: skip
    if agg is None or agg.visits == 0:
        return BreakdownRow(
            value=agg.key if agg else None,
            visitors=agg.visitors if agg else 0,
            visits=0,
            pageviews=agg.pageviews if agg else 0,
            events=agg.events if agg else 0,
            bounce_rate=0.0,
            visit_duration=0.0,
            views_per_visit=0.0,
        )
    return BreakdownRow(
        value=agg.key,
        visitors=agg.visitors,
        visits=agg.visits,
        pageviews=agg.pageviews,
        events=agg.events,
        bounce_rate=round(agg.bounces * 100 / agg.visits, 2),
        visit_duration=round(agg.duration_ms / agg.visits / 1000, 1),
        views_per_visit=round(agg.pageviews / agg.visits, 2),
    )
