"""Key-value store on a SQLite file shared by the worker processes of one box (`--processes N` without
Redis), and `RoutedKeyValue`, which sends only some keys there.

Without it every worker kept its own counters: the per-address sign-in limit was N times the limit, and
visitors now counted one worker's visitors. Only keys whose counts must be the box's are shared
(`SHARED_PREFIXES`: the account throttles and the live visitor sets); the per-request ingest limits, the
visit sessions and the stats cache stay in each worker's memory, where a write per event costs nothing
(a shared SQLite write per request would cost more than the ingest itself). Redis stays the path that
shares everything.

Tables: `kv(key, value, counter, expires_at)` (a counter is kept as an integer and reads back as its
decimal text, as Redis does) and `kv_members(key, member, score, expires_at)`. Every operation is one
transaction (`BEGIN IMMEDIATE`), so a read-modify-write such as `hit` is atomic across processes.
Expired rows are ignored when read and deleted every `SWEEP_S`.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from runtime.periodic import Periodic
from storage.embedded.sqlite_runner import SqliteRunner, transaction
from storage.ports import KeyValue

log = logging.getLogger("eddy.kv")

FILE_NAME = "shared.db"
SWEEP_S = 30.0
# Throttles of people (sign-in, registration, API, bad credentials: domain/accounts/throttle.py) and the
# live visitor sets (domain/live/messages.py VISITORS_KEY_PREFIX; a test holds the two equal).
SHARED_PREFIXES = ("throttle:", "live:visitors:")
PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",  # counters and visitor marks, not data of record
    "PRAGMA busy_timeout=10000",
    "PRAGMA temp_store=MEMORY",
)
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB, counter INTEGER, expires_at REAL)",
    "CREATE TABLE IF NOT EXISTS kv_members (key TEXT NOT NULL, member TEXT NOT NULL, score REAL NOT NULL,"
    " expires_at REAL NOT NULL, PRIMARY KEY (key, member))",
)

_LIVE = "(expires_at IS NULL OR expires_at > ?)"


def _create(conn: sqlite3.Connection) -> None:
    for statement in SCHEMA:
        conn.execute(statement)


def _get(conn: sqlite3.Connection, key: str, now: float) -> bytes | None:
    row = conn.execute(f"SELECT value, counter FROM kv WHERE key = ? AND {_LIVE}", (key, now)).fetchone()
    if row is None:
        return None
    value, counter = row
    return str(counter).encode() if counter is not None else bytes(value)


def _set(conn: sqlite3.Connection, key: str, value: bytes, expires_at: float) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO kv (key, value, counter, expires_at) VALUES (?, ?, NULL, ?)",
        (key, value, expires_at),
    )


def _set_if_absent(conn: sqlite3.Connection, key: str, value: bytes, expires_at: float, now: float) -> bool:
    def write(c: sqlite3.Connection) -> bool:
        if c.execute(f"SELECT 1 FROM kv WHERE key = ? AND {_LIVE}", (key, now)).fetchone():
            return False
        _set(c, key, value, expires_at)
        return True

    return transaction(conn, write)


def _incr(conn: sqlite3.Connection, key: str, ttl: float | None, now: float) -> tuple[int, float | None]:
    def write(c: sqlite3.Connection) -> tuple[int, float | None]:
        row = c.execute(
            f"SELECT counter, expires_at FROM kv WHERE key = ? AND {_LIVE}", (key, now)
        ).fetchone()
        if row is not None and row[0] is not None:
            count, expires_at = int(row[0]) + 1, row[1]
        else:
            count, expires_at = 1, (now + ttl if ttl is not None else None)
        c.execute(
            "INSERT OR REPLACE INTO kv (key, value, counter, expires_at) VALUES (?, NULL, ?, ?)",
            (key, count, expires_at),
        )
        return count, expires_at

    return transaction(conn, write)


def _touch(conn: sqlite3.Connection, key: str, members: list[tuple[str, float]], expires_at: float) -> None:
    def write(c: sqlite3.Connection) -> None:
        c.executemany(
            "INSERT INTO kv_members (key, member, score, expires_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (key, member) DO UPDATE SET score = MAX(score, excluded.score),"
            " expires_at = excluded.expires_at",
            [(key, member, score, expires_at) for member, score in members],
        )
        c.execute("UPDATE kv_members SET expires_at = ? WHERE key = ?", (expires_at, key))

    transaction(conn, write)


def _members(
    conn: sqlite3.Connection, key: str, min_score: float, now: float, limit: int
) -> list[tuple[str, float]]:
    def write(c: sqlite3.Connection) -> list[tuple[str, float]]:
        c.execute("DELETE FROM kv_members WHERE key = ? AND score < ?", (key, min_score))
        rows = c.execute(
            "SELECT member, score FROM kv_members WHERE key = ? AND expires_at > ?"
            " ORDER BY score DESC, member LIMIT ?",
            (key, now, limit),
        ).fetchall()
        return [(str(member), float(score)) for member, score in rows]

    return transaction(conn, write)


def _count(conn: sqlite3.Connection, key: str, min_score: float, now: float) -> int:
    def write(c: sqlite3.Connection) -> int:
        c.execute("DELETE FROM kv_members WHERE key = ? AND score < ?", (key, min_score))
        row = c.execute(
            "SELECT COUNT(*) FROM kv_members WHERE key = ? AND expires_at > ?", (key, now)
        ).fetchone()
        return int(row[0])

    return transaction(conn, write)


def _sweep(conn: sqlite3.Connection, now: float) -> None:
    def write(c: sqlite3.Connection) -> None:
        c.execute("DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,))
        c.execute("DELETE FROM kv_members WHERE expires_at <= ?", (now,))

    transaction(conn, write)


class SqliteKeyValue:
    """The KeyValue port on `<data dir>/shared.db`."""

    def __init__(self, data_dir: Path, clock: Callable[[], float] = time.time) -> None:
        # Wall-clock seconds: expiries are stored in the file and shared by processes. Tests pass a fake.
        self._clock = clock
        self._path = Path(data_dir) / FILE_NAME
        self._runner: SqliteRunner | None = None
        self._sweeper = Periodic("shared kv sweep", self._sweep, lambda: SWEEP_S, log)

    def _db(self) -> SqliteRunner:
        if self._runner is None:
            raise ConnectionError("the shared key-value store is not open")
        return self._runner

    async def open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._runner = SqliteRunner(self._path, name="shared-kv", pragmas=PRAGMAS)
        await self._runner.run(_create)
        self._sweeper.start()

    async def close(self) -> None:
        await self._sweeper.stop()
        if self._runner is not None:
            self._runner.close()
            self._runner = None

    async def _sweep(self) -> None:
        await self._db().run(_sweep, self._clock())

    async def ping(self) -> None:
        await self._db().run(lambda conn: conn.execute("SELECT 1").fetchone())

    async def get(self, key: str) -> bytes | None:
        return await self._db().run(_get, key, self._clock())

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self._db().run(_set, key, bytes(value), self._clock() + ttl)

    async def delete(self, key: str) -> None:
        await self._db().run(lambda conn: conn.execute("DELETE FROM kv WHERE key = ?", (key,)))

    async def set_if_absent(self, key: str, value: bytes, ttl: float) -> bool:
        now = self._clock()
        return await self._db().run(_set_if_absent, key, bytes(value), now + ttl, now)

    async def incr(self, key: str, ttl: float | None = None) -> int:
        count, _ = await self._db().run(_incr, key, ttl, self._clock())
        return count

    async def hit(self, key: str, window: float) -> tuple[int, float]:
        now = self._clock()
        count, expires_at = await self._db().run(_incr, key, window, now)
        return count, max(0.0, (expires_at or now) - now)

    async def touch_members(self, key: str, members: Mapping[str, float], ttl: float) -> None:
        if members:
            await self._db().run(_touch, key, list(members.items()), self._clock() + ttl)

    async def count_members(self, key: str, min_score: float) -> int:
        return await self._db().run(_count, key, min_score, self._clock())

    async def top_members(self, key: str, min_score: float, limit: int) -> list[tuple[str, float]]:
        return await self._db().run(_members, key, min_score, self._clock(), limit)


class RoutedKeyValue:
    """Keys starting with one of `prefixes` go to `shared`, every other key to `local`."""

    def __init__(
        self, local: KeyValue, shared: KeyValue, prefixes: tuple[str, ...] = SHARED_PREFIXES
    ) -> None:
        self.local = local
        self.shared = shared
        self.prefixes = prefixes

    def _for(self, key: str) -> KeyValue:
        return self.shared if key.startswith(self.prefixes) else self.local

    async def open(self) -> None:
        await self.local.open()
        await self.shared.open()

    async def close(self) -> None:
        await self.shared.close()
        await self.local.close()

    async def ping(self) -> None:
        await self.shared.ping()

    async def get(self, key: str) -> bytes | None:
        return await self._for(key).get(key)

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self._for(key).set(key, value, ttl)

    async def delete(self, key: str) -> None:
        await self._for(key).delete(key)

    async def set_if_absent(self, key: str, value: bytes, ttl: float) -> bool:
        return await self._for(key).set_if_absent(key, value, ttl)

    async def incr(self, key: str, ttl: float | None = None) -> int:
        return await self._for(key).incr(key, ttl)

    async def hit(self, key: str, window: float) -> tuple[int, float]:
        return await self._for(key).hit(key, window)

    async def touch_members(self, key: str, members: Mapping[str, float], ttl: float) -> None:
        await self._for(key).touch_members(key, members, ttl)

    async def count_members(self, key: str, min_score: float) -> int:
        return await self._for(key).count_members(key, min_score)

    async def top_members(self, key: str, min_score: float, limit: int) -> list[tuple[str, float]]:
        return await self._for(key).top_members(key, min_score, limit)
