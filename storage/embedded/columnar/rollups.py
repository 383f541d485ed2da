"""Exact pre-aggregates of sealed local days ("rollups"), built by the compactor off the ingest path.

Why they are exact: every metric of `EventStore.aggregate` is a sum over visitors (distinct `vh`) and over
visits (groups of `sh`) of the events in a range. Call a visitor or visit *contained* in a local day when
every event it has (in the whole store) lies inside that day, and close the set under sharing: an event
whose visitor or session is not contained makes the other one not contained either. Contained visitors and
visits of different days are then disjoint, so their metrics add up across days exactly; everything else
(the *rest*: events of visitors or visits that cross a day, rare since visitor ids rotate daily) is kept as
a copy of its events and scanned with the range's partial days (the *edges*). For a range made of whole
rolled days D plus edges E:

    answer = sum over D of the rollup rows  (+)  scan(events of E, and rest events of D)

combined per group by adding the counts and taking min/max of first/last ts. A visit's attributes (source,
country, ...) are its first event's and entry/exit pages its first/last pageview's: for a contained visit
they do not depend on the range.

What is rolled, per (site, timezone): rows per (local day, kind, name, group) for `total` and `hour` (the
time series: day/week/month buckets are sums of days, an hour lies in one day), for every group field,
entry/exit page and every prop key, for every directory prefix of the path (`/blog/`, `/blog/2026/`: a
`page==/blog/*` filter), the pageviews by path (the page breakdown) and, per value of one PAIR_FIELDS
field (country, device, browser, os, source), the pageviews by path and the events by every other group
field: a breakdown with one equality filter on such a field is a sum of rows too, as every count of it is
still over visitors and visits of the filtered events. Every site is rolled in UTC; another timezone once
a time series was asked in it (a *want* file, see `want`; at most MAX_ZONES per site), with every kind
too, so that the dashboard's questions in the site's timezone (a filtered day series included) are sums
of that zone's local days.

When a day is sealed: its end is SEAL_LAG_MS in the past. Live events are at most a day old when they
arrive (domain/ingest/decode.py) and visitor ids rotate with the UTC day, so no event arriving later shares a
visitor or visit with a sealed day. Anything else (an import, a bulk load, a late event older than the newest
rolled day) drops the site's rollups in the same manifest change that publishes it, and they are built again;
a query whose uncompacted tail holds such an event does not use them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storage.embedded.aggregates import local_to_utc_ms
from storage.embedded.columnar.sql import DAY_MS, VISIT_FIELDS, offset_expr
from storage.ports import AGGREGATE_SORTS, GROUP_FIELDS, EventFilter, Grouping

HOUR_MS = 3_600_000
SEAL_LAG_MS = 26 * HOUR_MS
UTC = "UTC"
# Days rolled per statement batch (bounds the memory of one batch) and per pass (bounds a pass's time).
BATCH_DAYS = 8
PASS_DAYS = 400
# A (site, timezone) with more rollup files than this has them concatenated into one.
MAX_FILES = 4
WANTS_DIR = "wants"
WANT_TTL_S = 30 * 86400
# Timezones other than UTC rolled per site (the most recently asked): each costs a full rollup.
MAX_ZONES = 3
# Directory prefixes rolled per path: `/a/`, `/a/b/` and `/a/b/c/` for `/a/b/c/d`; deeper ones scan.
PREFIX_DEPTH = 3
TIME_KINDS = ("total", "hour")
ROLLED_UNITS = ("hour", "day", "week", "month")
# What a full rollup holds: 1 = every group field, entry/exit page, props, one-filter rows; 2 adds the
# page breakdown rows (pageviews by path, alone and with one equality filter on a PAIR_FIELDS field) and
# the breakdowns by every group field with one equality filter on a PAIR_FIELDS field; 3 adds the path
# prefix rows, and zones other than UTC are rolled with every kind (older ones had the time kinds only).
VERSION = 3
# Fields whose one equality filter on a breakdown by a field (pages included) is answered from rows.
PAIR_FIELDS = ("browser", "country", "device", "os", "source")
# The group fields of those rows: every one but path, whose rows are many and whose dashboard
# breakdown (pageviews only) has its own `pages` rows.
PAIR_GROUPS = tuple(sorted(GROUP_FIELDS - {"path"}))
ROLLUP_COLUMNS = (
    "dn, kind, name, g_text, g_int, visitors, visits, pageviews, events, bounces, duration, lo, hi"
)


@dataclass
class Rollup:
    """One rollup file of a (site, timezone): its rows, the rest events' file, the local days it covers
    (as day numbers: local date minus 1970-01-01), whether it has every kind or the time ones only, and
    which kinds a full one holds (VERSION; files written before versions have 1). `people` names the file
    of the days' distinct (day, person) rows ("" when not built yet: older manifests) and `people_key`
    the DuckDB hash fingerprint its person numbers were made with (people_rows.py)."""

    site: str
    tz: str
    file: str
    rest: str
    days: list[int]
    full: bool
    version: int = VERSION
    people: str = ""
    people_key: int = 0

    def names(self) -> list[str]:
        """Every file of this rollup."""
        return [self.file, self.rest, *([self.people] if self.people else [])]

    def to_json(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "tz": self.tz,
            "file": self.file,
            "rest": self.rest,
            "days": self.days,
            "full": self.full,
            "version": self.version,
            "people": self.people,
            "people_key": self.people_key,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Rollup:
        return cls(
            str(raw["site"]),
            str(raw["tz"]),
            str(raw["file"]),
            str(raw["rest"]),
            [int(d) for d in raw["days"]],
            bool(raw["full"]),
            int(raw.get("version", 1)),
            str(raw.get("people", "")),
            int(raw.get("people_key", 0)),
        )


def day_start(dn: int, tz: str) -> int:
    """The UTC instant (ms) where local day number `dn` begins in `tz`."""
    return local_to_utc_ms(dn * DAY_MS, tz)


def day_number(ms: int, tz: str) -> int:
    """The local day number of an instant in `tz`."""
    return (dt.datetime.fromtimestamp(ms / 1000, dt.UTC).astimezone(_zone(tz)).date() - _EPOCH).days


_EPOCH = dt.date(1970, 1, 1)


def _zone(tz: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(tz)


def horizon(rollups: list[Rollup], site: str) -> int | None:
    """The end (UTC ms) of the site's newest rolled day, or None when the site has no rollup: an event
    older than this invalidates the site's rollups."""
    ends = [day_start(max(r.days) + 1, r.tz) for r in rollups if r.site == site and r.days]
    return max(ends) if ends else None


