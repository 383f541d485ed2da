"""The embedded event store's cross-process write lock, when several processes share the file, lowers the
interpreter's switch interval while it is held (so a writer thread that needs the GIL between statements
does not keep the other processes waiting for the file behind a busy event loop's 5 ms slice) and always
restores it; a lone process's lock leaves the interval alone."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.stores import build_stores
from settings.config import Config
from storage.embedded import events as event_store
from storage.embedded.events import HELD_SWITCH_INTERVAL_S, SqliteEventStore, WriteLock
from storage.records import Event

T0 = 1_780_000_000_000
PRIOR = 0.004  # not the default, so restoring "the default" by mistake would show


@pytest.fixture
def prior_interval() -> Iterator[float]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(PRIOR)
    try:
        yield sys.getswitchinterval()
    finally:
        sys.setswitchinterval(before)


def test_interval_is_short_while_held_and_restored_after(tmp_path: Path, prior_interval: float) -> None:
    lock = WriteLock(tmp_path / "events.db.lock", shared=True)
    try:
        with lock:
            assert sys.getswitchinterval() == pytest.approx(HELD_SWITCH_INTERVAL_S)
        assert sys.getswitchinterval() == prior_interval
        with pytest.raises(RuntimeError), lock:
            raise RuntimeError("a failed append")
        assert sys.getswitchinterval() == prior_interval
    finally:
        lock.close()


def test_overlapping_holders_restore_only_when_the_last_lets_go(
    tmp_path: Path, prior_interval: float
) -> None:
    first, second = WriteLock(tmp_path / "a.lock", shared=True), WriteLock(tmp_path / "b.lock", shared=True)
    try:
        first.__enter__()
        second.__enter__()
        first.__exit__(None, None, None)
        assert sys.getswitchinterval() == pytest.approx(HELD_SWITCH_INTERVAL_S)  # second still holds
        second.__exit__(None, None, None)
        assert sys.getswitchinterval() == prior_interval
    finally:
        first.close()
        second.close()


async def test_an_append_on_a_shared_file_runs_its_transaction_with_the_short_interval(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, prior_interval: float
) -> None:
    seen: list[float] = []
    real_transaction = event_store.transaction

    def watching_transaction(conn, fn):  # type: ignore[no-untyped-def]
        seen.append(sys.getswitchinterval())
        return real_transaction(conn, fn)

    monkeypatch.setattr(event_store, "transaction", watching_transaction)
    for shared, expected in ((True, HELD_SWITCH_INTERVAL_S), (False, PRIOR)):
        store = SqliteEventStore(data_dir / str(shared), shared=shared)
        await store.open()
        try:
            stored = await store.append(
                [Event(id=f"e{n}", site_id="s1", ts=T0 + n, name="pageview") for n in range(50)]
            )
        finally:
            await store.close()
        assert stored == 50
        assert seen.pop() == pytest.approx(expected)
        assert sys.getswitchinterval() == prior_interval


def test_the_factory_shares_the_file_only_with_several_processes(tmp_path: Path) -> None:
    for processes, shared in ((1, False), (2, True)):
        stores = build_stores(Config(data_dir=tmp_path, processes=processes))
        assert isinstance(stores.events, SqliteEventStore)
        assert stores.events.shared is shared
