"""SQL for `EventStore.aggregate` and `identity_days` on the SQLite events table.

SQLite knows no timezones, so the UTC offsets a timezone uses inside the queried range are found in Python
(`offset_segments`: a handful of pieces, one per DST change) and become a CASE expression; local time is
then `ts + offset`. Minute and hour buckets start at the UTC instant of the local bucket start (so the
repeated hour of a DST fall-back stays two buckets, as MongoDB's `$dateTrunc` does); day, week and month
buckets are local calendar dates, turned back into the UTC instant of their local midnight afterwards.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from storage.event_filter_sql import check_key_name, event_where
from storage.ports import AGGREGATE_SORTS, GROUP_FIELDS, Aggregate, EventFilter, Grouping

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


def offset_sql(tz: str, start: int, end: int) -> tuple[str, list[Any]]:
    """A SQL expression for the UTC offset (ms) of `ts` in `tz`, valid for start <= ts < end."""
    segments = offset_segments(tz, start, end)
    if len(segments) == 1:
        return "?", [segments[0][1]]
    parts, params = [], []
    for until, offset in segments[:-1]:
        parts.append("WHEN ts < ? THEN ?")
        params.extend((until, offset))
    params.append(segments[-1][1])
    return f"(CASE {' '.join(parts)} ELSE ? END)", params


def local_to_utc_ms(local_ms: int, tz: str) -> int:
    """The UTC instant (ms) of a local wall-clock time given as ms since the local epoch."""
    naive = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=local_ms)
    return int(naive.replace(tzinfo=ZoneInfo(tz)).timestamp() * 1000)


def _group_sql(flt: EventFilter, grouping: Grouping) -> tuple[str, list[Any]]:
    """The expression computing the group key `g` of one event row."""
    if grouping.kind == "total":
        return "0", []
    if grouping.kind == "field":
        if grouping.field not in GROUP_FIELDS:
            raise ValueError(f"cannot group by {grouping.field!r}")
        return grouping.field, []
    if grouping.kind == "prop":
        path = f'$."{check_key_name(grouping.field)}"'
        return (
            "(CASE json_type(props, ?) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false'"
            " ELSE CAST(json_extract(props, ?) AS TEXT) END)",
            [path, path],
        )
    if grouping.kind == "time":
        offset, params = offset_sql(grouping.tz, flt.start, flt.end)
        if grouping.unit in _UNIT_MS:
            size = _UNIT_MS[grouping.unit]
            return f"(ts - ((ts + {offset}) % {size}))", params
        local = f"(ts + {offset})"
        if grouping.unit == "day":
            return f"({local} - ({local} % {_DAY_MS}))", params * 2
        if grouping.unit == "week":
            # Day number since 1970-01-01 (a Thursday); +3 mod 7 counts days since Monday.
            days = f"({local} / {_DAY_MS})"
            return f"(({days} - (({days} + 3) % 7)) * {_DAY_MS})", params * 2
        if grouping.unit == "month":
            return (
                f"(CAST(strftime('%s', {local} / 1000, 'unixepoch', 'start of month') AS INTEGER) * 1000)",
                params,
            )
        raise ValueError(f"unknown time unit {grouping.unit!r}")
    raise ValueError(f"unknown grouping {grouping.kind!r}")


_SESSION_KEY = "(CASE WHEN session_id = '' THEN 'ev:' || id ELSE session_id END)"


def aggregate_sql(flt: EventFilter, grouping: Grouping, sort: str, limit: int) -> tuple[str, list[Any]]:
    """The whole aggregate query and its parameters."""
    if sort not in AGGREGATE_SORTS:
        raise ValueError(f"cannot sort by {sort!r}")
    where, params = event_where(flt)
    base = f"SELECT ts, id, name, path, visitor_id, {_SESSION_KEY} AS sk FROM events{where}"
    if grouping.kind in ("entry_page", "exit_page"):
        order = "ts, id" if grouping.kind == "entry_page" else "ts DESC, id DESC"
        grouped = (
            f"e AS ({base}),"
            " firsts AS (SELECT sk, path AS g FROM (SELECT sk, path,"
            f" ROW_NUMBER() OVER (PARTITION BY sk ORDER BY {order}) AS rn FROM e WHERE name = 'pageview')"
            " WHERE rn = 1),"
            " eg AS (SELECT e.*, firsts.g FROM e JOIN firsts USING (sk))"
        )
        group_params: list[Any] = []
    else:
        expr, group_params = _group_sql(flt, grouping)
        base = f"SELECT ts, id, name, visitor_id, {_SESSION_KEY} AS sk, {expr} AS g FROM events{where}"
        grouped = f"eg AS (SELECT * FROM ({base}) WHERE g IS NOT NULL)"
        params = [*group_params, *params]
        group_params = []
    sql = (
        f"WITH {grouped},"
        " s AS (SELECT g, sk, COUNT(*) AS n, SUM(name = 'pageview') AS pv, MIN(ts) AS lo, MAX(ts) AS hi"
        " FROM eg GROUP BY g, sk),"
        " sg AS (SELECT g, COUNT(*) AS visits, SUM(n) AS events, SUM(pv) AS pageviews,"
        " SUM(pv = 1) AS bounces, SUM(hi - lo) AS duration, MIN(lo) AS lo, MAX(hi) AS hi FROM s GROUP BY g),"
        " vg AS (SELECT g, COUNT(DISTINCT visitor_id) AS visitors FROM eg GROUP BY g)"
        " SELECT sg.g, vg.visitors, sg.visits, sg.pageviews, sg.events, sg.bounces, sg.duration, sg.lo, sg.hi"
        " FROM sg JOIN vg ON vg.g = sg.g"
    )
    if grouping.kind == "time":
        sql += " ORDER BY sg.g"
    else:
        sql += f" ORDER BY {sort} DESC, sg.g ASC"
        if limit:
            sql += f" LIMIT {int(limit)}"
    return sql, [*params, *group_params]


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


def identity_days_sql(flt: EventFilter, tz: str) -> tuple[str, list[Any]]:
    """Distinct (identity, local date) pairs."""
    where, params = event_where(flt)
    offset, offset_params = offset_sql(tz, flt.start, flt.end)
    sql = (
        "SELECT DISTINCT (CASE WHEN user_id != '' THEN 'u:' || user_id ELSE 'v:' || visitor_id END) AS who,"
        f" date((ts + {offset}) / 1000, 'unixepoch') AS day FROM events{where} ORDER BY who, day"
    )
    return sql, [*offset_params, *params]