# ---- wants: which timezones a site's time series are asked in ---------------------------------------


def _want_path(directory: Path, site: str, tz: str) -> Path:
    digest = hashlib.sha256(f"{site}\x00{tz}".encode()).hexdigest()[:32]
    return directory / WANTS_DIR / f"{digest}.want"


def want(directory: Path, site: str, tz: str) -> None:
    """Ask the compactor to roll the site's time series in `tz` (an atomic small file; touched again by
    each ask so that wants nobody repeats expire)."""
    target = _want_path(directory, site, tz)
    try:
        target.parent.mkdir(mode=0o700, exist_ok=True)
        if target.exists():
            os.utime(target)
            return
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        temporary.write_text(f"{site}\n{tz}\n")
        os.replace(temporary, target)
    except OSError:
        return  # best effort: the question is answered by a scan all the same


def wanted(directory: Path) -> list[tuple[str, str]]:
    """(site, tz) pairs asked for within WANT_TTL_S, the MAX_ZONES most recently asked of each site (a
    caller asking in many zones cannot make the compactor roll a site up in all of them); older wants
    are deleted."""
    folder = directory / WANTS_DIR
    if not folder.is_dir():
        return []
    now = time.time()
    asked: list[tuple[float, str, str]] = []
    for entry in folder.glob("*.want"):
        try:
            touched = entry.stat().st_mtime
            if now - touched > WANT_TTL_S:
                entry.unlink()
                continue
            site, tz = entry.read_text().split("\n")[:2]
            _zone(tz)  # a name the zone database knows, or skip it
        except (OSError, ValueError, KeyError):
            continue
        asked.append((touched, site, tz))
    out: list[tuple[str, str]] = []
    per_site: dict[str, int] = {}
    for _, site, tz in sorted(asked, key=lambda a: (-a[0], a[1], a[2])):
        if tz != UTC and per_site.get(site, 0) >= MAX_ZONES:
            continue
        per_site[site] = per_site.get(site, 0) + (tz != UTC)
        out.append((site, tz))
    return sorted(out)


