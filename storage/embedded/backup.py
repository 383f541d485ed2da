"""Online backup and restore of an embedded data dir.

A backup is a directory: `eddy.db` and `events.db` copied with SQLite's `VACUUM INTO` (a consistent snapshot
taken inside a read transaction, while Eddy keeps writing), the segment files the manifest names
(hard-linked when the destination is on the same file system, else copied) with that manifest, the secrets
(visitor hashes, tokens and key lookups depend on them), and `eddy-backup.json` describing it.

Consistency between the log and the segments: the backup holds the compactor lock from before it reads
the manifest until the log's snapshot is taken, so no pass can move rows out of the log in between. The
log snapshot therefore holds every row past the manifest's watermark, and every event acknowledged before
the backup began is either in a copied segment or in the copied log.

Restore copies a backup into a data dir that does not exist or is empty (or, with `force`, moves the
existing one aside first). Eddy must be stopped while restoring.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import orjson

from storage.embedded.columnar.segments import MANIFEST, SegmentDir, fsync_path

MARKER = "eddy-backup.json"
FORMAT = 1
DATABASES = ("eddy.db", "events.db")
SECRETS = "secrets.json"


class BackupError(Exception):
    """A backup or restore that cannot be done, with a sentence saying why."""


def _vacuum_into(source: Path, target: Path) -> None:
    with closing(sqlite3.connect(source, timeout=30)) as conn:
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("VACUUM INTO ?", (str(target),))


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def backup(data_dir: Path, destination: Path) -> dict[str, Any]:
    """Take a consistent copy of `data_dir` (Eddy may be running) into the new directory `destination`;
    returns what was copied."""
    data_dir, destination = Path(data_dir), Path(destination)
    if not (data_dir / "events.db").exists():
        raise BackupError(f"{data_dir} holds no Eddy data (no events.db).")
    if destination.exists() and any(destination.iterdir()):
        raise BackupError(f"{destination} already exists and is not empty; choose a new directory.")
    started = time.time()
    partial = destination.with_name(destination.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "segments").mkdir(parents=True, mode=0o700)
    segments = SegmentDir(data_dir / "segments")
    segments.ensure()
    lock_fd = os.open(segments.path / "compactor.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)  # no compaction pass until the log's snapshot is taken
        manifest = segments.load()
        for name in manifest.named_files():
            _link_or_copy(segments.path / name, partial / "segments" / name)
        if (segments.path / MANIFEST).exists():
            shutil.copy2(segments.path / MANIFEST, partial / "segments" / MANIFEST)
        _vacuum_into(data_dir / "events.db", partial / "events.db")
    finally:
        fcntl.flock(lock_fd, fcntl.LOCK_UN)
        os.close(lock_fd)
    if (data_dir / "eddy.db").exists():
        _vacuum_into(data_dir / "eddy.db", partial / "eddy.db")
    if (data_dir / SECRETS).exists():
        shutil.copy2(data_dir / SECRETS, partial / SECRETS)
    summary = {
        "format": FORMAT,
        "taken_at": started,
        "segments": manifest.named_files(),
        "segment_rows": sum(segment.rows for segment in manifest.segments),
        "watermark": manifest.watermark,
        "files": sorted(path.name for path in partial.iterdir()),
    }
    (partial / MARKER).write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    for path in partial.rglob("*"):
        os.chmod(path, 0o700 if path.is_dir() else 0o600)
        if path.is_file():
            fsync_path(path)
    if destination.exists():
        _move_into(partial, destination)
    else:
        os.replace(partial, destination)
    fsync_path(destination.parent)
    return summary


def _move_into(partial: Path, destination: Path) -> None:
    """Move the backup's files into an existing empty directory."""
    for path in partial.iterdir():
        os.replace(path, destination / path.name)
    partial.rmdir()


def restore(source: Path, data_dir: Path, *, force: bool = False) -> dict[str, Any]:
    """Put the backup in `source` back as `data_dir` (Eddy stopped); returns the backup's description."""
    source, data_dir = Path(source), Path(data_dir)
    try:
        summary = orjson.loads((source / MARKER).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        raise BackupError(f"{source} is not an Eddy backup (no readable {MARKER}).") from None
    if summary.get("format") != FORMAT:
        raise BackupError(f"{source} was made by another version of Eddy (format {summary.get('format')}).")
    missing = [name for name in summary["segments"] if not (source / "segments" / name).exists()]
    if missing or not (source / "events.db").exists():
        raise BackupError(
            f"{source} is incomplete: {len(missing)} segment files or the event log are missing."
        )
    if data_dir.exists() and any(data_dir.iterdir()):
        if not force:
            raise BackupError(f"{data_dir} is not empty; stop Eddy and pass --force to move it aside first.")
        aside = data_dir.with_name(f"{data_dir.name}.before-restore-{int(time.time())}")
        os.replace(data_dir, aside)
    staging = data_dir.with_name(data_dir.name + ".restoring")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging, copy_function=shutil.copy2)
    (staging / MARKER).unlink()
    for path in staging.rglob("*"):
        os.chmod(path, 0o700 if path.is_dir() else 0o600)
    os.chmod(staging, 0o700)
    if data_dir.exists():
        data_dir.rmdir()  # empty: checked above
    os.replace(staging, data_dir)
    fsync_path(data_dir.parent)
    return summary
