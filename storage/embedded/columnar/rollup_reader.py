"""Answering `aggregate` from rollups: the rolled days' rows plus a scan of the edges and the rest events
(see rollups.py for why the sum is exact), and noting which timezones time series are asked in."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from storage.embedded.columnar import rollups
from storage.embedded.columnar import sql as columnar_sql
from storage.embedded.columnar.engine import Scan
from storage.embedded.columnar.rollups import Plan
from storage.embedded.columnar.segments import EV_COLUMNS, Manifest
from storage.ports import EventFilter, Grouping

WANT_REFRESH_S = 3600.0


def rolled_rows(
    scan: Scan, plan: Plan, directory: Path, flt: EventFilter, grouping: Grouping, sort: str, limit: int
) -> list[tuple[Any, ...]]:
    """The rows `aggregate_sql` would give (g, visitors, visits, pageviews, events, bounces, duration,
    first ts, last ts), from the plan's rolled days and a scan of everything else."""
    scan_sql, scan_params = columnar_sql.aggregate_sql(flt, grouping, sort, 0, ordered=False)
    where, where_params = rollups.edges_where(flt, plan.covered)
    rest = rollups.rest_part(plan, directory, ", ".join(EV_COLUMNS))
    rolled_sql, rolled_params = rollups.rolled_query(plan, directory, flt, grouping)
    statement = rollups.merged_sql(scan_sql, rolled_sql, grouping, sort, limit)
    return scan.rows(statement, [*scan_params, *rolled_params], where, where_params, (rest,))


class Wants:
    """Asks the compactor for a timezone's time-series rollups when a question could have used them;
    each (site, tz) at most once per WANT_REFRESH_S from this process."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._asked: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def note(self, manifest: Manifest, flt: EventFilter, grouping: Grouping) -> None:
        """Called for a question answered by a plain scan."""
        if grouping.kind != "time" or grouping.unit not in rollups.ROLLED_UNITS:
            return
        if grouping.tz == rollups.UTC or not rollups.is_plain(flt):
            return
        key = (flt.site_id, grouping.tz)
        if any(r.site == key[0] and r.tz == key[1] for r in manifest.rollups):
            return
        now = time.monotonic()
        with self._lock:
            if now - self._asked.get(key, -WANT_REFRESH_S) < WANT_REFRESH_S:
                return
            if len(self._asked) > 10_000:
                self._asked.clear()
            self._asked[key] = now
        rollups.want(self._directory, *key)