# ---- the query side -----------------------------------------------------------------------------------


@dataclass
class Plan:
    """How one question uses rollups: the days taken from `rollups`, the edges to scan."""

    rollups: list[Rollup]
    days: list[int]
    tz: str
    # [start, end) intervals of the range covered by the rolled days (merged when adjacent)
    covered: list[tuple[int, int]] = field(default_factory=list)
    # the one filter answered from rollup rows (see `one_filter`), if any
    filtered: tuple[str, str, str] | None = None
    # the (kind, name) of the rows answering a page breakdown (see `page_rows`), if any
    rows: tuple[str, str] | None = None


def is_plain(flt: EventFilter) -> bool:
    """Whether the question has no filter at all (besides its site and range)."""
    return not (flt.equals or flt.props or flt.traits or flt.path_prefix or flt.conditions)


def one_filter(flt: EventFilter) -> tuple[str, str, str] | None:
    """(kind, name, value) of the rollup rows that answer a question filtered by exactly one equality on
    a group field or a prop, or None. A field's rows group events by their own value, which is what the
    filter selects; visit fields group by the visit's first value there, so they have `filter` rows.
    Conditions (negations, contains, several values) are never answered from rollups: a scan does.
    A path prefix alone is answered from `prefix` rows when it is a rolled directory prefix."""
    if flt.path_prefix and not (flt.equals or flt.props or flt.traits or flt.conditions):
        return ("prefix", "path", flt.path_prefix) if rolled_prefix(flt.path_prefix) else None
    if flt.traits or flt.path_prefix or flt.conditions:
        return None
    items = [("field", f, v) for f, v in flt.equals.items()] + [("prop", n, v) for n, v in flt.props.items()]
    if len(items) != 1:
        return None
    kind, name, value = items[0]
    if kind == "field" and name not in GROUP_FIELDS:
        return None
    if kind == "field" and name in VISIT_FIELDS:
        kind = "filter"
    return kind, name, value


def rolled_prefix(prefix: str) -> bool:
    """Whether `prefix` is one the rollups' `prefix` rows hold: a directory (`/blog/`) at most
    PREFIX_DEPTH deep, not the root (every path starts with `/`: that is no filter to roll)."""
    return prefix.startswith("/") and prefix.endswith("/") and 2 <= prefix.count("/") <= PREFIX_DEPTH + 1


def prefixes_sql(column: str) -> str:
    """The SQL list of the directory prefixes of a path (`/a/b/c` -> ['/a/', '/a/b/']), PREFIX_DEPTH at
    most: the prefixes `rolled_prefix` accepts that the path starts with. Joining the split parts with
    `/` gives back the path's own text, so doubled slashes and any other characters stay exact."""
    parts = f"string_split({column}, '/')"
    return (
        f"CASE WHEN starts_with({column}, '/') THEN list_transform("
        f"range(2, least(len({parts}), {2 + PREFIX_DEPTH})),"
        f" lambda i: '/' || array_to_string({parts}[2:i], '/') || '/') END"
    )


def page_rows(flt: EventFilter, grouping: Grouping) -> tuple[str, str] | None:
    """(kind, name) of the rollup rows answering a breakdown by path of pageviews (the dashboard's page
    breakdown: the filter `name == pageview`) with at most one more equality, on a PAIR_FIELDS field;
    None for any other question. The rows count pageview events by their own path, and visits and
    visitors among those events only, which is what the scan does with that filter."""
    if grouping.kind != "field" or grouping.field != "path" or flt.equals.get("name") != "pageview":
        return None
    if flt.props or flt.traits or flt.path_prefix or flt.conditions:
        return None
    others = [(f, v) for f, v in flt.equals.items() if f != "name"]
    if not others:
        return "pages", "path"
    if len(others) == 1 and others[0][0] in PAIR_FIELDS:
        return "pages", f"path|{others[0][0]}={others[0][1]}"
    return None


