"""Timezone offsets and aggregate rows shared by the embedded engine's queries.

The UTC offsets a timezone uses inside a queried range are found in Python (`offset_segments`: a handful
of pieces, one per DST change) and become a CASE expression in SQL; local time is then `ts + offset`.
Minute and hour buckets start at the UTC instant of the local bucket start (so the repeated hour of a DST
fall-back stays two buckets, as MongoDB's `$dateTrunc` does); day, week and month buckets are local
calendar dates, turned back into the UTC instant of their local midnight by `rows_to_aggregates`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from storage.ports import Aggregate, Grouping

_STEP_MS = 6 * 3600 * 1000  # DST changes are further apart than this everywhere
_UNIT_MS = {"minute": 60_000, "hour": 3_600_000}
_DAY_MS = 86_400_000


def _offset_ms(zone: ZoneInfo, ms: int) -> int:
    offset = dt.datetime.fromtimestamp(ms / 1000, tz=zone).utcoffset()
    return int(offset.total_seconds() * 1000) if offset is not None else 0


def offset_segments(tz: str, start: int, end: int) -> list[tuple[int, int]]:
    """[(until_ms, offset_ms), ...]: the offset of `tz` holds for ts < until (the last piece has no end,
    given as until = end). Changes are located to the millisecond by bisection."""
    zone = ZoneInfo(tz)
    start = max(start, -62_000_000_000_000)
    end = min(max(end, start + 1), 250_000_000_000_000)
    segments: list[tuple[int, int]] = []
    current = _offset_ms(zone, start)
    at = start
    while at < end:
        nxt = min(at + _STEP_MS, end)
        if _offset_ms(zone, nxt) != current:
            lo, hi = at, nxt  # offset(lo) == current != offset(hi)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset_ms(zone, mid) == current:
                    lo = mid
                else:
                    hi = mid
            segments.append((hi, current))
            current = _offset_ms(zone, hi)
            at = hi
        else:
            at = nxt
    segments.append((end, current))
    return segments


def local_to_utc_ms(local_ms: int, tz: str) -> int:
    """The UTC instant (ms) of a local wall-clock time given as ms since the local epoch."""
    naive = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=local_ms)
    return int(naive.replace(tzinfo=ZoneInfo(tz)).timestamp() * 1000)


def rows_to_aggregates(rows: list[tuple[Any, ...]], grouping: Grouping) -> list[Aggregate]:
    """Aggregate records from the query's rows (local calendar keys become UTC instants)."""
    out = []
    local_keys = grouping.kind == "time" and grouping.unit not in _UNIT_MS
    for g, visitors, visits, pageviews, events, bounces, duration, lo, hi in rows:
        if grouping.kind == "total":
            key: str | int | None = None
        elif grouping.kind == "time":
            key = local_to_utc_ms(int(g), grouping.tz) if local_keys else int(g)
        else:
            key = str(g)
        out.append(
            Aggregate(
                key=key,
                visitors=int(visitors),
                visits=int(visits),
                pageviews=int(pageviews or 0),
                events=int(events),
                bounces=int(bounces or 0),
                duration_ms=int(duration or 0),
                first_ts=int(lo),
                last_ts=int(hi),
            )
        )
    return out
