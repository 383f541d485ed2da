"""The embedded event store's commit: SQLite writes the WAL frames under the cross-process write lock, and
the flush to disk (`WalSync`, an fdatasync of `<events.db>-wal`) runs after the lock is released and
before `append` returns, so a returned append is as durable as a synchronous=FULL commit."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path

import pytest

from storage.embedded.events import SqliteEventStore, WalSync
from storage.records import Event

T0 = 1_780_000_000_000


def _events(first: int, count: int) -> list[Event]:
    return [
        Event(id=f"e{n}", site_id="s1", ts=T0 + n, name="pageview", path="/", visitor_id="v", session_id="s")
        for n in range(first, first + count)
    ]


async def test_append_returns_after_the_wal_is_flushed_outside_the_lock(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteEventStore(data_dir)
    await store.open()
    db, wal = data_dir / "events.db", data_dir / "events.db-wal"
    flushes: list[dict[str, object]] = []
    real_fdatasync = os.fdatasync

    def watching_fdatasync(fd: int) -> None:
        probe = os.open(data_dir / "events.db.lock", os.O_RDWR)
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises while an append holds the lock
            fcntl.flock(probe, fcntl.LOCK_UN)
            lock_free = True
        except BlockingIOError:
            lock_free = False
        finally:
            os.close(probe)
        reader = sqlite3.connect(db)
        committed = reader.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        reader.close()
        flushes.append(
            {"wal": os.fstat(fd).st_ino == os.stat(wal).st_ino, "lock_free": lock_free, "rows": committed}
        )
        real_fdatasync(fd)

    monkeypatch.setattr(os, "fdatasync", watching_fdatasync)
    try:
        assert await store.append(_events(0, 300)) == 300
        assert flushes == [{"wal": True, "lock_free": True, "rows": 300}]
        assert await store.append(_events(300, 200)) == 200
        assert flushes[-1] == {"wal": True, "lock_free": True, "rows": 500}
        assert len(flushes) == 2  # one flush per append, each after its commit
    finally:
        await store.close()


async def test_purge_is_flushed_too(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SqliteEventStore(data_dir)
    await store.open()
    try:
        await store.append(_events(0, 10))
        calls: list[int] = []
        real_fdatasync = os.fdatasync
        monkeypatch.setattr(os, "fdatasync", lambda fd: (calls.append(fd), real_fdatasync(fd)))
        assert await store.purge_before("s1", T0 + 5) == 5
        assert len(calls) == 1
    finally:
        await store.close()


def test_wal_sync_follows_a_replaced_wal_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wal = tmp_path / "x.db-wal"
    wal.write_bytes(b"first")
    synced: list[int] = []
    real_fdatasync = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (synced.append(os.fstat(fd).st_ino), real_fdatasync(fd)))
    sync = WalSync(tmp_path / "x.db")
    sync()
    first_inode = os.stat(wal).st_ino
    wal.rename(tmp_path / "old")  # keep the old inode alive so the new file cannot reuse its number
    wal.write_bytes(b"second")
    sync()
    sync.close()
    assert synced == [first_inode, os.stat(wal).st_ino]
    assert synced[0] != synced[1]
