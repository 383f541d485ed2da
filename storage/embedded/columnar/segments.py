"""Immutable Parquet segments of events and the manifest that says which ones make up the store.

Layout of `<data_dir>/segments/`:
- `seg-<generation>-<n>.parquet`: events sorted by (site_id, ts, seq), with `props_text`, `vh` and `sh`
  added (see `storage/embedded/columnar/sql.py`). A file never changes once written.
- `manifest.json`: `{format, generation, watermark, segments: [{file, rows, sites: {site: [min, max]}}],
  retired: [{file, at}]}`. `watermark` is the highest log `seq` the segments hold: every event of the log
  with a larger seq is in the tail, every other one is in exactly one segment.

Every change (new segment, merge, purge) writes its files under temporary names, flushes them, renames them,
then replaces the manifest the same way (write, fsync, rename, fsync the directory). A crash at any point
leaves either the old manifest or the new one; files no manifest names are orphans removed by the next
pass. Files a manifest stops naming are kept as `retired` for RETIRE_GRACE_S so readers that loaded the
previous manifest a moment ago can still open them.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from storage.embedded.columnar.rollups import Rollup
from storage.records import EVENT_TEXT_FIELDS, Event, prop_text

MANIFEST = "manifest.json"
FORMAT = 1
RETIRE_GRACE_S = 120.0
# DuckDB writes what does not fit its memory limit here, one folder per kind of connection.
SPILL = "spill"
SPILL_USERS = ("compactor", "queries")

# Text columns of the log (storage order), then the columns a segment adds.
LOG_TEXT_COLUMNS: tuple[str, ...] = EVENT_TEXT_FIELDS


def _arrow_schema() -> pa.Schema:
    fields = [pa.field("seq", pa.int64()), pa.field("ts", pa.int64())]
    fields += [pa.field(name, pa.string()) for name in LOG_TEXT_COLUMNS]
    fields += [
        pa.field("props", pa.string()),
        pa.field("traits", pa.string()),
        pa.field("props_text", pa.string()),
    ]
    return pa.schema(fields)


ARROW_SCHEMA = _arrow_schema()
# The columns of `ev` apart from the hashes, in one order for every part of the union.
EV_COLUMNS: tuple[str, ...] = tuple(ARROW_SCHEMA.names)
HASHES = (
    "md5_number_lower(visitor_id) AS vh,"
    " md5_number_lower(CASE WHEN session_id = '' THEN 'ev:' || id ELSE session_id END) AS sh"
)


def canonical_props(props_json: str | None) -> str | None:
    """The props JSON with every value replaced by its canonical text (None stays None)."""
    if not props_json:
        return None
    props = orjson.loads(props_json)
    return orjson.dumps({name: prop_text(value) for name, value in props.items()}).decode()


# Log row layout (as selected by `LOG_SELECT`): seq, then the events table columns (the Event's fields).
LOG_COLUMNS: tuple[str, ...] = Event.__struct_fields__
LOG_SELECT = "seq, " + ", ".join(LOG_COLUMNS)


def rows_to_arrow(rows: list[tuple[Any, ...]]) -> pa.Table:
    """An Arrow table (ARROW_SCHEMA) from log rows selected with LOG_SELECT."""
    if not rows:
        return ARROW_SCHEMA.empty_table()
    columns = list(zip(*rows, strict=True))
    by_name = dict(zip(("seq", *LOG_COLUMNS), columns, strict=True))
    by_name["props_text"] = [canonical_props(p) for p in by_name["props"]]
    return pa.table({name: by_name[name] for name in ARROW_SCHEMA.names}, schema=ARROW_SCHEMA)


@dataclass
class Segment:
    """One file of the store: its name, row count and, per site, the [min, max] ts it holds."""

    file: str
    rows: int
    sites: dict[str, list[int]]

    def covers(self, site_id: str, start: int, end: int) -> bool:
        """Whether the file may hold events of the site in [start, end)."""
        span = self.sites.get(site_id)
        return span is not None and span[0] < end and span[1] >= start


@dataclass
class Manifest:
    """What the segments directory holds now (see the module docstring)."""

    generation: int = 0
    watermark: int = 0
    segments: list[Segment] = field(default_factory=list)
    retired: list[dict[str, Any]] = field(default_factory=list)
    # Bulk-loaded rows never were in the log: they take seqs below zero, downwards from here.
    bulk_seq: int = 0
    # Pre-aggregates of sealed days (rollups.py): valid for exactly the segments this manifest names.
    rollups: list[Rollup] = field(default_factory=list)

    def files_for(self, site_id: str, start: int, end: int) -> list[str]:
        """The segment files that may hold the site's events in [start, end)."""
        return [seg.file for seg in self.segments if seg.covers(site_id, start, end)]

    def named_files(self) -> list[str]:
        """Every file this manifest names: segments, then rollups' rows, rest events and people rows."""
        return [s.file for s in self.segments] + [name for r in self.rollups for name in r.names()]

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "format": FORMAT,
                "generation": self.generation,
                "watermark": self.watermark,
                "segments": [{"file": s.file, "rows": s.rows, "sites": s.sites} for s in self.segments],
                "retired": self.retired,
                "bulk_seq": self.bulk_seq,
                "rollups": [r.to_json() for r in self.rollups],
            }
        )

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        raw = orjson.loads(data)
        if raw.get("format") != FORMAT:
            raise ValueError(f"unknown segments manifest format {raw.get('format')!r}")
        return cls(
            generation=int(raw["generation"]),
            watermark=int(raw["watermark"]),
            segments=[Segment(s["file"], int(s["rows"]), s["sites"]) for s in raw["segments"]],
            retired=list(raw.get("retired", [])),
            bulk_seq=int(raw.get("bulk_seq", 0)),
            rollups=[Rollup.from_json(r) for r in raw.get("rollups", [])],
        )


