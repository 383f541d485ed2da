"""Hourly rollups of the SQLite event store, kept in the same transaction as each append.

Raw scans cost ~4 µs an event here, so a 30-day summary of a site with millions of events cannot come
from the events table in 100 ms. Each append therefore also maintains, per (site, dimension, value,
UTC hour):

- `events`, `pageviews`: exact counts;
- `visitors`: first touches: a visitor counts in the hour it is first seen that UTC day with that value
  (a `rollup_seen` row per (site, UTC day, dimension, value, visitor) decides, exactly, no sketch). A sum
  over whole UTC days is the exact number of distinct (visitor, day) pairs, which is the number of
  distinct visitors because visitor ids rotate with the daily salt (a session crossing midnight keeps
  yesterday's id and can count on both days);
- for the site total only (dimension ""): `visits`, `bounces`, `duration` of sessions attributed to the
  hour their first event falls in (kept exact under late events by `rollup_sessions`, which holds each
  session's first/last ts and pageviews while it may still grow).

Day, week and month timeseries sum the total's hours into local buckets when the timezone keeps
whole-hour offsets over the range; hour and minute timeseries read raw events (first touches per hour
are not the hour's distinct visitors).

Dimensions: the total, `path` (pageviews only: the page breakdown), `source`, `country` and `device`
(each costs ingest time: other breakdowns read raw events). Breakdowns from rollups carry visitors,
pageviews and events; their session metrics (visits, bounce rate, duration) are unknown (None).
Queries whose filters, grouping, sort or range (not whole UTC hours: e.g. a +05:30 timezone's
midnight) the rollups cannot answer read raw events.
`rollup_seen` and `rollup_sessions` rows older than two days are pruned.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from collections import defaultdict
from operator import attrgetter
from typing import Any

from storage.embedded.aggregates import local_to_utc_ms, offset_segments
from storage.embedded.bulk import insert_rows
from storage.ports import Aggregate, EventFilter, Grouping
from storage.records import Event

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
KEEP_MS = 2 * DAY_MS
CALENDAR_UNITS = ("day", "week", "month")
ROLLUP_DIMS = ("path", "source", "country", "device")  # `apply` spells them out, for speed
_CHUNK = 400

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS rollup (site_id TEXT NOT NULL, dim TEXT NOT NULL, value TEXT NOT NULL,"
    " hour INTEGER NOT NULL, events INTEGER NOT NULL DEFAULT 0, pageviews INTEGER NOT NULL DEFAULT 0,"
    " visitors INTEGER NOT NULL DEFAULT 0, visits INTEGER NOT NULL DEFAULT 0,"
    " bounces INTEGER NOT NULL DEFAULT 0, duration INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (site_id, dim, hour, value)) WITHOUT ROWID",
    # key: TouchKeys (64 bits over site, UTC day, dimension, value, visitor); a collision (odds ~n²/2^65
    # among the ~2 days of keys kept) could only hide one first touch.
    "CREATE TABLE IF NOT EXISTS rollup_seen (key INTEGER PRIMARY KEY, site_id TEXT NOT NULL,"
    " day INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS rollup_sessions (site_id TEXT NOT NULL, sk TEXT NOT NULL,"
    " first_ts INTEGER NOT NULL, last_ts INTEGER NOT NULL, pageviews INTEGER NOT NULL,"
    " PRIMARY KEY (site_id, sk)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS ix_rollup_sessions_last ON rollup_sessions (last_ts)",
)
_UPSERT_HEAD = (
    "INSERT INTO rollup (site_id, dim, value, hour, events, pageviews, visitors, visits, bounces, duration)"
)
_UPSERT_TAIL = (
    " ON CONFLICT (site_id, dim, hour, value) DO UPDATE SET"
    " events = events + excluded.events, pageviews = pageviews + excluded.pageviews,"
    " visitors = visitors + excluded.visitors, visits = visits + excluded.visits,"
    " bounces = bounces + excluded.bounces, duration = duration + excluded.duration"
)


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True)


class TouchKeys:
    """Signed 64-bit keys of (site, UTC day, dimension, value, visitor) first touches: a BLAKE2b of
    (site, day, visitor) per event XOR a BLAKE2b of (dimension, value) (cached). Both halves are
    uniform and independent, so two different touches share a key with odds 2^-64."""

    def __init__(self) -> None:
        self.parts: dict[tuple[str, str], int] = {}  # (dimension, value) -> its half, cached

    def base(self, site_id: str, day: int, visitor: str) -> int:
        """The per-event half."""
        return _digest(f"{site_id}\x00{day}\x00{visitor}")

    def part(self, dim: str, value: str) -> int:
        """The (dimension, value) half, computed and cached (the cache is bounded)."""
        if len(self.parts) > 100_000:
            self.parts.clear()
        part = self.parts[(dim, value)] = _digest(f"{dim}\x00{value}")
        return part

    def key(self, base: int, dim: str, value: str) -> int:
        """The key of one touch."""
        part = self.parts.get((dim, value))
        return base ^ (self.part(dim, value) if part is None else part)


def create_schema(conn: sqlite3.Connection) -> None:
    """The rollup tables."""
    for statement in SCHEMA:
        conn.execute(statement)


def _session_counts(first: int, last: int, pageviews: int) -> tuple[int, int, int]:
    """(visits, bounces, duration) one session adds at its first hour."""
    return 1, int(pageviews == 1), last - first


class Folded:
    """A batch's rollup changes worked out in Python, before the write transaction: counts per
    (site, dimension, value, hour), the first touches, and the sessions it touches."""

    __slots__ = ("counts", "newest", "sessions", "touches")

    def __init__(
        self,
        counts: dict[tuple[str, str, str, int], list[int]],
        touches: dict[int, tuple[str, str, str, int]],
        sessions: dict[tuple[str, str], list[int]],
        newest: int,
    ) -> None:
        self.counts = counts  # events, pageviews, visits, bounces, duration, visitors
        self.touches = touches
        self.sessions = sessions
        self.newest = newest


def apply(conn: sqlite3.Connection, events: list[Event], prune: bool, keys: TouchKeys) -> None:
    """Fold newly stored events into the rollups (inside the append's transaction)."""
    if events:
        write(conn, fold(events, keys), prune)


def fold(events: list[Event], keys: TouchKeys) -> Folded:
    """The batch's rollup changes, computed without the database (outside the write lock)."""
    # One pass over the events folds them into groups that share every rolled-up field (a batch mostly
    # repeats its visitor, source and pages), so the per-dimension work below runs per group, not per event.
    groups: dict[tuple[str, int, str, bool, str, str, str, str], int] = {}
    sessions: dict[tuple[str, str], list[int]] = {}
    for event in sorted(events, key=attrgetter("ts")):
        ts, site_id = event.ts, event.site_id
        pageview = event.name == "pageview"
        group_key = (
            site_id,
            ts - ts % HOUR_MS,
            event.visitor_id,
            pageview,
            event.source,
            event.country,
            event.device,
            event.path if pageview else "",
        )
        groups[group_key] = groups.get(group_key, 0) + 1
        key_session = (site_id, event.session_id or f"ev:{event.id}")
        state = sessions.get(key_session)
        if state is None:
            sessions[key_session] = [ts, ts, int(pageview)]
        else:
            state[1] = ts  # ascending: the first ts stays the smallest
            state[2] += pageview
    # counts per (site, dim, value, hour): events, pageviews, visits, bounces, duration, visitors
    counts: dict[tuple[str, str, str, int], list[int]] = {}
    touches: dict[int, tuple[str, str, str, int]] = {}  # the first touch wins: groups are in time order
    bases: dict[tuple[str, int, str], int] = {}
    parts, part_of = keys.parts, keys.part
    for (site_id, hour, visitor, pageview, source, country, device, path), n in groups.items():
        who = (site_id, hour // DAY_MS, visitor)
        base = bases.get(who)
        if base is None:
            base = bases[who] = keys.base(*who)
        dims = [("", ""), ("source", source), ("country", country), ("device", device)]
        if pageview:
            dims.append(("path", path))
        for dim, value in dims:
            group = (site_id, dim, value, hour)
            row = counts.get(group)
            if row is None:
                row = counts[group] = [0, 0, 0, 0, 0, 0]
            row[0] += n
            if pageview:
                row[1] += n
            part = parts.get((dim, value))
            key = base ^ (part_of(dim, value) if part is None else part)
            if key not in touches:
                touches[key] = group
    return Folded(counts, touches, sessions, max(event.ts for event in events))


def write(conn: sqlite3.Connection, folded: Folded, prune: bool) -> None:
    """Apply a folded batch to the rollup tables (inside the append's transaction: the stored session
    states and first touches it reads decide what the batch adds)."""
    counts = folded.counts
    _fold_sessions(conn, folded.sessions, counts)
    known = _known_touches(conn, list(folded.touches))
    fresh = [(key, group) for key, group in folded.touches.items() if key not in known]
    for _, group in fresh:
        counts[group][5] += 1
    insert_rows(
        conn,
        "INSERT INTO rollup_seen (key, site_id, day)",
        [(key, group[0], group[3] // DAY_MS) for key, group in fresh],
    )
    insert_rows(
        conn,
        _UPSERT_HEAD,
        [(*group, v[0], v[1], v[5], v[2], v[3], v[4]) for group, v in counts.items()],
        tail=_UPSERT_TAIL,
    )
    if prune:
        conn.execute("DELETE FROM rollup_seen WHERE day < ?", ((folded.newest - KEEP_MS) // DAY_MS,))
        conn.execute("DELETE FROM rollup_sessions WHERE last_ts < ?", (folded.newest - KEEP_MS,))


def _known_touches(conn: sqlite3.Connection, keys: list[int]) -> set[int]:
    known: set[int] = set()
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        known.update(
            row[0] for row in conn.execute(f"SELECT key FROM rollup_seen WHERE key IN ({marks})", chunk)
        )
    return known


def _fold_sessions(
    conn: sqlite3.Connection,
    sessions: dict[tuple[str, str], list[int]],
    counts: dict[tuple[str, str, str, int], list[int]],
) -> None:
    """Merge the batch's sessions with their stored state and move the total's session counters."""
    by_site: dict[str, list[str]] = defaultdict(list)
    for site_id, sk in sessions:
        by_site[site_id].append(sk)
    known: dict[tuple[str, str], tuple[int, int, int]] = {}
    for site_id, keys in by_site.items():
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for sk, first, last, pageviews in conn.execute(
                "SELECT sk, first_ts, last_ts, pageviews FROM rollup_sessions"
                f" WHERE site_id = ? AND sk IN ({marks})",
                [site_id, *chunk],
            ):
                known[(site_id, sk)] = (first, last, pageviews)
    rows = []
    for key, (first, last, pageviews) in sessions.items():
        old = known.get(key)
        if old is not None:
            old_counts = _session_counts(*old)
            row = counts.setdefault((key[0], "", "", old[0] - old[0] % HOUR_MS), [0] * 6)
            for index, value in enumerate(old_counts):
                row[2 + index] -= value
            first, last, pageviews = min(first, old[0]), max(last, old[1]), pageviews + old[2]
        row = counts.setdefault((key[0], "", "", first - first % HOUR_MS), [0] * 6)
        for index, value in enumerate(_session_counts(first, last, pageviews)):
            row[2 + index] += value
        rows.append((key[0], key[1], first, last, pageviews))
    insert_rows(
        conn,
        "INSERT INTO rollup_sessions (site_id, sk, first_ts, last_ts, pageviews)",
        rows,
        tail=" ON CONFLICT (site_id, sk) DO UPDATE SET first_ts = excluded.first_ts,"
        " last_ts = excluded.last_ts, pageviews = excluded.pageviews",
    )


def rollup_dim(flt: EventFilter, grouping: Grouping) -> str | None:
    """The rollup dimension that answers this query exactly as documented, or None (read raw events)."""
    if flt.props or flt.traits or flt.path_prefix or flt.start % HOUR_MS or flt.end % HOUR_MS:
        return None
    if grouping.kind == "total" and not flt.equals:
        return ""
    if grouping.kind == "time" and grouping.unit in CALENDAR_UNITS and not flt.equals:
        # day/week/month buckets from hours: the zone must keep whole-hour offsets over the range
        whole = all(offset % HOUR_MS == 0 for _, offset in offset_segments(grouping.tz, flt.start, flt.end))
        return "" if whole else None
    if grouping.kind != "field":
        return None
    if grouping.field == "path" and flt.equals == {"name": "pageview"}:
        return "path"
    if grouping.field in ROLLUP_DIMS and grouping.field != "path" and not flt.equals:
        return grouping.field
    return None


def events_in(conn: sqlite3.Connection, flt: EventFilter) -> int:
    """How many events of the site fall in the (hour-aligned) range, from the rollups."""
    row = conn.execute(
        "SELECT COALESCE(SUM(events), 0) FROM rollup"
        " WHERE site_id = ? AND dim = '' AND hour >= ? AND hour < ?",
        (flt.site_id, flt.start, flt.end),
    ).fetchone()
    return int(row[0])


def query(conn: sqlite3.Connection, flt: EventFilter, dim: str, sort: str, limit: int) -> list[Aggregate]:
    """Aggregates from the rollups for the total (dim "") or one dimension."""
    params: list[Any] = [flt.site_id, dim, flt.start, flt.end]
    sums = "SUM(visitors), SUM(visits), SUM(pageviews), SUM(events), SUM(bounces), SUM(duration)"
    where = "WHERE site_id = ? AND dim = ? AND hour >= ? AND hour < ?"
    if dim == "":
        row = conn.execute(f"SELECT {sums}, MIN(hour), MAX(hour) FROM rollup {where}", params).fetchone()
        if not row[3]:
            return []
        return [_aggregate(None, row)]
    order = "SUM(visitors)" if sort == "visitors" else f"SUM({sort})"
    sql = f"SELECT value, {sums}, MIN(hour), MAX(hour) FROM rollup {where} GROUP BY value"
    sql += f" HAVING SUM(events) > 0 ORDER BY {order} DESC, value ASC"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return [_aggregate(row[0], row[1:], sessions=False) for row in conn.execute(sql, params)]


def time_query(conn: sqlite3.Connection, flt: EventFilter, grouping: Grouping) -> list[Aggregate]:
    """Day, week or month buckets (local, in grouping.tz) summed from the total's hourly rows."""
    segments = offset_segments(grouping.tz, flt.start, flt.end)
    sums: dict[int, list[int]] = {}
    for hour, *values in conn.execute(
        "SELECT hour, visitors, visits, pageviews, events, bounces, duration FROM rollup"
        " WHERE site_id = ? AND dim = '' AND hour >= ? AND hour < ? ORDER BY hour",
        (flt.site_id, flt.start, flt.end),
    ):
        offset = next(offset for until, offset in segments if hour < until)
        local = hour + offset
        days = local // DAY_MS
        if grouping.unit == "day":
            start = days * DAY_MS
        elif grouping.unit == "week":
            start = (days - (days + 3) % 7) * DAY_MS  # 1970-01-01 was a Thursday
        else:
            day = dt.date(1970, 1, 1) + dt.timedelta(days=days)
            start = (day.replace(day=1) - dt.date(1970, 1, 1)).days * DAY_MS
        bucket = sums.setdefault(start, [0, 0, 0, 0, 0, 0, hour, hour])
        for index, value in enumerate(values):
            bucket[index] += value
        bucket[7] = hour
    return [
        _aggregate(local_to_utc_ms(start, grouping.tz), tuple(bucket))  # type: ignore[arg-type]
        for start, bucket in sorted(sums.items())
        if bucket[3]
    ]


def _aggregate(key: str | int | None, row: tuple[Any, ...], *, sessions: bool = True) -> Aggregate:
    visitors, visits, pageviews, events, bounces, duration, first_hour, last_hour = row
    return Aggregate(
        key=key,
        visitors=int(visitors),
        visits=int(visits) if sessions else -1,
        pageviews=int(pageviews),
        events=int(events),
        bounces=int(bounces) if sessions else -1,
        duration_ms=int(duration) if sessions else -1,
        first_ts=int(first_hour),
        last_ts=int(last_hour) + HOUR_MS - 1,
    )
