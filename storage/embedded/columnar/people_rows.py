"""People rows: the distinct (local day, person) pairs of each sealed day, written by the compactor next to
a day's rollups (one file per rollup entry, sorted by day), so that DAU/WAU/MAU and weekly retention read
the sealed days from them (about a third of the events, already distinct) and scan only the unsealed
edges and the log's tail.

Why the sum is exact: the pairs of a whole local day depend only on that day's events, and a question's
pairs are the union over its days; the rows cover the whole days of the range a rollup entry rolled, the
scan covers the rest of the range (edges_where), so every day comes from exactly one part. Unlike the
rollups' counts, nothing here depends on visitors or visits that cross days: no rest events. A rolled day
stays complete for the same reason as its rollups (rollups.py): a late event into it drops the site's
rollups when compacted, and a question whose tail holds one does not use them.

Only unfiltered questions read the rows: a filter selects events, and the pairs of the selected events
are not a function of the day's pairs. Funnels cannot use them either: they need each person's ordered
step marks, which depend on the question's steps.

A person is people.WHO: DuckDB's `hash(user_id)`, or the visitor hash. `hash` is not promised to stay
the same across DuckDB versions, so each file records a fingerprint of it (`hash_key`): rows made with
another fingerprint are not read, and the compactor builds them again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from storage.embedded.columnar import rollups
from storage.embedded.columnar.engine import Scan
from storage.embedded.columnar.people import WHO
from storage.embedded.columnar.rollups import Plan, Rollup
from storage.ports import EventFilter, Grouping

# people.active_sql or people.cohorts_sql: (flt, tz, rolled pairs' SELECT) -> (sql, params)
Statement = Callable[[EventFilter, str, str], tuple[str, list[Any]]]
_KEY_TEXTS = ("eddy people rows", "u:1", "")
_key: int | None = None


def hash_key(cursor: Any) -> int:
    """The fingerprint of DuckDB's `hash` in this process (never 0: 0 marks rows without one)."""
    global _key
    if _key is None:
        values = ", ".join(f"hash('{text}')" for text in _KEY_TEXTS)
        row = cursor.execute(f"SELECT hash([{values}])").fetchall()[0]
        _key = int(row[0]) % (1 << 62) or 1  # a JSON-safe positive number
    return _key


def build_sql(days: list[int]) -> str:
    """The people rows of `days` over `src` (the site's events with their local day number `dn`)."""
    listed = ", ".join(str(int(d)) for d in days)
    return f"SELECT DISTINCT dn, {WHO} AS who FROM src WHERE dn IN ({listed}) ORDER BY dn, who"


def plan(entries: list[Rollup], flt: EventFilter, tz: str, tail_min_ts: int | None, key: int) -> Plan | None:
    """The rolled days (in `tz`, whole inside the range) whose people rows answer an unfiltered question,
    or None when a scan must: a filter, no people rows of `tz` made with this `key`, no whole such day
    in the range, or an uncompacted event older than the rolled days."""
    if not rollups.is_plain(flt):
        return None
    usable = [r for r in entries if r.site == flt.site_id and r.tz == tz and r.people and r.people_key == key]
    # A day series asks for the same days: whole local days of `tz`, unfiltered, from any entry of `tz`.
    return rollups.plan(usable, flt, Grouping(kind="time", unit="day", tz=tz), tail_min_ts)


def rolled_select(plan_: Plan, directory: Path) -> str:
    """The SELECT of the plan's (who, d) pairs, for people.active_sql and people.cohorts_sql."""
    files = "[" + ", ".join(f"'{directory / r.people}'" for r in plan_.rollups) + "]"
    days = ", ".join(str(int(d)) for d in plan_.days)
    return f"SELECT who, dn AS d FROM read_parquet({files}) WHERE dn IN ({days})"


def answer_rows(
    scan: Scan, plan_: Plan, directory: Path, flt: EventFilter, tz: str, statement: Statement
) -> list[tuple[Any, ...]]:
    """The rows `statement(flt, tz)` gives over a scan of the range, from the plan's people rows and a
    scan of the rest of the range (the edges and the tail)."""
    sql, params = statement(flt, tz, rolled_select(plan_, directory))
    where, where_params = rollups.edges_where(flt, plan_.covered)
    return scan.rows(sql, params, where, where_params)
