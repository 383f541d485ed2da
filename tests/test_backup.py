"""Online backup and restore of the embedded data dir: a backup taken while a real Eddy ingests under load
holds every event acknowledged before it began; restored into a new data dir, Eddy serves it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.embedded.backup import BackupError, backup, restore
from storage.embedded.columnar.snapshot import stored_events
from tests.ingest.test_kill9 import load, secret_key
from tests.support.eddy_process import EddyProcess

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.reliability]


@pytest.fixture
def processes() -> Iterator[list[EddyProcess]]:
    started: list[EddyProcess] = []
    yield started
    for process in started:
        process.stop()


def test_backup_under_load_holds_every_event_acknowledged_before_it(
    tmp_path: Path, processes: list[EddyProcess]
) -> None:
    data_dir = tmp_path / "data"
    eddy = EddyProcess(data_dir, env={"EDDY_COMPACT_INTERVAL_S": "0.05"})
    processes.append(eddy)
    eddy.start()
    site_id, key = secret_key(eddy.url)
    acked: set[str] = set()
    sent: set[str] = set()
    before: set[str] = set()
    destination = tmp_path / "backup"

    async def run() -> subprocess.CompletedProcess[str]:
        stop = asyncio.Event()
        traffic = asyncio.ensure_future(load(eddy.url, key, acked, sent, stop))
        while len(acked) < 3000:  # compaction passes have moved some of it into segments by now
            await asyncio.sleep(0.05)
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
    again = EddyProcess(restored)
    processes.append(again)
    again.start()
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