def fsync_path(path: Path) -> None:
    """Flush a file (or directory) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SegmentDir:
    """The segments directory: reads the manifest (cached by file identity) and replaces it atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cached: tuple[tuple[int, int, int], Manifest] | None = None

    def ensure(self) -> None:
        """Create the directory and DuckDB's spill directories (0700)."""
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        for user in SPILL_USERS:
            (self.path / SPILL / user).mkdir(mode=0o700, parents=True, exist_ok=True)

    def load(self) -> Manifest:
        """The current manifest (an empty one before the first segment)."""
        target = self.path / MANIFEST
        try:
            stat = target.stat()
        except FileNotFoundError:
            return Manifest()
        identity = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if self._cached is not None and self._cached[0] == identity:
            return self._cached[1]
        manifest = Manifest.from_json(target.read_bytes())
        self._cached = (identity, manifest)
        return manifest

    def save(self, manifest: Manifest) -> None:
        """Replace the manifest durably (write, fsync, rename, fsync the directory)."""
        temporary = self.path / f".{MANIFEST}.{os.getpid()}.tmp"
        with open(temporary, "wb") as out:
            out.write(manifest.to_json())
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, self.path / MANIFEST)
        fsync_path(self.path)

    def retire(self, manifest: Manifest, files: list[str]) -> None:
        """Mark files the manifest no longer names, to be deleted after the grace period."""
        now = time.time()
        manifest.retired.extend({"file": name, "at": now} for name in files)

    def sweep(self, manifest: Manifest) -> bool:
        """Delete retired files past their grace and orphans (files no manifest names); True if the
        manifest's retired list changed (the caller saves it)."""
        now = time.time()
        keep = [r for r in manifest.retired if now - float(r["at"]) < RETIRE_GRACE_S]
        for entry in manifest.retired:
            if entry not in keep:
                with contextlib.suppress(FileNotFoundError):
                    (self.path / entry["file"]).unlink()
        named = set(manifest.named_files()) | {r["file"] for r in keep}
        for entry in self.path.iterdir():
            if entry.name.endswith((".parquet", ".tmp")) and entry.name not in named:
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
        changed = len(keep) != len(manifest.retired)
        manifest.retired = keep
        return changed
