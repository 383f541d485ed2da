"""Bus on a SQLite file shared by the worker processes of one box (`--processes N` without Redis).

Without it each worker's bus reached its own subscribers only: a logout, a deleted key, a removed member
or a changed metric config took effect in one worker, and live dashboards missed the other workers'
events. Redis stays the scale-out path (several boxes); this is for one box, with nothing to run beside.

A publish appends rows to `bus_messages` (one transaction for `publish_many`); every process polls the
table for rows after the last id it has seen, every `poll_s` (and at once after its own publish), and
hands each row to its local subscribers of that channel, in id order. Row ids are given under SQLite's
single write lock, so a reader never sees a later id before an earlier one commits. A process starts
reading at the newest row when it opens (no history is replayed, as with Redis pub/sub). Rows older than
`retain_s` are deleted by whichever process publishes. Delivery delay: `poll_s` at most plus the read
(BENCHMARKS.md: the bus row). The file lives in the data directory (`bus.db`), private like the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from runtime.tasks import cancel_and_wait
from storage.embedded.sqlite_runner import SqliteRunner, transaction
from storage.ports import Callback
from storage.subscribers import Subscribers, Subscription

log = logging.getLogger("eddy.bus")

FILE_NAME = "bus.db"
POLL_S = 0.02
RETAIN_S = 60.0
PRUNE_EVERY_S = 5.0
READ_BATCH = 1000
# Messages are notifications (a revocation, a delta), not data of record: a lost one after power loss
# is repaired by the caches' expiry; NORMAL spares an fsync per publish.
PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA temp_store=MEMORY",
)
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS bus_messages ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, data BLOB NOT NULL, at REAL NOT NULL)"
)


def _create(conn: sqlite3.Connection) -> int:
    conn.execute(SCHEMA)
    row = conn.execute("SELECT COALESCE(MAX(id), 0) FROM bus_messages").fetchone()
    return int(row[0])


def _append(conn: sqlite3.Connection, rows: list[tuple[str, bytes, float]], prune_before: float) -> None:
    def write(c: sqlite3.Connection) -> None:
        c.executemany("INSERT INTO bus_messages (channel, data, at) VALUES (?, ?, ?)", rows)
        if prune_before:
            c.execute("DELETE FROM bus_messages WHERE at < ?", (prune_before,))

    transaction(conn, write)


def _read(conn: sqlite3.Connection, after: int) -> list[tuple[int, str, bytes]]:
    return conn.execute(
        "SELECT id, channel, data FROM bus_messages WHERE id > ? ORDER BY id LIMIT ?", (after, READ_BATCH)
    ).fetchall()


class SqliteBus:
    """Fan-out between the processes that share one data directory."""

    def __init__(self, data_dir: Path, *, poll_s: float = POLL_S, retain_s: float = RETAIN_S) -> None:
        self._path = Path(data_dir) / FILE_NAME
        self.poll_s = poll_s
        self.retain_s = retain_s
        self._subscribers = Subscribers()
        self._writer: SqliteRunner | None = None
        self._reader: SqliteRunner | None = None
        self._last_id = 0
        self._last_prune = 0.0
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._healthy = True

    @property
    def healthy(self) -> bool:
        return self._healthy

    async def open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        # Separate threads for writes and the poll: a publish never waits behind a read, nor the reverse.
        self._writer = SqliteRunner(self._path, name="bus-write", pragmas=PRAGMAS)
        self._reader = SqliteRunner(self._path, name="bus-read", pragmas=PRAGMAS)
        self._last_id = await self._writer.run(_create)
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._poll(), name="sqlite-bus-poll")

    async def close(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        for runner in (self._writer, self._reader):
            if runner is not None:
                await asyncio.get_running_loop().run_in_executor(None, runner.close)
        self._writer = self._reader = None
        self._subscribers.clear()

    async def ping(self) -> None:
        if self._reader is None:
            raise ConnectionError("the bus is not open")
        await self._reader.run(lambda conn: conn.execute("SELECT 1").fetchone())

    async def publish(self, channel: str, data: bytes) -> None:
        await self.publish_many([(channel, data)])

    async def publish_many(self, messages: Sequence[tuple[str, bytes]]) -> None:
        if not messages:
            return
        if self._writer is None:
            raise ConnectionError("the bus is not open")
        now = time.time()
        prune_before = 0.0
        if now - self._last_prune >= PRUNE_EVERY_S:
            self._last_prune = now
            prune_before = now - self.retain_s
        rows = [(channel, bytes(data), now) for channel, data in messages]
        await self._writer.run(_append, rows, prune_before)
        self._wake.set()  # this process reads it at once, not a poll later

    async def subscribe(self, channel: str, callback: Callback) -> Subscription:
        self._subscribers.add(channel, callback)
        return Subscription(self._subscribers.discard, channel, callback)

    async def _poll(self) -> None:
        while True:
            try:
                assert self._reader is not None
                rows = await self._reader.run(_read, self._last_id)
                self._healthy = True
            except Exception as error:  # noqa: BLE001 - e.g. the disk is full: retry, say so once
                if self._healthy:
                    log.warning("the bus file cannot be read: %s", error)
                self._healthy = False
                await asyncio.sleep(1.0)
                continue
            for row_id, channel, data in rows:
                self._last_id = row_id
                await self._subscribers.deliver(channel, bytes(data))
            if len(rows) == READ_BATCH:
                continue  # more waiting
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
