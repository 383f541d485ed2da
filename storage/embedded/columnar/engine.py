"""The query side of the columnar engine: DuckDB over the segments plus the log's uncompacted tail.

Each query runs on one of a bounded pool of worker threads (`workers`), each with its own DuckDB cursor and
SQLite connection, separate from the log's short-query readers: a long scan occupies one worker, never the
IOLoop or the readers. Every query has a time budget (`timeout_s`): past it, or when the caller is
cancelled (the client went away), the DuckDB statement is interrupted and the worker is free again.

Consistency with the compactor: a query loads the manifest, reads the tail (log rows past its watermark,
one SQLite statement: one snapshot), then checks the manifest again. The compactor deletes log rows only
after publishing the manifest that holds them, so an unchanged manifest means the tail was complete; a
changed one means retry with the new manifest (a handful of ms, and rare).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import msgspec

from storage.embedded.columnar import sql as columnar_sql
from storage.embedded.columnar.segments import (
    EV_COLUMNS,
    HASHES,
    LOG_COLUMNS,
    LOG_SELECT,
    SPILL,
    Manifest,
    SegmentDir,
    rows_to_arrow,
)
from storage.embedded.columnar.slices import FilteredSlices, is_filtered, slice_columns, slice_select
from storage.embedded.sqlite_runner import DEFAULT_PRAGMAS, connect
from storage.errors import QueryTooSlowError, StoreUnavailableError
from storage.ports import EventFilter

T = TypeVar("T")
DEFAULT_TIMEOUT_S = 30.0
_RETRIES = 5
INTERRUPT_AGAIN_S = 0.02


class _Worker(threading.local):
    cursor: duckdb.DuckDBPyConnection | None = None
    sqlite: Any = None


class _Job:
    """The cursor a running query uses, so that another thread can interrupt it."""

    def __init__(self) -> None:
        self.cursor: duckdb.DuckDBPyConnection | None = None
        self.cancelled = False
        self.lock = threading.Lock()

    def interrupt(self) -> None:
        """Stop the query, now or as soon as its statement starts."""
        with self.lock:
            self.cancelled = True
            if self.cursor is None:
                return  # not started: `_call` sees `cancelled` before it runs anything
            self.cursor.interrupt()
        # DuckDB forgets an interrupt that lands before its statement begins (each statement starts
        # uninterrupted), and the query may be between statements: interrupt again until the job lets
        # go of its cursor. Always under the lock, so a later job on the same cursor is never hit.
        threading.Thread(target=self._keep_interrupting, name="eddy-olap-interrupt", daemon=True).start()

    def _keep_interrupting(self) -> None:
        while True:
            time.sleep(INTERRUPT_AGAIN_S)
            with self.lock:
                if self.cursor is None:
                    return
                self.cursor.interrupt()


_TS = 1 + LOG_COLUMNS.index("ts")  # position of ts in a LOG_SELECT row


class Scan:
    """What one query reads: the segment files and the tail, as the relation `ev`; the manifest they
    come from (its rollups) and the oldest ts of the tail (None when empty)."""

    def __init__(
        self,
        cursor: duckdb.DuckDBPyConnection,
        files: list[str],
        tail_rows: int,
        manifest: Manifest | None = None,
        tail_min_ts: int | None = None,
        slices: FilteredSlices | None = None,
        deadline: float | None = None,
    ) -> None:
        self.cursor = cursor
        self.files = files
        self.tail_rows = tail_rows
        self.manifest = manifest or Manifest()
        self.tail_min_ts = tail_min_ts
        self.slices = slices
        self.deadline = deadline  # time.monotonic() past which the question is over its budget

    def _parquet(self) -> str:
        listed = "[" + ", ".join(f"'{name}'" for name in self.files) + "]"
        return f"read_parquet({listed})"

    def ev_sql(self, range_where: str, extra: tuple[str, ...] = (), *, sliced: str = "") -> tuple[str, int]:
        """The SELECT that defines `ev` for this scan (plus `extra` SELECTs without parameters, e.g.
        rollups' rest events), and how many times it takes the range's parameters (once per part).
        `sliced` is the SELECT of a registered slice standing for the segments (see slices.py)."""
        columns = ", ".join(EV_COLUMNS)
        parts = []
        if self.files and not sliced:
            parts.append(f"SELECT {columns}, vh, sh FROM {self._parquet()} WHERE {range_where}")
        if self.tail_rows or not (parts or sliced):
            parts.append(f"SELECT {columns}, {HASHES} FROM tail_rows WHERE {range_where}")
        selects = [sliced, *parts] if sliced else parts
        return " UNION ALL ".join([*selects, *extra]), len(parts)

    def rows(
        self,
        statement: str,
        params: list[Any],
        range_where: str,
        range_params: list[Any],
        extra: tuple[str, ...] = (),
        *,
        sliced: str = "",
    ) -> list[tuple[Any, ...]]:
        """Every row of `statement` (which reads `ev`), with `ev` defined for this scan."""
        ev, parts = self.ev_sql(range_where, extra, sliced=sliced)
        if statement.startswith("WITH "):
            sql = f"WITH ev AS ({ev}), {statement[5:]}"
        else:
            sql = f"WITH ev AS ({ev}) {statement}"
        return self.cursor.execute(sql, [*range_params * parts, *params]).fetchall()

    def filtered_rows(self, flt: EventFilter, statement: str, params: list[Any]) -> list[tuple[Any, ...]]:
        """Every row of `statement` (which reads `ev` and applies `flt` to it), where `ev` covers `flt`'s
        site and range. A filtered question reads the segments through the view's slice (slices.py)."""
        where, where_params = columnar_sql.range_where(flt)
        table = self._slice(flt)
        if table is None:
            return self.rows(statement, params, where, where_params)
        self.cursor.register("slice_rows", table)
        try:
            return self.rows(statement, params, where, where_params, sliced=slice_select(flt, "slice_rows"))
        finally:
            self.cursor.unregister("slice_rows")

    def _slice(self, flt: EventFilter) -> Any:
        """The slice of `flt` over this scan's segments, or None (no slices, nothing to slice, too wide)."""
        if self.slices is None or not self.files or not is_filtered(flt):
            return None
        where, where_params = columnar_sql.filter_where(flt)
        columns = ", ".join(slice_columns(flt))

        def build(limit: int) -> Any:
            sql = f"SELECT {columns} FROM {self._parquet()}{where} LIMIT {int(limit)}"
            return self.cursor.sql(sql, params=where_params).to_arrow_table()

        def count(start: int, end: int) -> int:
            part = msgspec.structs.replace(flt, start=start, end=end)
            part_where, part_params = columnar_sql.filter_where(part)
            sql = f"SELECT count(*) FROM {self._parquet()}{part_where}"
            return int(self.cursor.execute(sql, part_params).fetchall()[0][0])

        wait_s = max(0.0, (self.deadline or time.monotonic()) - time.monotonic())
        return self.slices.get(self.manifest.generation, flt, build, wait_s, count)


class ColumnarEngine:
    """Runs scans over segments + tail on a bounded pool of worker threads."""

    def __init__(
        self,
        log_path: Path,
        segments: SegmentDir,
        *,
        workers: int = 3,
        duckdb_threads: int = 2,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        memory_limit: str = "1GB",
        slices: FilteredSlices | None = None,
    ) -> None:
        self._log_path = log_path
        # The filtered views' slices (slices.py); None answers every question by its own scan.
        self.slices = slices
        self.segments = segments
        self._workers = workers
        self._duckdb_threads = duckdb_threads
        self.timeout_s = timeout_s
        self._memory_limit = memory_limit
        self._db: duckdb.DuckDBPyConnection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._local = _Worker()
        self._opened: list[Any] = []
        self._opened_lock = threading.Lock()
        self.interrupted = 0  # queries stopped past their budget or because their caller went away
        self.running = 0  # queries on a worker now
        self._jobs: set[_Job] = set()  # queries asked and not finished (close interrupts them)

    def open(self) -> None:
        """Create the in-memory DuckDB database and the worker pool."""
        self._db = duckdb.connect()
        self._db.execute(f"SET threads = {int(self._duckdb_threads)}")
        self._db.execute(f"SET memory_limit = '{self._memory_limit}'")
        # Segments and rollup files never change once written (new names for new content): their
        # footers are read once, not by every statement (~10% of a rolled answer at 1M events).
        self._db.execute("SET parquet_metadata_cache = true")
        self.segments.ensure()
        self._db.execute(f"SET temp_directory = '{self.segments.path / SPILL / 'queries'}'")
        self._executor = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="eddy-olap")

    def close(self) -> None:
        """Stop running queries (nobody will read their answers) and release everything."""
        if self._executor is not None:
            with self._opened_lock:
                unfinished = list(self._jobs)
            for job in unfinished:
                job.interrupt()
            self._executor.shutdown(wait=True)
            self._executor = None
        with self._opened_lock:
            for handle in self._opened:
                handle.close()
            self._opened.clear()
        if self._db is not None:
            self._db.close()
            self._db = None

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        if self._local.cursor is None:
            if self._db is None:
                raise StoreUnavailableError("event store is not open")
            self._local.cursor = self._db.cursor()
            with self._opened_lock:
                self._opened.append(self._local.cursor)
        return self._local.cursor

    def _sqlite(self) -> Any:
        if self._local.sqlite is None:
            self._local.sqlite = connect(self._log_path, DEFAULT_PRAGMAS)
            with self._opened_lock:
                self._opened.append(self._local.sqlite)
        return self._local.sqlite

    def _scan(self, flt: EventFilter, deadline: float | None = None) -> Scan:
        """A consistent (files, tail) pair for the filter's site and range; the tail is registered on
        this worker's cursor as `tail_rows`."""
        cursor = self._cursor()
        for _ in range(_RETRIES):
            manifest = self.segments.load()
            rows = (
                self._sqlite()
                .execute(
                    f"SELECT {LOG_SELECT} FROM events WHERE site_id = ? AND ts >= ? AND ts < ? AND seq > ?",
                    (flt.site_id, flt.start, flt.end, manifest.watermark),
                )
                .fetchall()
            )
            if self.segments.load().generation == manifest.generation:
                cursor.register("tail_rows", rows_to_arrow(rows))
                files = [
                    str(self.segments.path / name)
                    for name in manifest.files_for(flt.site_id, flt.start, flt.end)
                ]
                oldest = min((int(row[_TS]) for row in rows), default=None)
                return Scan(cursor, files, len(rows), manifest, oldest, self.slices, deadline)
        raise StoreUnavailableError("the event segments kept changing during a query")

    def _call(self, job: _Job, fn: Callable[[Scan], T], flt: EventFilter, deadline: float) -> T:
        if job.cancelled:
            raise QueryTooSlowError("the question was cancelled before it started")
        scan = self._scan(flt, deadline)
        with job.lock:
            job.cursor = scan.cursor
        with self._opened_lock:
            self.running += 1
        try:
            if job.cancelled:  # interrupted before the cursor was known: interrupt() missed it
                raise QueryTooSlowError("the question was cancelled")
            return fn(scan)
        except duckdb.InterruptException as error:
            raise QueryTooSlowError("the question was stopped") from error
        except (duckdb.IOException, duckdb.OutOfMemoryException) as error:
            raise StoreUnavailableError(f"the event segments could not be read: {error}") from error
        finally:
            with job.lock:
                job.cursor = None
            with self._opened_lock:
                self.running -= 1
            scan.cursor.unregister("tail_rows")

    def _forget(self, job: _Job) -> None:
        with self._opened_lock:
            self._jobs.discard(job)

    async def run(self, fn: Callable[[Scan], T], flt: EventFilter, *, timeout_s: float | None = None) -> T:
        """`fn(scan)` on a worker, where `scan` covers `flt`'s site and range. Raises QueryTooSlowError
        past the time budget; cancelling the caller interrupts the query."""
        if self._executor is None:
            raise StoreUnavailableError("event store is not open")
        job = _Job()
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        with self._opened_lock:
            self._jobs.add(job)
        future = loop.run_in_executor(self._executor, self._call, job, fn, flt, deadline)
        future.add_done_callback(lambda _: self._forget(job))
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout_s or self.timeout_s)
        except TimeoutError:
            job.interrupt()
            self.interrupted += 1
            future.add_done_callback(_consume)
            raise QueryTooSlowError(
                f"the question took longer than {timeout_s or self.timeout_s:g} seconds"
            ) from None
        except asyncio.CancelledError:
            job.interrupt()
            self.interrupted += 1
            future.add_done_callback(_consume)
            raise


def _consume(future: Any) -> None:
    """Retrieve an abandoned query's outcome (an interrupt error) so asyncio does not log it."""
    if not future.cancelled():
        future.exception()
