"""The compactor: moves events from the SQLite log into immutable Parquet segments, merges small segments,
and rewrites segments for retention and site deletion.

One pass at a time per data dir: every pass holds an exclusive `flock` on `segments/compactor.lock`.
Periodic passes (compactor_process.py) try the lock without waiting, so exactly one process compacts at a
time and another takes over the moment one dies; explicit calls (retention, site deletion, bulk loads,
`compact_now`) wait for it.

A pass: read the log rows past the manifest's watermark (oldest first, at most `batch_rows`), write them
as a segment sorted by (site, ts, seq), publish a manifest whose watermark is their highest seq, then
delete those rows from the log. A `kill -9` anywhere leaves a consistent store: before the manifest is
replaced the new file is an orphan (removed by the next pass) and the rows are still the tail; after it,
the rows are in the segment and beyond the tail, whether or not the log still holds them (the next pass
deletes them). Nothing is lost and nothing is counted twice.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb

from storage.embedded.columnar import people_rows, rollups
from storage.embedded.columnar.rollups import Rollup
from storage.embedded.columnar.segments import (
    EV_COLUMNS,
    HASHES,
    LOG_COLUMNS,
    LOG_SELECT,
    SPILL,
    Manifest,
    Segment,
    SegmentDir,
    fsync_path,
    rows_to_arrow,
)
from storage.embedded.sqlite_runner import DEFAULT_PRAGMAS, connect

log = logging.getLogger("eddy.compactor")

BATCH_ROWS = 200_000
DELETE_CHUNK = 20_000
# Segments are merged by tiers: once MERGE_FANIN files of one tier exist they become one file of the next.
TIER_ROWS = (100_000, 1_000_000, 10_000_000)
MERGE_FANIN = 8
PARQUET_OPTIONS = "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 65536)"
_TS = 1 + LOG_COLUMNS.index("ts")  # position of ts in a LOG_SELECT row
_SITE = 1 + LOG_COLUMNS.index("site_id")


def _tier(rows: int) -> int:
    for index, bound in enumerate(TIER_ROWS):
        if rows < bound:
            return index
    return len(TIER_ROWS)


class Compactor:
    """Compaction of one data dir's event log (see the module docstring)."""

    def __init__(
        self,
        log_path: Path,
        segments: SegmentDir,
        write_lock: Any,
        *,
        batch_rows: int = BATCH_ROWS,
        seal_lag_ms: int = rollups.SEAL_LAG_MS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._log_path = log_path
        self.segments = segments
        self._write_lock = write_lock  # a context manager: the log's cross-process write lock
        self._batch_rows = batch_rows
        self._seal_lag_ms = seal_lag_ms
        self._clock = clock
        self._mutex = threading.Lock()  # one pass at a time inside this process
        self._lock_fd: int | None = None
        self._conn: Any = None
        self._duck: duckdb.DuckDBPyConnection | None = None
        self.passes = 0
        self.failures = 0

    def start(self) -> None:
        """Open the lock file."""
        self.segments.ensure()
        self._lock_fd = os.open(self.segments.path / "compactor.lock", os.O_RDWR | os.O_CREAT, 0o600)

    def stop(self) -> None:
        """Release everything (after a pass under way in another thread of this process)."""
        with self._mutex:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            if self._duck is not None:
                self._duck.close()
                self._duck = None
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    def run(self, work: Callable[[Manifest], Any], *, wait: bool = True) -> Any:
        """Run `work(manifest)` holding the compactor lock; without `wait`, skip (None) when another
        process holds it."""
        with self._mutex:
            if self._lock_fd is None:
                raise RuntimeError("compactor is not started")
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                return None
            try:
                manifest = self.segments.load()
                result = work(manifest)
                self.passes += 1
                return result
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    # ---- the parts of a pass (called with the lock held) ----------------------------------------------

    def _sqlite(self) -> Any:
        if self._conn is None:
            self._conn = connect(self._log_path, DEFAULT_PRAGMAS)
        return self._conn

    def _duckdb(self) -> duckdb.DuckDBPyConnection:
        if self._duck is None:
            self._duck = duckdb.connect()
            self._duck.execute("SET threads = 2")
            self._duck.execute("SET memory_limit = '512MB'")
            # Spill past the limit inside the data dir (not the working directory), cleaned by DuckDB.
            self.segments.ensure()
            self._duck.execute(f"SET temp_directory = '{self.segments.path / SPILL / 'compactor'}'")
            self._duck.execute("SET preserve_insertion_order = false")
        return self._duck

    def compact(self, manifest: Manifest) -> int:
        """One pass: new log rows into a segment, merges, log cleanup, sweep. Returns rows compacted."""
        rows = (
            self._sqlite()
            .execute(
                f"SELECT {LOG_SELECT} FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                (manifest.watermark, self._batch_rows),
            )
            .fetchall()
        )
        moved = 0
        if rows:
            watermark = int(rows[-1][0])
            segment = self._write_arrow(rows_to_arrow(rows), f"seg-{manifest.generation + 1}-log")
            manifest = replace(
                manifest,
                generation=manifest.generation + 1,
                watermark=watermark,
                segments=[*manifest.segments, segment],
                retired=list(manifest.retired),
            )
            self._invalidate_rollups(manifest, _oldest_by_site(rows))
            self.segments.save(manifest)
            moved = len(rows)
        self._drop_compacted_log(manifest.watermark)
        manifest = self._merge(manifest)
        if self.segments.sweep(manifest):
            self.segments.save(manifest)
        return moved

    def _drop_compacted_log(self, watermark: int) -> None:
        """Delete log rows the segments hold, a chunk per write-lock hold (ingest waits at most one)."""
        conn = self._sqlite()
        row = conn.execute("SELECT min(seq) FROM events WHERE seq <= ?", (watermark,)).fetchone()
        low = row[0]
        while low is not None and low <= watermark:
            high = min(low + DELETE_CHUNK, watermark)
            with self._write_lock:
                conn.execute("DELETE FROM events WHERE seq >= ? AND seq <= ?", (low, high))
            low = high + 1

    def _write(self, select_sql: str, stem: str, params: list[Any] | None = None) -> Segment:
        """Write the rows of `select_sql` (over EV_COLUMNS plus the hashes) as a new segment file."""
        duck = self._duckdb()
        final = self.segments.path / f"{stem}-{os.getpid()}-{time.monotonic_ns()}.parquet"
        temporary = final.with_name(final.name + ".tmp")
        duck.execute(
            f"COPY ({select_sql} ORDER BY site_id, ts, seq) TO '{temporary}' {PARQUET_OPTIONS}", params or []
        )
        fsync_path(temporary)
        os.chmod(temporary, 0o600)
        os.replace(temporary, final)
        sites = {
            site: [int(low), int(high)]
            for site, low, high in duck.execute(
                f"SELECT site_id, min(ts), max(ts) FROM read_parquet('{final}') GROUP BY site_id"
            ).fetchall()
        }
        counted = duck.execute(f"SELECT count(*) FROM read_parquet('{final}')").fetchall()[0]
        return Segment(final.name, int(counted[0]) if counted else 0, sites)

    def _write_arrow(self, table: Any, stem: str) -> Segment:
        duck = self._duckdb()
        duck.register("batch_rows", table)
        try:
            return self._write(f"SELECT {', '.join(EV_COLUMNS)}, {HASHES} FROM batch_rows", stem)
        finally:
            duck.unregister("batch_rows")

    def _files(self, names: list[str]) -> str:
        return "[" + ", ".join(f"'{self.segments.path / name}'" for name in names) + "]"

    def _merge(self, manifest: Manifest) -> Manifest:
        """Merge MERGE_FANIN segments of one tier into one (repeated while a tier is full)."""
        while True:
            tiers: dict[int, list[Segment]] = {}
            for segment in manifest.segments:
                tiers.setdefault(_tier(segment.rows), []).append(segment)
            full = next((group for _, group in sorted(tiers.items()) if len(group) >= MERGE_FANIN), None)
            if full is None or _tier(full[0].rows) >= len(TIER_ROWS):
                return manifest
            group = full[:MERGE_FANIN]
            merged = self._write(
                f"SELECT * FROM read_parquet({self._files([s.file for s in group])})",
                f"seg-{manifest.generation + 1}-merge",
            )
            names = {s.file for s in group}
            manifest = replace(
                manifest,
                generation=manifest.generation + 1,
                segments=[s for s in manifest.segments if s.file not in names] + [merged],
                retired=list(manifest.retired),
            )
            self.segments.retire(manifest, sorted(names))
            self.segments.save(manifest)

    def add_bulk(self, manifest: Manifest, rows: list[tuple[Any, ...]]) -> int:
        """Add log-shaped rows (seq, then the log columns; seq is replaced) straight as a new segment:
        the bulk load path (imports, demo data, benchmarks), with no log, no dedupe and no ack."""
        if not rows:
            return 0
        first = manifest.bulk_seq - len(rows)
        numbered = [(first + index, *row[1:]) for index, row in enumerate(rows)]
        segment = self._write_arrow(rows_to_arrow(numbered), f"seg-{manifest.generation + 1}-bulk")
        manifest = replace(
            manifest,
            generation=manifest.generation + 1,
            segments=[*manifest.segments, segment],
            retired=list(manifest.retired),
            bulk_seq=first,
        )
        self._invalidate_rollups(manifest, _oldest_by_site(numbered))
        self.segments.save(manifest)
        manifest = self._merge(manifest)
        return len(rows)

    def rewrite_without(
        self,
        manifest: Manifest,
        condition: str,
        params: list[Any],
        touches: Callable[[Segment], bool],
        *,
        before: int | None = None,
    ) -> int:
        """Rewrite every segment `touches` selects without the rows matching `condition`; returns rows
        removed. Segments left empty are dropped. `before` (ms) says the condition removes only events
        older than it (retention): the rewritten sites keep their rollups of days that start at or after
        it (their contained visitors lost nothing), others are dropped."""
        removed = 0
        segments: list[Segment] = []
        retired: list[str] = []
        for segment in manifest.segments:
            if not touches(segment):
                segments.append(segment)
                continue
            source = f"read_parquet('{self.segments.path / segment.file}')"
            row = (
                self._duckdb()
                .execute(f"SELECT count(*) FROM {source} WHERE {condition}", params)
                .fetchall()[0]
            )
            gone = int(row[0]) if row else 0
            if not gone:
                segments.append(segment)
                continue
            removed += gone
            retired.append(segment.file)
            if gone < segment.rows:
                segments.append(
                    self._write(
                        f"SELECT * FROM {source} WHERE NOT ({condition})",
                        f"seg-{manifest.generation + 1}-purge",
                        params,
                    )
                )
        if retired:
            rewritten = {site for s in manifest.segments if s.file in retired for site in s.sites}
            manifest = replace(
                manifest,
                generation=manifest.generation + 1,
                segments=segments,
                retired=list(manifest.retired),
            )
            # Removing events changes what is contained where: the sites' rollups are built again, except
            # the days after a retention cutoff (rest events there stay exact, if no longer needed).
            if before is None:
                self._drop_rollups(manifest, rewritten)
            else:
                self._trim_rollups(manifest, rewritten, before)
            self.segments.retire(manifest, retired)
            self.segments.save(manifest)
        return removed

    # ---- rollups (rollups.py) ------------------------------------------------------------------------

    def _drop_rollups(self, manifest: Manifest, sites: set[str]) -> None:
        """Remove the sites' rollups from `manifest` (not yet saved) and retire their files."""
        gone = [r for r in manifest.rollups if r.site in sites]
        if gone:
            manifest.rollups = [r for r in manifest.rollups if r.site not in sites]
            self.segments.retire(manifest, [name for r in gone for name in r.names()])

    def _trim_rollups(self, manifest: Manifest, sites: set[str], before: int) -> None:
        """Keep only the sites' rolled days starting at or after `before`, rewriting their files so that
        no older event stays on disk in a rest file (retention)."""
        kept: list[Rollup] = []
        for entry in manifest.rollups:
            if entry.site not in sites:
                kept.append(entry)
                continue
            days = [d for d in entry.days if rollups.day_start(d, entry.tz) >= before]
            self.segments.retire(manifest, entry.names())
            if not days:
                continue
            listed = ", ".join(str(int(d)) for d in days)
            stem = f"{manifest.generation}-{os.getpid()}-{time.monotonic_ns()}"

            def keep(name: str, prefix: str, stem: str = stem, listed: str = listed) -> str:
                source = f"read_parquet('{self.segments.path / name}')"
                return self._copy(f"SELECT * FROM {source} WHERE dn IN ({listed})", f"{prefix}-{stem}")

            people = keep(entry.people, "people") if entry.people else ""
            kept.append(
                replace(
                    entry,
                    file=keep(entry.file, "rollup"),
                    rest=keep(entry.rest, "rest"),
                    days=days,
                    people=people,
                )
            )
        manifest.rollups = kept

    def _invalidate_rollups(self, manifest: Manifest, oldest: dict[str, int]) -> None:
        """New events older than a site's newest rolled day (imports, bulk loads, a late event) may share
        visitors or visits with rolled days: drop that site's rollups (see rollups.py)."""
        stale = set()
        for site, ts in oldest.items():
            end = rollups.horizon(manifest.rollups, site)
            if end is not None and ts < end:
                stale.add(site)
        self._drop_rollups(manifest, stale)

    def roll_up(self, manifest: Manifest) -> int:
        """Build the rollups of sealed days not rolled yet (every site in UTC and in the timezones asked
        for, with every kind), then concatenate small files. Returns days rolled."""
        sealed_before = int(self._clock() * 1000) - self._seal_lag_ms
        manifest = self._drop_old_versions(manifest)
        spans = _spans(manifest)
        targets = [(site, rollups.UTC, True) for site in sorted(spans)]
        targets += [
            (site, tz, True)
            for site, tz in sorted(rollups.wanted(self.segments.path))
            if site in spans and tz != rollups.UTC
        ]
        budget = rollups.PASS_DAYS
        rolled = 0
        for site, tz, full in targets:
            low, high = spans[site]
            first = rollups.day_number(low, tz)
            last = min(rollups.day_number(high, tz), rollups.day_number(sealed_before, tz) - 1)
            covered = {d for r in manifest.rollups if r.site == site and r.tz == tz for d in r.days}
            todo = [d for d in range(first, last + 1) if d not in covered][:budget]
            if not todo:
                continue
            manifest = self._build_rollup(manifest, site, tz, full, todo, (low, high))
            budget -= len(todo)
            rolled += len(todo)
            if budget <= 0:
                break
        manifest, added = self._add_people(manifest, budget)
        return rolled + added + self._concat_rollups(manifest)

    def _add_people(self, manifest: Manifest, budget: int) -> tuple[Manifest, int]:
        """Build the people rows of rollups that lack them (written before people rows, or made with
        another DuckDB hash: see people_rows.py), at most `budget` days. Returns (manifest, days)."""
        key = people_rows.hash_key(self._duckdb())
        spans = _spans(manifest)
        done = 0
        for entry in list(manifest.rollups):
            if done >= budget:
                break
            if (entry.people and entry.people_key == key) or entry.site not in spans:
                continue
            self._source(manifest, entry.site, entry.tz, spans[entry.site])
            stem = f"{manifest.generation + 1}-{os.getpid()}-{time.monotonic_ns()}"
            people = self._copy(people_rows.build_sql(entry.days), f"people-{stem}")
            self._duckdb().execute("DROP VIEW IF EXISTS src")
            manifest = replace(
                manifest,
                generation=manifest.generation + 1,
                retired=list(manifest.retired),
                rollups=[
                    replace(r, people=people, people_key=key) if r is entry else r for r in manifest.rollups
                ],
            )
            if entry.people:
                self.segments.retire(manifest, [entry.people])
            self.segments.save(manifest)
            done += len(entry.days)
        return manifest, done

    def _source(self, manifest: Manifest, site: str, tz: str, span: tuple[int, int]) -> str:
        """Define the view `src`: the site's events with their local day number `dn` in `tz`. Returns the
        UTC offset SQL used."""
        files = self._files(manifest.files_for(site, span[0], span[1] + 1))
        offset = rollups.day_offset_expr(tz, span[0], span[1] + 1)
        literal = "'" + site.replace("'", "''") + "'"
        self._duckdb().execute(
            f"CREATE OR REPLACE TEMP VIEW src AS SELECT *, (ts + {offset}) // {rollups.DAY_MS} AS dn"
            f" FROM read_parquet({files}) WHERE site_id = {literal}"
        )
        return offset

    def _drop_old_versions(self, manifest: Manifest) -> Manifest:
        """Rollups written before the current VERSION, or with the time kinds only (other zones before
        VERSION 3), lack kinds that questions now read: drop them (saved at once), so that this pass and
        the next ones build them again."""
        old = [r for r in manifest.rollups if not r.full or r.version < rollups.VERSION]
        if not old:
            return manifest
        manifest = replace(
            manifest,
            generation=manifest.generation + 1,
            retired=list(manifest.retired),
            rollups=[r for r in manifest.rollups if not any(r is o for o in old)],
        )
        self.segments.retire(manifest, [name for r in old for name in r.names()])
        self.segments.save(manifest)
        return manifest

    def _build_rollup(
        self, manifest: Manifest, site: str, tz: str, full: bool, days: list[int], span: tuple[int, int]
    ) -> Manifest:
        duck = self._duckdb()
        offset = self._source(manifest, site, tz, span)
        # Visitors and visits that cross a local day, closed under sharing an event (rollups.py).
        for table, column in (("bad_v", "vh"), ("bad_s", "sh")):
            duck.execute(
                f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {column} AS h FROM src"
                f" GROUP BY {column} HAVING min(dn) <> max(dn)"
            )
        links = (("bad_v", "vh", "bad_s", "sh"), ("bad_s", "sh", "bad_v", "vh"))
        while True:
            grown = 0
            for table, column, other, other_column in links:
                before = duck.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
                duck.execute(
                    f"INSERT INTO {table} SELECT DISTINCT {column} FROM src"
                    f" WHERE {other_column} IN (SELECT h FROM {other})"
                    f" AND {column} NOT IN (SELECT h FROM {table})"
                )
                grown += duck.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0] - before
            if not grown:
                break
        duck.execute(
            "CREATE OR REPLACE TEMP TABLE r (dn BIGINT, kind VARCHAR, name VARCHAR, g_text VARCHAR,"
            " g_int BIGINT, visitors BIGINT, visits BIGINT, pageviews BIGINT, events BIGINT,"
            " bounces BIGINT, duration BIGINT, lo BIGINT, hi BIGINT)"
        )
        contained = "vh NOT IN (SELECT h FROM bad_v) AND sh NOT IN (SELECT h FROM bad_s)"
        for index in range(0, len(days), rollups.BATCH_DAYS):
            batch = ", ".join(str(int(d)) for d in days[index : index + rollups.BATCH_DAYS])
            duck.execute(
                f"CREATE OR REPLACE TEMP TABLE c AS SELECT * FROM src WHERE dn IN ({batch}) AND {contained}"
            )
            for kind, name in rollups.kinds_for(full):
                duck.execute(f"INSERT INTO r {rollups.kind_sql(kind, name, offset)}")
        listed = ", ".join(str(int(d)) for d in days)
        stem = f"{manifest.generation + 1}-{os.getpid()}-{time.monotonic_ns()}"
        rows_file = self._copy("SELECT * FROM r ORDER BY kind, name, dn", f"rollup-{stem}")
        rest_file = self._copy(
            f"SELECT {', '.join(EV_COLUMNS)}, vh, sh, dn FROM src"
            f" WHERE dn IN ({listed}) AND NOT ({contained}) ORDER BY ts, seq",
            f"rest-{stem}",
        )
        people = self._copy(people_rows.build_sql(days), f"people-{stem}")
        key = people_rows.hash_key(duck)
        for table in ("c", "r", "bad_v", "bad_s"):
            duck.execute(f"DROP TABLE IF EXISTS {table}")
        duck.execute("DROP VIEW IF EXISTS src")
        manifest = replace(
            manifest,
            generation=manifest.generation + 1,
            retired=list(manifest.retired),
            rollups=[
                *manifest.rollups,
                Rollup(site, tz, rows_file, rest_file, sorted(days), full, people=people, people_key=key),
            ],
        )
        self.segments.save(manifest)
        return manifest

    def _copy(self, select_sql: str, stem: str) -> str:
        """Write the rows of `select_sql` as a new file of the segments directory; returns its name."""
        final = self.segments.path / f"{stem}.parquet"
        temporary = final.with_name(final.name + ".tmp")
        self._duckdb().execute(f"COPY ({select_sql}) TO '{temporary}' {PARQUET_OPTIONS}")
        fsync_path(temporary)
        os.chmod(temporary, 0o600)
        os.replace(temporary, final)
        return final.name

    def _concat_rollups(self, manifest: Manifest) -> int:
        """Concatenate the files of a (site, tz) once it has more than MAX_FILES (days never overlap)."""
        groups: dict[tuple[str, str, bool, int], list[Rollup]] = {}
        for entry in manifest.rollups:
            groups.setdefault((entry.site, entry.tz, entry.full, entry.version), []).append(entry)
        merged = 0
        for (site, tz, full, version), entries in groups.items():
            if len(entries) <= rollups.MAX_FILES:
                continue
            stem = f"{manifest.generation + 1}-{os.getpid()}-{time.monotonic_ns()}"
            listed = self._files([e.file for e in entries])
            rows_file = self._copy(
                f"SELECT * FROM read_parquet({listed}) ORDER BY kind, name, dn",
                f"rollup-{stem}",
            )
            rest_file = self._copy(
                f"SELECT * FROM read_parquet({self._files([e.rest for e in entries])}) ORDER BY ts, seq",
                f"rest-{stem}",
            )
            days = sorted(d for e in entries for d in e.days)
            # People rows only when every file has them, made alike (else the next pass builds them).
            people, key = "", entries[0].people_key
            if all(e.people and e.people_key == key for e in entries):
                listed = self._files([e.people for e in entries])
                people = self._copy(
                    f"SELECT * FROM read_parquet({listed}) ORDER BY dn, who", f"people-{stem}"
                )
            kept = [r for r in manifest.rollups if not any(r is e for e in entries)]
            joined = Rollup(site, tz, rows_file, rest_file, days, full, version, people, key if people else 0)
            manifest = replace(
                manifest,
                generation=manifest.generation + 1,
                retired=list(manifest.retired),
                rollups=[*kept, joined],
            )
            self.segments.retire(manifest, [name for e in entries for name in e.names()])
            self.segments.save(manifest)
            merged += 1
        return merged


def _spans(manifest: Manifest) -> dict[str, tuple[int, int]]:
    """The (min, max) ts of each site's events over the manifest's segments."""
    spans: dict[str, tuple[int, int]] = {}
    for segment in manifest.segments:
        for site, (low, high) in segment.sites.items():
            known = spans.get(site)
            spans[site] = (low, high) if known is None else (min(known[0], low), max(known[1], high))
    return spans


def _oldest_by_site(rows: list[tuple[Any, ...]]) -> dict[str, int]:
    """The oldest ts per site among log-shaped rows."""
    oldest: dict[str, int] = {}
    for row in rows:
        site, ts = row[_SITE], int(row[_TS])
        if ts < oldest.get(site, ts + 1):
            oldest[site] = ts
    return oldest