def pair_rows(flt: EventFilter, grouping: Grouping) -> tuple[str, str] | None:
    """(kind, name) of the rollup rows answering a breakdown by a group field with exactly one equality
    filter, on a PAIR_FIELDS field; None for any other question. The rows count the events whose own
    value of the filter field is the filter's (as the scan selects them), visits and visitors among
    those events only, a visit under its first such event's value for visit fields."""
    if grouping.kind != "field" or grouping.field not in PAIR_GROUPS:
        return None
    if flt.props or flt.traits or flt.path_prefix or flt.conditions or len(flt.equals) != 1:
        return None
    field, value = next(iter(flt.equals.items()))
    return ("pair", f"{grouping.field}|{field}={value}") if field in PAIR_FIELDS else None


def plan(rollups: list[Rollup], flt: EventFilter, grouping: Grouping, tail_min_ts: int | None) -> Plan | None:
    """The rollup plan for a question, or None when it must be a plain scan: several filters (or one
    with a breakdown or an hourly series), a minute series, a time series in a timezone not rolled, no
    whole rolled day in the range, or an uncompacted event older than the rolled days (the compactor
    will drop them)."""
    kind = grouping.kind
    if kind == "time" and grouping.unit not in ROLLED_UNITS:
        return None
    filtered = None
    paged = page_rows(flt, grouping) or pair_rows(flt, grouping)
    if paged is None and not is_plain(flt):
        # One filter: summaries and day/week/month series, from full rollups' rows.
        filtered = one_filter(flt)
        if filtered is None or kind not in ("total", "time") or grouping.unit == "hour":
            return None
    # Page, pair and prefix rows are in full rollups of the current VERSION only (older ones are built
    # again by the compactor).
    current = paged is not None or (filtered is not None and filtered[0] == "prefix")
    mine = [r for r in rollups if r.site == flt.site_id and (r.version >= VERSION or not current)]
    if paged is not None:
        candidates = {r.tz for r in mine if r.full}
    elif filtered is not None:
        candidates = {r.tz for r in mine if r.full and (kind == "total" or r.tz == grouping.tz)}
    elif kind == "time":
        candidates = {grouping.tz} if any(r.tz == grouping.tz for r in mine) else set()
    else:
        candidates = {r.tz for r in mine if r.full}
    end_of_rolled = horizon(rollups, flt.site_id)
    if tail_min_ts is not None and end_of_rolled is not None and tail_min_ts < end_of_rolled:
        return None
    best: Plan | None = None
    for tz in sorted(candidates):
        chosen = [r for r in mine if r.tz == tz and (r.full or (kind == "time" and filtered is None))]
        days = sorted({d for r in chosen for d in r.days})
        used = [d for d in days if day_start(d, tz) >= flt.start and day_start(d + 1, tz) <= flt.end]
        if not used or (best is not None and len(used) <= len(best.days)):
            continue
        covered: list[tuple[int, int]] = []
        for d in used:
            lo, hi = day_start(d, tz), day_start(d + 1, tz)
            if covered and covered[-1][1] == lo:
                covered[-1] = (covered[-1][0], hi)
            else:
                covered.append((lo, hi))
        best = Plan([r for r in chosen if set(r.days) & set(used)], used, tz, covered, filtered, paged)
    return best


def edges_where(flt: EventFilter, covered: list[tuple[int, int]]) -> tuple[str, list[Any]]:
    """The site-and-time condition of the range minus the rolled days."""
    clauses = ["site_id = ? AND ts >= ? AND ts < ?"]
    params: list[Any] = [flt.site_id, flt.start, flt.end]
    for lo, hi in covered:
        clauses.append("NOT (ts >= ? AND ts < ?)")
        params.extend([lo, hi])
    return " AND ".join(clauses), params


