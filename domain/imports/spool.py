"""A temporary on-disk spool of parsed events (SQLite, stdlib): the first pass writes every good row
here, so nothing reaches the event store until the whole file was read (a file that turns out unusable
leaves nothing behind), and the second pass takes the events back day by day, in time order, without the
file or its events in memory. Repeated ids within the file are kept once (INSERT OR IGNORE).

Everything here is blocking: callers run it in an executor thread.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from storage.records import Event

DAY_MS = 86_400_000
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Event)


class SpoolFile:
    """A scratch SQLite file of queued rows, written in chunks and deleted on close. No journal and no
    syncs: if anything fails the file is thrown away, never read again."""

    CHUNK = 5000

    def __init__(self, path: Path, schema: str, insert: str) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=OFF")
        self._conn.execute("PRAGMA synchronous=OFF")
        self._conn.execute(schema)
        self._insert = insert
        self._pending: list[tuple[Any, ...]] = []

    def _queue(self, row: tuple[Any, ...]) -> None:
        self._pending.append(row)
        if len(self._pending) >= self.CHUNK:
            self.commit()

    def commit(self) -> int:
        """Write the queued rows; returns how many were added (a row the table ignores is not)."""
        before = self._conn.total_changes
        self._conn.executemany(self._insert, self._pending)
        self._conn.commit()
        self._pending = []
        return self._conn.total_changes - before

    def close(self) -> None:
        """Close and delete the spool."""
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)


class Spool(SpoolFile):
    """Events of one import, on disk."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            path,
            "CREATE TABLE IF NOT EXISTS spool (id TEXT PRIMARY KEY, day INTEGER, ts INTEGER, body BLOB)",
            "INSERT OR IGNORE INTO spool VALUES (?, ?, ?, ?)",
        )

    def add(self, event: Event) -> None:
        """Queue one event (written in chunks)."""
        self._queue((event.id, event.ts // DAY_MS, event.ts, _encoder.encode(event)))

    def count(self) -> int:
        """How many distinct events are spooled."""
        self.commit()
        return int(self._conn.execute("SELECT count(*) FROM spool").fetchone()[0])

    def days(self) -> list[int]:
        """The UTC days (epoch day numbers) the events fall on, in order."""
        self.commit()
        self._conn.execute("CREATE INDEX IF NOT EXISTS ix_spool_day ON spool (day, ts)")
        return [row[0] for row in self._conn.execute("SELECT DISTINCT day FROM spool ORDER BY day")]

    def day_batches(self, day: int, size: int = 1000) -> Iterator[list[Event]]:
        """A day's events in time order, `size` at a time."""
        cursor = self._conn.execute("SELECT body FROM spool WHERE day = ? ORDER BY ts, id", (day,))
        while rows := cursor.fetchmany(size):
            yield [_decoder.decode(row[0]) for row in rows]
