"""DuckDB SQL for the columnar engine: the same answers as the SQLite statements in
`storage/embedded/aggregates.py`, over the relation `ev` (compacted segments plus the uncompacted tail).

`ev` has every event column plus `seq` (the log's row id), `props_text` (the props as a JSON object of
canonical text values, see `segments.canonical_props`) and two 64-bit hashes: `vh` of the visitor id and
`sh` of the session key (the session id, or `ev:<id>` for an event without one). Distinct counts over the
hashes are exact unless two of the ids hashed alike (odds ~n²/2^65 for n ids in one answer).

Time buckets use the UTC offsets of the range as a CASE expression, exactly as the SQLite statements do
(see `aggregates.offset_segments`); integer division is `//` in DuckDB.
"""

from __future__ import annotations

from typing import Any

from storage.embedded.aggregates import offset_segments
from storage.event_filter_sql import check_key_name
from storage.ports import (
    AGGREGATE_SORTS,
    FILTERABLE_FIELDS,
    GROUP_FIELDS,
    Condition,
    EventFilter,
    Grouping,
    check_condition,
    fold_ascii,
)

# Fields that belong to the visit: a breakdown counts each visit under its first event's value.
VISIT_FIELDS = frozenset(
    {
        *("source", "referrer", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"),
        *("country", "browser", "os", "device", "screen"),
    }
)
_UNIT_MS = {"minute": 60_000, "hour": 3_600_000}
DAY_MS = 86_400_000


def json_path(name: str) -> str:
    """The JSON path literal of a checked prop or trait name (names are [A-Za-z0-9_-] only)."""
    return f"'$.\"{check_key_name(name)}\"'"


def range_where(flt: EventFilter) -> tuple[str, list[Any]]:
    """The site and time part of a filter: what segment pruning and the tail fetch use."""
    return "site_id = ? AND ts >= ? AND ts < ?", [flt.site_id, flt.start, flt.end]


def filter_where(flt: EventFilter) -> tuple[str, list[Any]]:
    """`WHERE ...` for the whole filter over `ev`."""
    clauses, params = range_where(flt)
    parts = [clauses]
    for field, value in flt.equals.items():
        if field not in FILTERABLE_FIELDS:
            raise ValueError(f"cannot filter on {field!r}")
        parts.append(f"{field} = ?")
        params.append(value)
    for column, mapping in (("props_text", flt.props), ("traits", flt.traits)):
        for name, value in mapping.items():
            parts.append(f"json_extract_string({column}, {json_path(name)}) = ?")
            params.append(value)
    if flt.path_prefix:
        parts.append("starts_with(path, ?)")
        params.append(flt.path_prefix)
    for condition in flt.conditions:
        parts.append(condition_sql(condition, params))
    return " WHERE " + " AND ".join(parts), params


_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def condition_sql(condition: Condition, params: list[Any]) -> str:
    """The SQL of one Condition over `ev` (its parameters appended to `params`). A missing prop or trait
    is NULL: coalesce makes the positive test false there, so the negation keeps those events."""
    check_condition(condition)
    if condition.kind == "field":
        value = condition.name
    else:
        column = "props_text" if condition.kind == "prop" else "traits"
        value = f"json_extract_string({column}, {json_path(condition.name)})"
    if condition.op == "is":
        test = f"{value} IN ({', '.join('?' for _ in condition.values)})"
        params.extend(condition.values)
    elif condition.op == "contains":
        # translate() lowers A-Z only: the case folding every store shares (ports.fold_ascii).
        folded = f"translate({value}, '{_UPPER}', '{_UPPER.lower()}')"
        test = " OR ".join(f"contains({folded}, ?)" for _ in condition.values)
        params.extend(fold_ascii(v) for v in condition.values)
    else:
        test = " OR ".join(f"starts_with({value}, ?)" for _ in condition.values)
        params.extend(condition.values)
    return f"{'NOT ' if condition.negate else ''}coalesce(({test}), false)"


def offset_expr(tz: str, start: int, end: int) -> str:
    """The UTC offset (ms) of `ts` in `tz` for start <= ts < end, as literal SQL (integers only)."""
    segments = offset_segments(tz, start, end)
    if len(segments) == 1:
        return f"{int(segments[0][1])}::BIGINT"
    whens = " ".join(f"WHEN ts < {int(until)} THEN {int(offset)}" for until, offset in segments[:-1])
    return f"(CASE {whens} ELSE {int(segments[-1][1])} END)::BIGINT"


def group_expr(flt: EventFilter, grouping: Grouping) -> str:
    """The expression of the group key `g` of one event (field, prop, time or total)."""
    if grouping.kind == "total":
        return "0"
    if grouping.kind == "field":
        if grouping.field not in GROUP_FIELDS:
            raise ValueError(f"cannot group by {grouping.field!r}")
        return grouping.field
    if grouping.kind == "prop":
        return f"json_extract_string(props_text, {json_path(grouping.field)})"
    if grouping.kind == "time":
        offset = offset_expr(grouping.tz, flt.start, flt.end)
        if grouping.unit in _UNIT_MS:
            return f"(ts - ((ts + {offset}) % {_UNIT_MS[grouping.unit]}))"
        local = f"(ts + {offset})"
        if grouping.unit == "day":
            return f"({local} - ({local} % {DAY_MS}))"
        if grouping.unit == "week":
            days = f"({local} // {DAY_MS})"  # 1970-01-01 was a Thursday: +3 mod 7 counts days since Monday
            return f"(({days} - (({days} + 3) % 7)) * {DAY_MS})"
        if grouping.unit == "month":
            return f"epoch_ms(date_trunc('month', epoch_ms({local})))"
        raise ValueError(f"unknown time unit {grouping.unit!r}")
    raise ValueError(f"unknown grouping {grouping.kind!r}")


def aggregate_sql(
    flt: EventFilter, grouping: Grouping, sort: str, limit: int, *, ordered: bool = True
) -> tuple[str, list[Any]]:
    """The statement over `ev` answering `EventStore.aggregate`: rows of (g, visitors, visits, pageviews,
    events, bounces, duration, first ts, last ts); unordered and uncut when not `ordered` (a part of a
    larger statement)."""
    if sort not in AGGREGATE_SORTS:
        raise ValueError(f"cannot sort by {sort!r}")
    where, params = filter_where(flt)
    if grouping.kind in ("entry_page", "exit_page") or (
        grouping.kind == "field" and grouping.field in VISIT_FIELDS
    ):
        sql = _visit_grouped_sql(where, grouping)
    else:
        expr = group_expr(flt, grouping)
        keyed = f"SELECT ts, name, vh, sh, {expr} AS g FROM ev{where}"
        # Props group only the events that have the prop.
        # Materialized: `s` and `vg` both read it, and reading the segments twice costs more.
        grouped = f"eg AS MATERIALIZED (SELECT * FROM ({keyed}) WHERE g IS NOT NULL)"
        sql = (
            f"WITH {grouped},"
            " s AS (SELECT g, sh, count(*) AS n, count_if(name = 'pageview') AS pv, min(ts) AS lo,"
            " max(ts) AS hi FROM eg GROUP BY g, sh),"
            f" sg AS ({_VISIT_SUMS} FROM s GROUP BY g),"
            " vg AS (SELECT g, count(DISTINCT vh) AS visitors FROM eg GROUP BY g)"
            f" {_JOINED}"
        )
    if not ordered:
        return sql, params
    if grouping.kind == "time":
        sql += " ORDER BY sg.g"
    else:
        sql += f" ORDER BY {sort} DESC, sg.g ASC"
        if limit:
            sql += f" LIMIT {int(limit)}"
    return sql, params


_VISIT_SUMS = (
    "SELECT g, count(*) AS visits, sum(n) AS events, sum(pv) AS pageviews, count_if(pv = 1) AS bounces,"
    " sum(hi - lo) AS duration, min(lo) AS lo, max(hi) AS hi"
)
_JOINED = (
    "SELECT sg.g, vg.visitors, sg.visits, sg.pageviews, sg.events, sg.bounces, sg.duration, sg.lo, sg.hi"
    " FROM sg JOIN vg ON vg.g = sg.g"
)


def _visit_grouped_sql(where: str, grouping: Grouping) -> str:
    """The unordered statement of a breakdown by a visit's own value (a visit field: its first event's;
    entry/exit page: its first/last pageview's), in one pass over the events: one row per visit with its
    group and counts, then the visits summed by group. A visit's visitors are its lowest and highest
    visitor hash, equal for almost every visit; the few visits with several visitors (a visitor id that
    rotated within the visit) take theirs from their events, so distinct visitors stay exact."""
    if grouping.kind == "field":
        pick = f"arg_min({grouping.field}, (ts, id))"
        column = grouping.field
    else:
        function = "arg_min" if grouping.kind == "entry_page" else "arg_max"
        # Visits without a pageview have no entry or exit page: NULL, dropped by the final join.
        pick = f"{function}(path, (ts, id)) FILTER (WHERE name = 'pageview')"
        column = "path"
    return (
        # Materialized: the visits with several visitors read it again.
        f"WITH f AS MATERIALIZED (SELECT ts, id, name, vh, sh, {column} FROM ev{where}),"
        f" s AS (SELECT sh, {pick} AS g, count(*) AS n, count_if(name = 'pageview') AS pv,"
        " min(ts) AS lo, max(ts) AS hi, min(vh) AS v1, max(vh) AS v2 FROM f GROUP BY sh),"
        f" sg AS ({_VISIT_SUMS} FROM s GROUP BY g),"
        " vv AS (SELECT g, v1 AS vh FROM s WHERE v1 = v2"
        " UNION ALL SELECT s.g, f.vh FROM s JOIN f USING (sh) WHERE s.v1 != s.v2),"
        " vg AS (SELECT g, count(DISTINCT vh) AS visitors FROM vv GROUP BY g)"
        f" {_JOINED}"
    )


def identity_days_sql(flt: EventFilter, tz: str) -> tuple[str, list[Any]]:
    """Distinct (identity, local date) pairs over `ev`."""
    where, params = filter_where(flt)
    offset = offset_expr(tz, flt.start, flt.end)
    sql = (
        "SELECT DISTINCT (CASE WHEN user_id != '' THEN 'u:' || user_id ELSE 'v:' || visitor_id END) AS who,"
        f" strftime(epoch_ms(ts + {offset}), '%Y-%m-%d') AS day FROM ev{where} ORDER BY who, day"
    )
    return sql, params


def count_sql(flt: EventFilter) -> tuple[str, list[Any]]:
    """How many events match."""
    where, params = filter_where(flt)
    return f"SELECT count(*) FROM ev{where}", params


def page_sql(flt: EventFilter, columns: str, after: tuple[int, int], limit: int) -> tuple[str, list[Any]]:
    """One page of matching events in (ts, seq) order after the cursor `after`."""
    where, params = filter_where(flt)
    sql = (
        f"SELECT seq, {columns} FROM ev{where} AND (ts > ? OR (ts = ? AND seq > ?))"
        f" ORDER BY ts, seq LIMIT {int(limit)}"
    )
    return sql, [*params, after[0], after[0], after[1]]


def step_marks_sql(flt: EventFilter, steps: list[tuple[str, str]]) -> tuple[str, list[Any]]:
    """(identity, ts, id, mask) of the matching events completing at least one step."""
    where, params = filter_where(flt)
    terms: list[str] = []
    step_params: list[Any] = []
    for index, (kind, value) in enumerate(steps):
        if kind == "event":
            condition = "name = ?"
            step_params.append(value)
        elif kind == "page" and value.endswith("*"):
            condition = "name = 'pageview' AND starts_with(path, ?)"
            step_params.append(value[:-1])
        elif kind == "page":
            condition = "name = 'pageview' AND path = ?"
            step_params.append(value)
        else:
            raise ValueError(f"unknown funnel step kind {kind!r}")
        terms.append(f"(CASE WHEN {condition} THEN {1 << index} ELSE 0 END)")
    mask = " + ".join(terms)
    sql = (
        "SELECT who, ts, id, mask FROM (SELECT (CASE WHEN user_id != '' THEN 'u:' || user_id"
        f" ELSE 'v:' || visitor_id END) AS who, ts, id, ({mask}) AS mask FROM ev{where}) WHERE mask > 0"
    )
    return sql, [*step_params, *params]
