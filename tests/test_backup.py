"""Online backup and restore of the embedded data dir: a backup taken while a real Eddy ingests under load
holds every event acknowledged before it began; restored into a new data dir, Eddy serves it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from storage.embedded.backup import BackupError, backup, restore
from storage.embedded.columnar.snapshot import stored_events
from tests.support.eddy_process import EddyProcess
from tests.support.process_load import load, secret_key
from tests.support.until import until

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.reliability]


def test_backup_under_load_holds_every_event_acknowledged_before_it(
    tmp_path: Path, start_eddy: Callable[..., EddyProcess]
) -> None:
    data_dir = tmp_path / "data"
    eddy = start_eddy(data_dir, env={"EDDY_COMPACT_INTERVAL_S": "0.05"})
    site_id, key = secret_key(eddy.url)
    acked: set[str] = set()
    sent: set[str] = set()
    before: set[str] = set()
    destination = tmp_path / "backup"

    async def run() -> subprocess.CompletedProcess[str]:
        stop = asyncio.Event()
        traffic = asyncio.ensure_future(load(eddy.url, key, acked, sent, stop))
        # compaction passes have moved some of it into segments by now
        await until(lambda: len(acked) >= 3000, timeout=60, interval=0.05)
        before.update(acked)  # acknowledged before the backup began
        command = [sys.executable, "run.py", "backup", str(destination), "--data-dir", str(data_dir)]
        done = await asyncio.to_thread(subprocess.run, command, cwd=ROOT, capture_output=True, text=True)
        stop.set()
        await traffic
        return done

    done = asyncio.run(run())
    assert done.returncode == 0, done.stderr
    assert "Backed up" in done.stdout
    eddy.stop()
    assert list((destination / "segments").glob("*.parquet")), "no segment in the backup: nothing proved"

    restored = tmp_path / "restored"
    answer = subprocess.run(
        [sys.executable, "run.py", "restore", str(destination), "--data-dir", str(restored)],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert answer.returncode == 0, answer.stderr
    ids = [row["id"] for row in stored_events(restored, site_id)]
    assert len(ids) == len(set(ids)), "an event is in the backup twice"
    assert before <= set(ids), f"{len(before - set(ids))} events acknowledged before the backup are missing"
    assert set(ids) <= sent

    # Eddy starts on the restored dir and answers from it (the secret key still works)
    again = start_eddy(restored)
    from tests.support.sync_api import SyncApi

    api = SyncApi(again.url)
    summary = api.get(f"/api/v1/sites/{site_id}/stats/summary", headers={"X-Api-Key": key})
    assert summary.status == 200, summary.json
    assert summary.json["results"]["events"]["value"] == len(ids)


def test_restore_refuses_what_it_must(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="not an Eddy backup"):
        restore(tmp_path / "nothing", tmp_path / "data")
    with pytest.raises(BackupError, match="holds no Eddy data"):
        backup(tmp_path / "empty", tmp_path / "b")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "keep.txt").write_text("existing")
    source = tmp_path / "source"
    source.mkdir()
    (source / "events.db").write_bytes(b"")
    (source / "eddy-backup.json").write_text('{"format": 1, "segments": [], "taken_at": 0}')
    with pytest.raises(BackupError, match="not empty"):
        restore(source, data_dir)
    restore(source, data_dir, force=True)
    assert (data_dir / "events.db").exists() and not (data_dir / "keep.txt").exists()
    assert [p.name for p in tmp_path.glob("data.before-restore-*/keep.txt")] == ["keep.txt"]


async def test_rollups_travel_with_the_backup(tmp_path: Path) -> None:
    """Sealed days rolled up before the backup: the restored store names the same rollup files, has them,
    and answers what the original answered."""
    from storage.embedded.events import SqliteEventStore
    from storage.ports import EventFilter, Grouping
    from storage.records import Event

    day = 86_400_000
    start = (int(time.time() * 1000) // day - 10) * day
    events = [
        Event(id=f"e{i}", site_id="s", ts=start + i * 3_600_000, name="pageview", path=f"/p{i % 3}",
              visitor_id=f"v{i % 7}@{i // 24}", session_id=f"s{i // 2}", source="Google" if i % 2 else "")
        for i in range(24 * 6)
    ]  # fmt: skip
    whole = EventFilter(site_id="s", start=start, end=start + 7 * day)
    questions = (Grouping(), Grouping(kind="field", field="path"))
    store = SqliteEventStore(tmp_path / "data", compact_interval_s=None)
    await store.open()
    try:
        await store.append(events)
        await store.compact_now()
        assert store.segment_dir.load().rollups, "no day was rolled up: the test proves nothing"
        answers = [await store.aggregate(whole, g) for g in questions]
        await asyncio.get_running_loop().run_in_executor(None, backup, tmp_path / "data", tmp_path / "copy")
    finally:
        await store.close()
    restore(tmp_path / "copy", tmp_path / "restored")
    again = SqliteEventStore(tmp_path / "restored", compact_interval_s=None)
    await again.open()
    try:
        manifest = again.segment_dir.load()
        assert manifest.rollups
        assert all((again.segment_dir.path / name).exists() for name in manifest.named_files())
        assert [await again.aggregate(whole, g) for g in questions] == answers
    finally:
        await again.close()