def rolled_query(plan_: Plan, directory: Path, flt: EventFilter, grouping: Grouping) -> tuple[str, list[Any]]:
    """The statement summing the rollup rows of the plan's days for the grouping: rows of (g, visitors,
    visits, pageviews, events, bounces, duration, lo, hi) with `g` the key the scan gives (for
    day/week/month series, the local bucket of the row's day: see `bucket_sql`)."""
    files = "[" + ", ".join(f"'{directory / r.file}'" for r in plan_.rollups) + "]"
    days = ", ".join(str(int(d)) for d in plan_.days)
    metrics = (
        "sum(visitors), sum(visits), sum(pageviews), sum(events), sum(bounces), sum(duration),"
        " min(lo), max(hi)"
    )
    if plan_.filtered is not None:
        kind, name, value = plan_.filtered
        g = bucket_sql(grouping.unit) if grouping.kind == "time" else "0::BIGINT"
        sql = (
            f"SELECT {g} AS g, {metrics} FROM read_parquet({files})"
            f" WHERE dn IN ({days}) AND kind = ? AND name = ? AND g_text = ? GROUP BY g"
        )
        return sql, [kind, name, value]
    kind, name = plan_.rows or _kind_name(grouping)
    g = "g_int" if kind in ("hour", "total") else "g_text"
    if kind == "total" and grouping.kind == "time":
        g = bucket_sql(grouping.unit)
    sql = (
        f"SELECT {g} AS g, {metrics} FROM read_parquet({files}) WHERE dn IN ({days}) AND kind = ?"
        " AND name = ? GROUP BY g"
    )
    return sql, [kind, name]


def _kind_name(grouping: Grouping) -> tuple[str, str]:
    if grouping.kind == "total":
        return "total", ""
    if grouping.kind == "time":
        return ("hour", "") if grouping.unit == "hour" else ("total", "")
    if grouping.kind in ("entry_page", "exit_page"):
        return grouping.kind, ""
    return grouping.kind, grouping.field  # field or prop


def bucket_sql(unit: str) -> str:
    """The local bucket key (local ms, as the scan's SQL gives it) of a rollup row's local day `dn`."""
    day = f"(dn::BIGINT * {DAY_MS})"
    if unit == "day":
        return day
    if unit == "week":  # 1970-01-01 was a Thursday: +3 mod 7 counts days since Monday
        return f"((dn::BIGINT - (dn::BIGINT + 3) % 7) * {DAY_MS})"
    if unit == "month":
        return f"epoch_ms(date_trunc('month', epoch_ms({day})))"
    raise ValueError(f"no rolled time unit {unit!r}")


def rest_part(plan_: Plan, directory: Path, columns: str) -> str:
    """The SELECT of the rest events of the plan's days (for the union that defines `ev`)."""
    files = "[" + ", ".join(f"'{directory / r.rest}'" for r in plan_.rollups) + "]"
    days = ", ".join(str(int(d)) for d in plan_.days)
    return f"SELECT {columns}, vh, sh FROM read_parquet({files}) WHERE dn IN ({days})"


def merged_sql(scanned: str, rolled: str, grouping: Grouping, sort: str, limit: int) -> str:
    """One statement adding up the rows of the same group from the scan's statement (`aggregate_sql`
    unordered) and the rollups' (`rolled_query`), ordered and cut as `aggregate_sql` does: one DuckDB
    statement per question, and only the first `limit` groups come back to Python."""
    columns = "g, visitors, visits, pageviews, events, bounces, duration, lo, hi"
    sql = (
        "SELECT g, sum(visitors) AS visitors, sum(visits) AS visits, sum(pageviews) AS pageviews,"
        " sum(events) AS events, sum(bounces), sum(duration), min(lo), max(hi)"
        f" FROM (SELECT * FROM ({scanned}) UNION ALL SELECT * FROM ({rolled})) AS u({columns})"
        " GROUP BY g"
    )
    if grouping.kind in ("time", "total"):
        return sql + " ORDER BY g"
    if sort not in AGGREGATE_SORTS:
        raise ValueError(f"cannot sort by {sort!r}")
    sql += f" ORDER BY {sort} DESC, g ASC"
    return sql + (f" LIMIT {int(limit)}" if limit else "")


# ---- the build side (in the compactor, under its lock) -------------------------------------------------


def kinds_for(full: bool) -> list[tuple[str, str]]:
    """(kind, name) pairs a rollup holds; props are rolled as one kind over every key."""
    out = [("total", ""), ("hour", "")]
    if full:
        out += [("field", name) for name in sorted(GROUP_FIELDS)]
        out += [("entry_page", ""), ("exit_page", ""), ("prop", "*")]
        out += [("filter", name) for name in sorted(VISIT_FIELDS & GROUP_FIELDS)]
        out += [("pages", "path"), *(("pages", f"path|{name}") for name in PAIR_FIELDS)]
        out += [("prefix", "path")]
        out += [(kind, name) for name in PAIR_FIELDS for kind in ("pair", "pair-visits")]
    return out


