"""EventStore on SQLite: one row per event in `<data_dir>/events.db`.

Appends run in one IMMEDIATE transaction per batch on a single writer thread (group commit happens above
us, in the ingest writer); readers use their own connections so queries never wait on the writer (WAL).
Duplicate ids are skipped through the `event_ids` table, written in the same transaction as the events,
so a retried batch is never stored twice even across processes sharing the file.

An append builds its rows in Python first, then takes the cross-process `WriteLock` for the SQLite work
only (claim ids, insert, COMMIT), so workers of `--processes N` overlap their Python work and hand the file
to each other without SQLite's sleep-polling. Nothing else happens in the ingest transaction: the
compactor moves the log into columnar segments off the ingest path, and every question is answered there
(storage/embedded/columnar/).

Durability: the writer commits with synchronous=NORMAL (the COMMIT writes its WAL frames but does not
wait for the disk) and then, after letting go of the lock, `WalSync` fdatasyncs the WAL file before
`append` returns. When `append` returns the batch is on disk exactly as with synchronous=FULL, but the
disk flush no longer holds the lock, so the other workers commit while this one waits for the disk.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import orjson
from msgspec.structs import astuple

from storage.embedded.aggregates import rows_to_aggregates
from storage.embedded.bulk import insert_rows, without_empty_columns
from storage.embedded.columnar import compactor_process, people, people_rows, rollups
from storage.embedded.columnar import sql as columnar_sql
from storage.embedded.columnar.compactor import Compactor
from storage.embedded.columnar.engine import DEFAULT_TIMEOUT_S, ColumnarEngine, Scan
from storage.embedded.columnar.rollup_reader import Wants, rolled_rows
from storage.embedded.columnar.segments import SegmentDir
from storage.embedded.columnar.slices import FilteredSlices
from storage.embedded.sqlite_runner import DEFAULT_PRAGMAS, SqliteRunner, transaction
from storage.errors import StoreUnavailableError, opened
from storage.ports import Aggregate, EventFilter, Grouping
from storage.records import Event

T = TypeVar("T")

# Column order of the events table (after the rowid `seq`): the Event's own fields, in its order, so
# event_row and row_event are the struct's own layout.
COLUMNS: tuple[str, ...] = Event.__struct_fields__
_SELECT = ", ".join(COLUMNS)
_INSERT = f"INSERT INTO events ({_SELECT})"
DEDUPE_WINDOW_MS = 48 * 3600 * 1000
BULK_SEGMENT_ROWS = 1_000_000  # rows a bulk load writes per segment (sorted in one DuckDB pass)
_ID_CHUNK = 500
# Columns a batch may leave empty throughout (every one but the four each event has): written as literals.
_SPARSE = tuple(range(4, len(COLUMNS)))


def event_row(event: Event) -> tuple[Any, ...]:
    """The row tuple for one event, in COLUMNS order (the Event's own field order)."""
    # astuple is one C call; building the tuple field by field cost ~3x more per event.
    row = astuple(event)
    props, traits = row[-2], row[-1]
    return (
        *row[:-2],
        orjson.dumps(props).decode() if props else None,
        orjson.dumps(traits).decode() if traits else None,
    )


def row_event(row: Sequence[Any]) -> Event:
    """The Event for a row selected in COLUMNS order."""
    values = dict(zip(COLUMNS, row, strict=True))
    values["props"] = orjson.loads(values["props"]) if values["props"] else {}
    values["traits"] = orjson.loads(values["traits"]) if values["traits"] else {}
    return Event(**values)


def _claim_ids(conn: sqlite3.Connection, keys: dict[str, Event], now: int) -> list[Event]:
    """Record the batch's dedupe keys and return the events not stored before (inside the append's
    transaction). Retries are rare, so the keys are inserted first with OR IGNORE: when every row goes in
    (the usual case) no lookup is needed; otherwise the insert is undone and the stored keys are read."""
    rows = [(key, now) for key in keys]
    conn.execute("SAVEPOINT claim")
    inserted = insert_rows(conn, "INSERT OR IGNORE INTO event_ids (key, stored_at)", rows)
    if inserted == len(rows):
        conn.execute("RELEASE claim")
        return list(keys.values())
    conn.execute("ROLLBACK TO claim")
    conn.execute("RELEASE claim")
    existing: set[str] = set()
    key_list = list(keys)
    for start in range(0, len(key_list), _ID_CHUNK):
        chunk = key_list[start : start + _ID_CHUNK]
        marks = ",".join("?" * len(chunk))
        existing.update(
            row[0] for row in conn.execute(f"SELECT key FROM event_ids WHERE key IN ({marks})", chunk)
        )
    insert_rows(
        conn, "INSERT INTO event_ids (key, stored_at)", [row for row in rows if row[0] not in existing]
    )
    return [event for key, event in keys.items() if key not in existing]


# The interpreter's switch interval while a writer holds the lock (the default is 5 ms): see WriteLock.
HELD_SWITCH_INTERVAL_S = 0.0002


class _ShortSwitchInterval:
    """Lowers the process's switch interval while at least one writer holds its lock, and restores the
    previous value when the last one lets go (several stores in one process may overlap)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._holders = 0
        self._saved = sys.getswitchinterval()

    def enter(self) -> None:
        with self._mutex:
            if self._holders == 0:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(HELD_SWITCH_INTERVAL_S)
            self._holders += 1

    def exit(self) -> None:
        with self._mutex:
            self._holders -= 1
            if self._holders == 0:
                sys.setswitchinterval(self._saved)


_SHORT_SWITCH = _ShortSwitchInterval()


class WriteLock:
    """An exclusive `flock` on `<events.db>.lock`, held around each append by every process writing to
    the file. SQLite's own lock makes a waiting writer poll with sleeps of up to 100 ms; a blocked flock
    wakes the moment the holder lets go, so processes hand the file over without idle gaps.

    While it holds the lock, the writer thread runs SQLite without the GIL and takes the GIL back
    between statements (about 24 a commit). A busy event loop keeps the GIL until the interpreter's
    switch interval forces it off, 5 ms by default, and every process waiting for the file waits with
    it; so with `shared` (several processes append to the file) the interval is lowered to
    HELD_SWITCH_INTERVAL_S while the lock is held and restored when it is let go. A lone process keeps the
    default: nobody waits for its lock, and the forced switches cost its event loop CPU."""

    def __init__(self, path: Path, *, shared: bool = False) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self._shared = shared

    def __enter__(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)  # blocks the writer thread only (the GIL is released)
        if self._shared:
            _SHORT_SWITCH.enter()

    def __exit__(self, *exc: object) -> None:
        if self._shared:
            _SHORT_SWITCH.exit()
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Release the file descriptor."""
        os.close(self._fd)


# The writer's connection: as DEFAULT_PRAGMAS, but COMMIT leaves the WAL flush to WalSync (see above).
# The writer's page cache is smaller than the readers': it appends near the right edge of the events
# table and of the (time-ordered) id index, and the compactor keeps the log small, so 16 MiB holds its
# working set. A 64 MiB cache kept growing for minutes as the id index grew, and the process's RSS with it.
WRITER_CACHE_KIB = 16_384
WRITER_PRAGMAS = tuple(
    "PRAGMA synchronous=NORMAL"
    if pragma.startswith("PRAGMA synchronous")
    else f"PRAGMA cache_size=-{WRITER_CACHE_KIB}"
    if pragma.startswith("PRAGMA cache_size")
    else pragma
    for pragma in DEFAULT_PRAGMAS
)


class WalSync:
    """fdatasync of `<db>-wal`: the flush a synchronous=FULL COMMIT would do, run after the write lock is
    released. Used on the writer thread only.

    SQLite deletes the WAL file only when the last connection to the database closes, and ours stays
    open, so one descriptor normally serves for good; the inode is checked anyway (one stat per commit)
    and the file reopened if it was replaced. Each (re)open also flushes the directory, so a WAL file
    created since the last checkpoint has a durable name."""

    def __init__(self, db_path: Path) -> None:
        self._path = db_path.with_name(db_path.name + "-wal")
        self._fd: int | None = None
        self._inode = -1

    def __call__(self) -> None:
        inode = os.stat(self._path).st_ino
        if self._fd is None or inode != self._inode:
            self.close()
            self._fd = os.open(self._path, os.O_RDONLY)
            self._inode = os.fstat(self._fd).st_ino
            directory = os.open(self._path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        os.fdatasync(self._fd)

    def close(self) -> None:
        """Release the descriptor."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class SqliteEventStore:
    """Events in `<data_dir>/events.db` (the durable log) and `<data_dir>/segments/` (the columnar copy
    every question reads, see storage/embedded/columnar/)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        reader_threads: int = 2,
        shared: bool = False,
        compact_interval_s: float | None = 2.0,
        query_timeout_s: float = DEFAULT_TIMEOUT_S,
        query_workers: int = 3,
        use_rollups: bool = True,
    ) -> None:
        self.path = Path(data_dir) / "events.db"
        self.segment_dir = SegmentDir(Path(data_dir) / "segments")
        self._wants = Wants(self.segment_dir.path)
        # Off only to measure the scans rollups replace (bench/query.py): answers are the same either way.
        self.use_rollups = use_rollups
        # Questions about people answered from the people rows of sealed days (people_rows.py).
        self.people_rows_read = 0
        self._people_rows_lock = threading.Lock()
        self._compact_interval = compact_interval_s
        self._query_timeout = query_timeout_s
        self._query_workers = query_workers
        self.compactor: Compactor | None = None
        self.engine: ColumnarEngine | None = None
        self._compactor_lock: WriteLock | None = None
        self._compactor_process: subprocess.Popen[bytes] | None = None
        self._shared = shared  # other processes append to the same file (--processes N)
        self._reader_threads = reader_threads
        self._writer: SqliteRunner | None = None
        self._readers: SqliteRunner | None = None
        self._appends = 0
        self._lock: WriteLock | None = None
        self._sync: WalSync | None = None

    @property
    def shared(self) -> bool:
        """Whether other processes append to the same file (set from `--processes N`)."""
        return self._shared

    @property
    def writer(self) -> SqliteRunner:
        return opened(self._writer, "event store")

    @property
    def readers(self) -> SqliteRunner:
        return opened(self._readers, "event store")

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = WriteLock(self.path.with_name(self.path.name + ".lock"), shared=self._shared)
        self._sync = WalSync(self.path)
        self._writer = SqliteRunner(self.path, threads=1, name="eddy-events-w", pragmas=WRITER_PRAGMAS)
        await self._writer.run(self._create_schema)
        self._readers = SqliteRunner(self.path, threads=self._reader_threads, name="eddy-events-r")
        # The compactor's own descriptor of the log's write lock: its deletes take turns with appends.
        self._compactor_lock = WriteLock(self.path.with_name(self.path.name + ".lock"))
        # This process's compactor serves explicit passes (retention, deletes, bulk loads, compact_now);
        # the periodic ones run in a compactor process of their own (compactor_process.py).
        self.compactor = Compactor(self.path, self.segment_dir, self._compactor_lock)
        self.compactor.start()
        if self._compact_interval is not None:
            self._compactor_process = compactor_process.spawn(self.path.parent, self._compact_interval)
        self.engine = ColumnarEngine(
            self.path,
            self.segment_dir,
            workers=self._query_workers,
            timeout_s=self._query_timeout,
            slices=FilteredSlices(),
        )
        self.engine.open()

    @staticmethod
    def _create_schema(conn: sqlite3.Connection) -> None:
        types = {"ts": "INTEGER NOT NULL", "props": "TEXT", "traits": "TEXT"}  # JSON or NULL when empty
        columns = ", ".join(f"{name} {types.get(name, 'TEXT NOT NULL')}" for name in COLUMNS)
        # AUTOINCREMENT: a seq is never reused, even once the compactor has deleted the newest rows, so
        # every row past the segments' watermark is new (storage/embedded/columnar/compactor.py).
        table = f"(seq INTEGER PRIMARY KEY AUTOINCREMENT, {columns})"
        # One write transaction from the look to the last change: processes opening a new data dir at
        # the same moment take turns (the second sees the first's table), none fails on "already exists".
        conn.execute("BEGIN IMMEDIATE")
        try:
            existing = conn.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'"
            ).fetchone()
            if existing is None:
                conn.execute(f"CREATE TABLE events {table}")
            elif "AUTOINCREMENT" not in existing[0].upper():  # a log made before segments existed
                conn.execute(f"CREATE TABLE events_autoinc {table}")
                conn.execute(f"INSERT INTO events_autoinc (seq, {_SELECT}) SELECT seq, {_SELECT} FROM events")
                conn.execute("DROP TABLE events")
                conn.execute("ALTER TABLE events_autoinc RENAME TO events")
            conn.execute("CREATE INDEX IF NOT EXISTS ix_events_site_ts ON events (site_id, ts)")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS event_ids (key TEXT PRIMARY KEY, stored_at INTEGER NOT NULL)"
                " WITHOUT ROWID"
            )
            # Hourly rollups once lived in the ingest transaction; segments answer everything now.
            for name in ("rollup", "rollup_seen", "rollup_sessions"):
                conn.execute(f"DROP TABLE IF EXISTS {name}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        if self._compactor_process is not None:
            process, self._compactor_process = self._compactor_process, None
            await asyncio.get_running_loop().run_in_executor(None, compactor_process.stop, process)
        if self.compactor is not None:
            compactor, self.compactor = self.compactor, None
            await asyncio.get_running_loop().run_in_executor(None, compactor.stop)
        if self.engine is not None:
            self.engine.close()
            self.engine = None
        if self._compactor_lock is not None:
            self._compactor_lock.close()
            self._compactor_lock = None
        for runner in (self._writer, self._readers):
            if runner is not None:
                runner.close()
        self._writer = self._readers = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    async def ping(self) -> None:
        await self.readers.run(lambda conn: conn.execute("SELECT 1").fetchone())

    async def append(self, events: Sequence[Event]) -> int:
        if not events:
            return 0
        self._appends += 1
        prune = self._appends % 1000 == 1
        try:
            return await self.writer.run(self._append, list(events), prune, self._lock, self._sync)
        except sqlite3.Error as error:
            raise StoreUnavailableError(f"event append failed: {error}") from error

    @staticmethod
    def _append(
        conn: sqlite3.Connection,
        events: list[Event],
        prune: bool,
        lock: WriteLock | None = None,
        sync: WalSync | None = None,
    ) -> int:
        now = int(time.time() * 1000)
        batch = {f"{e.site_id}:{e.id}": e for e in events}  # also drops repeats inside the batch
        # Rows are pure Python: worked out before the lock, so other processes appending to the same
        # file keep committing meanwhile; only SQLite's own work holds the lock.
        marks, rows = without_empty_columns([event_row(e) for e in batch.values()], _SPARSE)

        def write(conn: sqlite3.Connection) -> int:
            fresh = _claim_ids(conn, batch, now)
            if len(fresh) == len(batch):
                insert_rows(conn, _INSERT, rows, marks=marks)
            elif fresh:  # a retried batch: store only the events not seen before
                insert_rows(conn, _INSERT, [event_row(e) for e in fresh])
            if prune:
                conn.execute("DELETE FROM event_ids WHERE stored_at < ?", (now - DEDUPE_WINDOW_MS,))
            return len(fresh)

        if lock is None:
            stored = transaction(conn, write)
        else:
            with lock:
                stored = transaction(conn, write)
        if sync is not None:
            sync()  # outside the lock: the others commit while this batch reaches the disk
        return stored

    def _durably(self, conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`transaction(conn, fn)` on the writer, then the WAL flush its synchronous=NORMAL skipped."""
        result = transaction(conn, fn)
        if self._sync is not None:
            self._sync()
        return result

    def _engine(self) -> ColumnarEngine:
        return opened(self.engine, "event store")

    async def compact_now(self) -> int:
        """Move every log row into segments now (waits for another process's pass); returns rows moved."""
        compactor = opened(self.compactor, "event store")
        loop = asyncio.get_running_loop()
        moved = 0
        while True:
            step = await loop.run_in_executor(None, compactor.run, compactor.compact)
            moved += int(step or 0)
            if not step:
                break
        # Then the rollups of sealed days, until none is left to build.
        while await loop.run_in_executor(None, compactor.run, compactor.roll_up):
            pass
        return moved

    async def bulk_load(self, batches: AsyncIterable[Sequence[Event]] | Iterable[Sequence[Event]]) -> int:
        """Store many events fast, straight into segments (no log, no dedupe, no rollup of acks): for
        imports, demo data and benchmarks. Returns how many were stored."""
        compactor = opened(self.compactor, "event store")
        loop = asyncio.get_running_loop()
        pending: list[tuple[Any, ...]] = []
        stored = 0
        # One segment is written (executor) while the next batch is made (caller's generator): the
        # two overlap, so a load takes about the longer of the two instead of their sum.
        writing: asyncio.Future[Any] | None = None

        async def flush() -> int:
            nonlocal writing
            rows, pending[:] = list(pending), []
            done = int(await writing or 0) if writing is not None else 0
            writing = loop.run_in_executor(None, compactor.run, lambda m: compactor.add_bulk(m, rows))
            return done

        async def each() -> AsyncIterator[Sequence[Event]]:
            if isinstance(batches, AsyncIterable):
                async for batch in batches:
                    yield batch
            else:
                for batch in batches:
                    yield batch

        async for batch in each():
            pending.extend((0, *event_row(event)) for event in batch)
            if len(pending) >= BULK_SEGMENT_ROWS:
                stored += await flush()
        try:
            if pending:
                stored += await flush()
        finally:
            if writing is not None:
                stored += int(await writing or 0)
        return stored

    async def read(self, flt: EventFilter, *, batch_size: int = 1000) -> AsyncIterator[list[Event]]:
        columns = ", ".join(COLUMNS)
        last: tuple[int, int] = (flt.start - 1, -(2**62))
        while True:

            def page(scan: Scan, cursor: tuple[int, int] = last) -> list[tuple[Any, ...]]:
                sql, params = columnar_sql.page_sql(flt, columns, cursor, batch_size)
                return scan.rows(sql, params, *columnar_sql.range_where(flt))  # type: ignore[no-any-return]

            rows = await self._engine().run(page, flt)
            if not rows:
                return
            last = (rows[-1][3], rows[-1][0])
            yield [row_event(row[1:]) for row in rows]
            if len(rows) < batch_size:
                return

    async def count(self, flt: EventFilter) -> int:
        def count(scan: Scan) -> int:
            sql, params = columnar_sql.count_sql(flt)
            return int(scan.filtered_rows(flt, sql, params)[0][0])

        return await self._engine().run(count, flt)

    async def aggregate(
        self, flt: EventFilter, grouping: Grouping | None = None, *, sort: str = "visitors", limit: int = 0
    ) -> list[Aggregate]:
        grouping = grouping or Grouping()
        sql, params = columnar_sql.aggregate_sql(flt, grouping, sort, limit)
        directory = self.segment_dir.path

        def run(scan: Scan) -> list[Aggregate]:
            plan = None
            if self.use_rollups:
                plan = rollups.plan(scan.manifest.rollups, flt, grouping, scan.tail_min_ts)
            if plan is None:
                self._wants.note(scan.manifest, flt, grouping)
                rows = scan.filtered_rows(flt, sql, params)
                return rows_to_aggregates(rows, grouping)
            rows = rolled_rows(scan, plan, directory, flt, grouping, sort, limit)
            return rows_to_aggregates(rows, grouping)

        return await self._engine().run(run, flt)

    async def step_marks(
        self, flt: EventFilter, steps: Sequence[tuple[str, str]]
    ) -> list[tuple[str, int, str, int]]:
        sql, params = columnar_sql.step_marks_sql(flt, list(steps))

        def run(scan: Scan) -> list[tuple[str, int, str, int]]:
            rows = scan.filtered_rows(flt, sql, params)
            return [(str(who), int(ts), str(event_id), int(mask)) for who, ts, event_id, mask in rows]

        return await self._engine().run(run, flt)

    async def identity_days(self, flt: EventFilter, tz: str) -> list[tuple[str, str]]:
        sql, params = columnar_sql.identity_days_sql(flt, tz)

        def run(scan: Scan) -> list[tuple[str, str]]:
            rows = scan.filtered_rows(flt, sql, params)
            return [(str(who), str(day)) for who, day in rows]

        return await self._engine().run(run, flt)

    async def funnel_reach(
        self, flt: EventFilter, steps: Sequence[tuple[str, str]], window_ms: int
    ) -> list[int]:
        sql, params = people.funnel_sql(flt, steps, window_ms)

        def run(scan: Scan) -> list[int]:
            row = scan.filtered_rows(flt, sql, params)[0]
            return [int(count) for count in row]

        return await self._engine().run(run, flt)

    async def week_cohorts(self, flt: EventFilter, tz: str) -> list[tuple[str, int, int]]:
        def run(scan: Scan) -> list[tuple[str, int, int]]:
            rows = self._people_answer(scan, flt, tz, people.cohorts_sql)
            return [
                (people.day_iso(int(first)), (int(week) - int(first)) // 7, int(n)) for first, week, n in rows
            ]

        return await self._engine().run(run, flt)

    async def active_people(
        self, flt: EventFilter, tz: str, first: str, last: str
    ) -> list[tuple[str, int, int, int]]:
        lo = people.day_number(dt.date.fromisoformat(first))
        hi = people.day_number(dt.date.fromisoformat(last))

        def run(scan: Scan) -> list[tuple[str, int, int, int]]:
            return people.active_rows(self._people_answer(scan, flt, tz, people.active_sql), lo, hi)

        return await self._engine().run(run, flt)

    def _people_answer(
        self, scan: Scan, flt: EventFilter, tz: str, statement: people_rows.Statement
    ) -> list[tuple[Any, ...]]:
        """The rows of a people question (people.active_sql or cohorts_sql): from the people rows of the
        sealed days and a scan of the rest when they answer it (people_rows.py), else from a scan."""
        plan = None
        if self.use_rollups:
            key = people_rows.hash_key(scan.cursor)
            plan = people_rows.plan(scan.manifest.rollups, flt, tz, scan.tail_min_ts, key)
        if plan is None:
            # A day series in `tz` asks for the zone's rollups, and people rows come with them.
            self._wants.note(scan.manifest, flt, Grouping(kind="time", unit="day", tz=tz))
            sql, params = statement(flt, tz, "")
            return scan.filtered_rows(flt, sql, params)
        with self._people_rows_lock:
            self.people_rows_read += 1
        return people_rows.answer_rows(scan, plan, self.segment_dir.path, flt, tz, statement)

    async def _rewrite_segments(
        self, condition: str, params: list[Any], site_id: str | None, before: int | None
    ) -> int:
        compactor = opened(self.compactor, "event store")

        def touches(segment: Any) -> bool:
            if site_id is not None and site_id not in segment.sites:
                return False
            if before is None:
                return True
            spans = [segment.sites[site_id]] if site_id is not None else list(segment.sites.values())
            return any(span[0] < before for span in spans)

        loop = asyncio.get_running_loop()
        removed = await loop.run_in_executor(
            None,
            compactor.run,
            lambda manifest: compactor.rewrite_without(manifest, condition, params, touches, before=before),
        )
        return int(removed or 0)

    async def purge_before(self, site_id: str, before_ms: int) -> int:
        def purge(conn: sqlite3.Connection) -> int:
            sql = "DELETE FROM events WHERE site_id = ? AND ts < ?"
            return int(conn.execute(sql, (site_id, before_ms)).rowcount)

        logged = await self.writer.run(self._durably, purge)
        compacted = await self._rewrite_segments(
            "site_id = ? AND ts < ?", [site_id, before_ms], site_id, before_ms
        )
        return logged + compacted

    async def purge_all_before(self, before_ms: int) -> int:
        """Delete every site's events older than `before_ms` (the server-wide retention)."""

        def purge(conn: sqlite3.Connection) -> int:
            return int(conn.execute("DELETE FROM events WHERE ts < ?", (before_ms,)).rowcount)

        logged = await self.writer.run(self._durably, purge)
        return logged + await self._rewrite_segments("ts < ?", [before_ms], None, before_ms)

    async def delete_site(self, site_id: str) -> None:
        def delete(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM events WHERE site_id = ?", (site_id,))

        await self.writer.run(self._durably, delete)
        await self._rewrite_segments("site_id = ?", [site_id], site_id, None)
