"""DuckDB SQL for the questions about people (funnels, weekly retention, DAU/WAU/MAU) over the relation
`ev` (segments plus the log's tail, see engine.Scan): each statement returns only the small final answer,
never a row per person or per event.

A person is the user id when the event has one, else the visitor id (as `EventStore.identity_days`). In
SQL a person is a 64-bit number: `hash(user_id)` for users, the visitor hash `vh` the segments already
hold for the others. Counts are exact unless two people's numbers collide (odds ~n²/2^65 for n people
in one answer, as for the visitor counts of sql.py).

Days are local days of the site's timezone, numbered from 1970-01-01 (`(ts + offset) // DAY_MS`, the
offset of each event's instant in the zone: DST changes inside the range included).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from storage.embedded.columnar.sql import DAY_MS, filter_where, offset_expr
from storage.ports import EventFilter

WHO = "(CASE WHEN user_id != '' THEN hash(user_id) ELSE vh END)"
EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
# The two sliding windows of `active_people`: people active in the 7 and the 30 days ending a day.
WINDOWS = (7, 30)
# Ranges of at most this many weeks count weekly cohorts from one bit per week and person (cohorts_sql).
MASK_WEEKS = 64


def day_number(day: dt.date) -> int:
    """Days since 1970-01-01 (the local day numbers of the statements)."""
    return day.toordinal() - EPOCH_ORDINAL


def day_iso(number: int) -> str:
    """The YYYY-MM-DD of a day number."""
    return dt.date.fromordinal(number + EPOCH_ORDINAL).isoformat()


def _local_day(flt: EventFilter, tz: str) -> str:
    return f"((ts + {offset_expr(tz, flt.start, flt.end)}) // {DAY_MS})"


def _step_test(kind: str, value: str, params: list[Any]) -> str:
    if kind == "event":
        params.append(value)
        return "name = ?"
    if kind == "page" and value.endswith("*"):
        params.append(value[:-1])
        return "name = 'pageview' AND starts_with(path, ?)"
    if kind == "page":
        params.append(value)
        return "name = 'pageview' AND path = ?"
    raise ValueError(f"unknown funnel step kind {kind!r}")


def funnel_sql(flt: EventFilter, steps: Sequence[tuple[str, str]], window_ms: int) -> tuple[str, list[Any]]:
    """One row: how many people reached at least step 1, 2, ... n, each later step within `window_ms`
    of step 1 (ts - start <= window), in (ts, id) order.

    The chains are found level by level, a window function each (no loop over events): `s` of a mark at
    level k is the latest start of a chain of k steps ending at that mark. A chain of k+1 steps ends at a
    mark completing step k+1 when the latest start of a k-step chain ending before it (`r`, a running max:
    a later start leaves the most room in the window) is within the window. The latest start is the best
    one, so this reaches exactly the furthest step the greedy walk of domain/stats/funnels.py reaches
    from its best start. Each level keeps only the marks later levels can use."""
    if not 1 <= len(steps) <= 62:
        raise ValueError("a funnel has 1 to 62 steps")
    step_params: list[Any] = []
    mask = " + ".join(
        f"(CASE WHEN {_step_test(kind, value, step_params)} THEN {1 << index} ELSE 0 END)"
        for index, (kind, value) in enumerate(steps)
    )
    where, params = filter_where(flt)
    window = int(window_ms)
    before = "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING"
    ctes = [
        # The marks, materialized: the later steps read them three times, and DuckDB would otherwise
        # materialize `ev` itself (every event of the range), twice as slow.
        f"m0 AS MATERIALIZED (SELECT * FROM (SELECT {WHO} AS who, ts, id, ({mask}) AS m FROM ev{where})"
        " WHERE m > 0)",
        # The steps each person has marks of. Only people with a start and a mark of a later step can
        # pass step 1: the others' marks skip the windows (most marks, in practice).
        "p0 AS MATERIALIZED (SELECT who, bit_or(m) AS bits FROM m0 GROUP BY who)",
        # Level 1 (of those people): every start; `r` the latest start before each mark, rn the order.
        "l1 AS (SELECT who, ts, m, row_number() OVER w AS rn, CASE WHEN m & 1 != 0 THEN ts END AS s,"
        f" max(CASE WHEN m & 1 != 0 THEN ts END) OVER (w {before}) AS r"
        " FROM m0 WHERE who IN (SELECT who FROM p0 WHERE bits & 1 != 0 AND bits > 1)"
        " WINDOW w AS (PARTITION BY who ORDER BY ts, id))",
    ]
    for level in range(2, len(steps) + 1):
        bit = 1 << (level - 1)
        if level == 2:
            source = "l1"
        else:  # the marks ending a chain of level-1 steps, and those completing a later step
            ctes.append(
                f"r{level - 1} AS (SELECT who, ts, m, rn, max(s) OVER (PARTITION BY who ORDER BY rn {before})"
                f" AS r FROM l{level - 1} WHERE s IS NOT NULL OR m >> {level - 1} != 0)"
            )
            source = f"r{level - 1}"
        ctes.append(
            f"l{level} AS (SELECT who, ts, m, rn, CASE WHEN m & {bit} != 0 AND ts - r <= {window} THEN r END"
            f" AS s FROM {source} WHERE m >> {level - 1} != 0)"
        )
    counts = ", ".join(
        [
            "(SELECT count(*) FILTER (WHERE bits & 1 != 0) FROM p0)",
            *(
                f"(SELECT count(DISTINCT who) FROM l{level} WHERE s IS NOT NULL)"
                for level in range(2, len(steps) + 1)
            ),
        ]
    )
    return f"WITH {', '.join(ctes)} SELECT {counts}", [*step_params, *params]


def cohorts_sql(flt: EventFilter, tz: str, rolled: str = "") -> tuple[str, list[Any]]:
    """Rows (first week, week, people): a person's first week is the Monday (a day number) of their first
    local day in the range; they count in every week they were active in. `rolled` is a SELECT of more
    (who, d) pairs, of days `ev` does not hold (the people rows of sealed days: people_rows.py)."""
    where, params = filter_where(flt)
    day = _local_day(flt, tz)
    pairs = f"SELECT {WHO} AS who, {day} AS d FROM ev{where}" + (f" UNION ALL {rolled}" if rolled else "")
    # 1970-01-01 was a Thursday: +3 mod 7 counts the days since Monday.
    week = "(d - ((d + 3) % 7))"
    first_week, weeks = _weeks(flt, tz)
    if weeks <= MASK_WEEKS:
        # One hash aggregate by person: the weeks a person was active in as the bits of a number (bit k:
        # k weeks after the range's first), then the people per set of weeks, each set spread into its
        # weeks (a few rows each). Twice as fast as the distinct (person, week) pairs joined with each
        # person's first week (measured at 10M events), and no pair needs to be distinct first.
        sql = (
            f"WITH pm AS (SELECT who, bit_or(1::UBIGINT << ((({week} - {first_week}) // 7)::UBIGINT)) AS m"
            f" FROM ({pairs}) GROUP BY who),"
            " mc AS (SELECT m, count(*) AS n FROM pm GROUP BY m),"
            f" ex AS (SELECT m, n, k FROM mc, range({weeks}) AS r(k)"
            " WHERE (m >> k::UBIGINT) & 1::UBIGINT = 1)"
            f" SELECT {first_week} + 7 * f, {first_week} + 7 * k, sum(n)::BIGINT"
            " FROM (SELECT n, k, min(k) OVER (PARTITION BY m) AS f FROM ex) GROUP BY ALL ORDER BY 1, 2"
        )
        return sql, params
    sql = (
        f"WITH pw AS (SELECT DISTINCT who, {week} AS wk FROM ({pairs})),"
        " pf AS (SELECT who, min(wk) AS first FROM pw GROUP BY who)"
        # A join with each person's first week: a window partitioned by person took three times as long.
        " SELECT first, wk, count(*) FROM pw JOIN pf USING (who) GROUP BY first, wk ORDER BY first, wk"
    )
    return sql, params


def _weeks(flt: EventFilter, tz: str) -> tuple[int, int]:
    """The Monday (a day number) of the range's first local day in `tz`, and how many weeks from it the
    range touches."""
    zone = ZoneInfo(tz)

    def monday(ms: int) -> int:
        day = day_number(dt.datetime.fromtimestamp(ms / 1000, dt.UTC).astimezone(zone).date())
        return day - (day + 3) % 7

    first = monday(flt.start)
    return first, max(1, (monday(max(flt.start, flt.end - 1)) - first) // 7 + 1)


def active_sql(flt: EventFilter, tz: str, rolled: str = "") -> tuple[str, list[Any]]:
    """Rows (day, start7, start30, count) of three histograms over the distinct (person, local day) pairs:
    per day (start7, start30 NULL), and per first day each pair adds to a person's 7-day and 30-day
    windows (its span from max(day, previous active day + width) to day + width - 1: the spans of one
    person never overlap, so a day's count of spans covering it counts each person once). `rolled` is a
    SELECT of more distinct (who, d) pairs, of days `ev` does not hold (people_rows.py)."""
    where, params = filter_where(flt)
    day = _local_day(flt, tz)
    w7, w30 = WINDOWS
    pairs = f"SELECT DISTINCT {WHO} AS who, {day} AS d FROM ev{where}"
    if rolled:  # the days differ, so the pairs of both parts stay distinct
        pairs = f"({pairs}) UNION ALL {rolled}"
    sql = (
        f"WITH pd AS ({pairs}),"
        " sp AS (SELECT d, lag(d) OVER (PARTITION BY who ORDER BY d) AS p FROM pd)"
        # greatest() skips NULL: a person's first day starts a span at the day itself.
        f" SELECT d, greatest(d, p + {w7}) AS s7, greatest(d, p + {w30}) AS s30, count(*) FROM sp"
        " GROUP BY GROUPING SETS ((d), (s7), (s30))"
    )
    return sql, params


def active_rows(rows: Sequence[tuple[Any, ...]], first: int, last: int) -> list[tuple[str, int, int, int]]:
    """(date, dau, wau, mau) per day number first..last from the histograms of `active_sql`: a pair of
    day d counts in a window from its span start until day d + width - 1, so the people of the window
    ending day x are the span starts up to x less the pairs whose window ended by x."""
    per_day: dict[int, int] = {}
    starts: dict[int, dict[int, int]] = {width: {} for width in WINDOWS}
    for d, s7, s30, count in rows:
        if d is not None:
            per_day[int(d)] = int(count)
        elif s7 is not None:
            starts[WINDOWS[0]][int(s7)] = int(count)
        elif s30 is not None:
            starts[WINDOWS[1]][int(s30)] = int(count)
    lowest = min([first, *per_day, *starts[WINDOWS[0]], *starts[WINDOWS[1]]])
    open_spans = {width: 0 for width in WINDOWS}
    out = []
    for x in range(lowest, last + 1):
        for width in WINDOWS:
            open_spans[width] += starts[width].get(x, 0) - per_day.get(x - width, 0)
        if x >= first:
            out.append((day_iso(x), per_day.get(x, 0), open_spans[WINDOWS[0]], open_spans[WINDOWS[1]]))
    return out