def kind_sql(kind: str, name: str, off: str) -> str:
    """The statement over `c` (contained events of a batch of days, with `dn`) giving rollup rows."""
    if kind == "pair-visits":
        return pair_visits_sql(name)
    if kind == "total":
        grouped = "eg AS (SELECT dn, '' AS k, ts, name, vh, sh, NULL::VARCHAR AS gt, 0::BIGINT AS gi FROM c)"
    elif kind == "hour":
        grouped = (
            "eg AS (SELECT dn, '' AS k, ts, name, vh, sh, NULL::VARCHAR AS gt,"
            f" (ts - ((ts + {off}) % {HOUR_MS}))::BIGINT AS gi FROM c)"
        )
    elif kind in ("entry_page", "exit_page"):
        pick = "arg_min" if kind == "entry_page" else "arg_max"
        grouped = (
            f"edge AS (SELECT sh, {pick}(path, (ts, id)) AS g FROM c WHERE name = 'pageview' GROUP BY sh),"
            " eg AS (SELECT dn, '' AS k, ts, name, vh, sh, edge.g AS gt, NULL::BIGINT AS gi"
            " FROM c JOIN edge USING (sh))"
        )
    elif kind == "field" and name in VISIT_FIELDS:
        grouped = (
            f"first AS (SELECT sh, arg_min({name}, (ts, id)) AS g FROM c GROUP BY sh),"
            " eg AS (SELECT dn, '' AS k, ts, name, vh, sh, first.g AS gt, NULL::BIGINT AS gi"
            " FROM c JOIN first USING (sh))"
        )
    elif kind in ("field", "filter"):  # events by their own value (a visit field's rows for filters)
        grouped = f"eg AS (SELECT dn, '' AS k, ts, name, vh, sh, {name} AS gt, NULL::BIGINT AS gi FROM c)"
    elif kind == "pages":  # pageviews by path, keyed by one filter field's value (`k`) when named
        paired = name.partition("|")[2]
        k = paired if paired else "''"
        grouped = (
            f"eg AS (SELECT dn, {k} AS k, ts, name, vh, sh, path AS gt, NULL::BIGINT AS gi FROM c"
            " WHERE name = 'pageview')"
        )
    elif kind == "pair":
        grouped = _pair_grouped(name)
    elif kind == "prefix":  # events under each directory prefix of their path (a `page==/blog/*` filter)
        grouped = (
            "eg AS (SELECT dn, '' AS k, ts, name, vh, sh, gt, NULL::BIGINT AS gi FROM"
            f" (SELECT dn, ts, name, vh, sh, unnest({prefixes_sql('path')}) AS gt FROM c))"
        )
    elif kind == "prop":
        grouped = (
            "kv AS (SELECT dn, ts, name, vh, sh, props_text, unnest(json_keys(props_text)) AS k FROM c"
            " WHERE props_text IS NOT NULL),"
            " eg AS (SELECT * FROM (SELECT dn, k, ts, name, vh, sh,"
            " json_extract_string(props_text, '$.\"' || k || '\"') AS gt, NULL::BIGINT AS gi FROM kv)"
            " WHERE gt IS NOT NULL)"
        )
    else:
        raise ValueError(f"unknown rollup kind {kind!r}")
    label = f"'{name}'"
    if kind in ("prop", "pair"):
        label = "sg.k"
    elif kind == "pages" and "|" in name:
        label = f"'{name}=' || sg.k"  # path|country=DE: the filter's value is part of the rows' name
    return (
        f"WITH {grouped},"
        " s AS (SELECT dn, k, gt, gi, sh, count(*) AS n, count_if(name = 'pageview') AS pv,"
        " min(ts) AS lo, max(ts) AS hi FROM eg GROUP BY dn, k, gt, gi, sh),"
        " sg AS (SELECT dn, k, gt, gi, count(*) AS visits, sum(n) AS events, sum(pv) AS pageviews,"
        " count_if(pv = 1) AS bounces, sum(hi - lo) AS duration, min(lo) AS lo, max(hi) AS hi"
        " FROM s GROUP BY dn, k, gt, gi),"
        " vg AS (SELECT dn, k, gt, gi, count(DISTINCT vh) AS visitors FROM eg GROUP BY dn, k, gt, gi)"
        f" SELECT sg.dn, '{kind}', {label},"
        " sg.gt, sg.gi, vg.visitors, sg.visits, sg.pageviews, sg.events, sg.bounces, sg.duration,"
        " sg.lo, sg.hi"
        " FROM sg JOIN vg ON vg.dn = sg.dn AND vg.k = sg.k"
        " AND vg.gt IS NOT DISTINCT FROM sg.gt AND vg.gi IS NOT DISTINCT FROM sg.gi"
    )


