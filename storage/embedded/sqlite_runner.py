"""Run blocking SQLite work off the IOLoop, each connection confined to its own thread.

sqlite3 connections must not be shared across threads, and the IOLoop must never block on disk, so every
connection lives on a dedicated worker thread and callers await `run(fn, *args)`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

# WAL lets readers work beside one writer and lets several processes share a file; FULL makes a commit
# durable on return (an acknowledged event survives power loss, not just kill -9).
DEFAULT_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=OFF",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-65536",
)


def connect(path: Path, pragmas: tuple[str, ...] = DEFAULT_PRAGMAS) -> sqlite3.Connection:
    """Open a connection in autocommit mode (we issue BEGIN/COMMIT ourselves) with our pragmas."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=10)
    for pragma in pragmas:
        conn.execute(pragma)
    return conn


class SqliteRunner:
    """A pool of `threads` worker threads, each with its own connection to one database file."""

    def __init__(
        self,
        path: Path,
        *,
        threads: int = 1,
        name: str = "sqlite",
        pragmas: tuple[str, ...] = DEFAULT_PRAGMAS,
    ) -> None:
        self._path = path
        self._pragmas = pragmas
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self._path, self._pragmas)
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _call(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        return fn(self._connection(), *args)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(connection, *args)` on a worker thread and return its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, fn, args)

    def close(self) -> None:
        """Finish queued work, then close every connection."""
        self._executor.shutdown(wait=True)
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()


def transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run `fn` inside BEGIN IMMEDIATE ... COMMIT (the write lock is taken up front, so concurrent
    processes serialise instead of failing with SQLITE_BUSY mid-transaction)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result
