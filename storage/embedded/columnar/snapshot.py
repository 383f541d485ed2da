"""A consistent, synchronous read of every stored event of a data dir (segments plus the log's tail),
for tools and tests that look at the files directly while Eddy may be running."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import duckdb

from storage.embedded.columnar.segments import LOG_COLUMNS, LOG_SELECT, SegmentDir

_RETRIES = 10


def stored_events(data_dir: Path, site_id: str | None = None) -> list[dict[str, Any]]:
    """Every stored event (of one site, or all) as a dict of the log's columns plus `seq`, in seq order;
    `props` and `traits` stay JSON text (or None)."""
    log_path = Path(data_dir) / "events.db"
    segments = SegmentDir(Path(data_dir) / "segments")
    names = ("seq", *LOG_COLUMNS)
    where, params = ("site_id = ?", [site_id]) if site_id is not None else ("1 = 1", [])
    for _ in range(_RETRIES):
        manifest = segments.load()
        tail: list[tuple[Any, ...]] = []
        if log_path.exists():
            with closing(sqlite3.connect(log_path, timeout=10)) as conn:
                tail = conn.execute(
                    f"SELECT {LOG_SELECT} FROM events WHERE {where} AND seq > ?",
                    [*params, manifest.watermark],
                ).fetchall()
        if segments.load().generation != manifest.generation:
            continue
        rows: list[tuple[Any, ...]] = []
        files = [
            str(segments.path / s.file) for s in manifest.segments if site_id is None or site_id in s.sites
        ]
        if files:
            with closing(duckdb.connect()) as duck:
                listed = "[" + ", ".join(f"'{name}'" for name in files) + "]"
                rows = duck.execute(
                    f"SELECT {LOG_SELECT} FROM read_parquet({listed}) WHERE {where}", params
                ).fetchall()
        return sorted((dict(zip(names, row, strict=True)) for row in [*rows, *tail]), key=lambda r: r["seq"])
    raise RuntimeError("the segments kept changing while reading them")