def _pair_grouped(field: str) -> str:
    """`eg` for the pair rows of one filter field by the fields of the event itself (name,
    hostname): every event with a value of `field` once per such group field (k = "<group
    field>|<field>=<value>", the rows' name)."""
    own = [g for g in PAIR_GROUPS if g not in VISIT_FIELDS]
    columns = ", ".join(f"g_{g}" for g in own)
    return (
        f"f AS (SELECT dn, {field} AS fv, ts, name AS ev_name, vh, sh,"
        f" {', '.join(f'{g} AS g_{g}' for g in own)}"
        f" FROM c WHERE {field} IS NOT NULL),"
        f" eg AS (SELECT dn, substr(gname, 3) || '|{field}=' || fv AS k, ts, ev_name AS name, vh, sh,"
        f" gt, NULL::BIGINT AS gi FROM (UNPIVOT f ON {columns} INTO NAME gname VALUE gt))"
    )


def pair_visits_sql(field: str) -> str:
    """The pair rows of one filter field by the visit fields, from one row per (visit, filter value):
    all the events of a visit that have one filter value count under the visit's first value among
    them (what the scan does with the filter applied), so the visit's counts are summed once per
    group field instead of once per event."""
    visit = [g for g in PAIR_GROUPS if g in VISIT_FIELDS]
    firsts = ", ".join(f"g_{g} := {g}" for g in visit)  # one arg_min for every field: cheaper
    columns = ", ".join(f"g_{g}" for g in visit)
    return (
        f"WITH f AS (SELECT * FROM c WHERE {field} IS NOT NULL),"
        f" v0 AS (SELECT dn, {field} AS fv, sh, count(*) AS n, count_if(name = 'pageview') AS pv,"
        f" min(ts) AS lo, max(ts) AS hi, arg_min(struct_pack({firsts}), (ts, id)) AS first"
        " FROM f GROUP BY dn, fv, sh),"
        " v AS (SELECT dn, fv, sh, n, pv, lo, hi, unnest(first) FROM v0),"
        f" u AS (UNPIVOT v ON {columns} INTO NAME gname VALUE gt),"
        f" vv AS (SELECT DISTINCT dn, {field} AS fv, sh, vh FROM f),"
        " sg AS (SELECT dn, fv, gname, gt, count(*) AS visits, sum(n) AS events, sum(pv) AS pageviews,"
        " count_if(pv = 1) AS bounces, sum(hi - lo) AS duration, min(lo) AS lo, max(hi) AS hi"
        " FROM u GROUP BY dn, fv, gname, gt),"
        " vg AS (SELECT u.dn, u.fv, u.gname, u.gt, count(DISTINCT vv.vh) AS visitors"
        " FROM u JOIN vv USING (dn, fv, sh) GROUP BY u.dn, u.fv, u.gname, u.gt)"
        f" SELECT sg.dn, 'pair', substr(sg.gname, 3) || '|{field}=' || sg.fv, sg.gt, NULL::BIGINT,"
        " vg.visitors, sg.visits, sg.pageviews, sg.events, sg.bounces, sg.duration, sg.lo, sg.hi"
        " FROM sg JOIN vg USING (dn, fv, gname, gt)"
    )


def day_offset_expr(tz: str, start: int, end: int) -> str:
    """The UTC offset SQL of `tz` over the site's whole span (local day numbers of every event)."""
    return offset_expr(tz, start, end)
