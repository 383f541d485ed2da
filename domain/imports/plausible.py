"""Plausible CE's CSV export (a zip of `imported_*` daily tables) → daily aggregates Eddy keeps apart from
its events, in the document collection `imported_stats`: one document per (import, table, date) holding
that day's rows as `[key, metrics]` pairs (key: the table's dimension values; metrics: its counts).

Files are named `<table>.csv` or `<table>_<YYYYMMDD>_<YYYYMMDD>.csv` (as Plausible's exports name them) and
start with a header row; columns are read by name, so newer exports with extra columns load too. Tables
other than those below are left out (named in the summary). A row whose date or counts do not read is
skipped and reported by file and line. Blocking parts run in an executor thread.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from domain.imports.rows import BadRow, ImportFailed, Tally
from domain.imports.spool import SpoolFile

# table → its dimension columns (those present are kept, in this order)
TABLES: dict[str, tuple[str, ...]] = {
    "imported_visitors": (),
    "imported_sources": (
        "source",
        "referrer",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_content",
        "utm_term",
    ),
    "imported_pages": ("hostname", "page"),
    "imported_entry_pages": ("entry_page",),
    "imported_exit_pages": ("exit_page",),
    "imported_locations": ("country", "region", "city"),
    "imported_devices": ("device",),
    "imported_browsers": ("browser", "browser_version"),
    "imported_operating_systems": ("operating_system", "operating_system_version"),
    "imported_custom_events": ("name", "link_url", "path"),
}
METRICS = (
    "visitors",
    "pageviews",
    "bounces",
    "visits",
    "visit_duration",
    "entrances",
    "exits",
    "events",
    "time_on_page",
    "total_time_on_page",
    "total_time_on_page_visits",
    "total_scroll_depth",
    "total_scroll_depth_visits",
)
_NAME = re.compile(r"^(imported_[a-z_]+?)(?:_(\d{8})_(\d{8}))?\.csv$")
MAX_COUNT = 10**12


class AggregateSpool(SpoolFile):
    """Rows of an export on disk (SQLite), read back per (table, date)."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            path,
            "CREATE TABLE IF NOT EXISTS rows (tbl TEXT, day TEXT, key TEXT, metrics TEXT)",
            "INSERT INTO rows VALUES (?, ?, ?, ?)",
        )

    def add(self, table: str, day: str, key: list[str], metrics: dict[str, int]) -> None:
        """Queue one row."""
        self._queue((table, day, json.dumps(key), json.dumps(metrics)))

    def documents(self) -> Iterator[tuple[str, str, list[Any]]]:
        """(table, date, rows) per table and date, in order."""
        self.commit()
        self._conn.execute("CREATE INDEX IF NOT EXISTS ix_rows ON rows (tbl, day)")
        cursor = self._conn.execute("SELECT tbl, day, key, metrics FROM rows ORDER BY tbl, day, rowid")
        current: tuple[str, str] | None = None
        rows: list[Any] = []
        for table, day, key, metrics in cursor:
            if (table, day) != current:
                if current is not None:
                    yield current[0], current[1], rows
                current, rows = (table, day), []
            rows.append([json.loads(key), json.loads(metrics)])
        if current is not None:
            yield current[0], current[1], rows


def spool_plausible(path: Path, tally: Tally, spool: AggregateSpool) -> dict[str, Any]:
    """Read the zip's tables into the spool; returns {tables: {table: rows}, left_out: [files]}."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise ImportFailed("The file is not a zip archive.") from None
    tables: dict[str, int] = {}
    left_out: list[str] = []
    with archive:
        for name in archive.namelist():
            base = name.rsplit("/", 1)[-1]
            match = _NAME.match(base)
            if name.endswith("/"):
                continue
            if match is None or match.group(1) not in TABLES:
                left_out.append(base)
                continue
            table = match.group(1)
            with archive.open(name) as handle:
                tables[table] = tables.get(table, 0) + _read_table(handle, base, table, tally, spool)
    if "imported_visitors" not in tables:
        raise ImportFailed("The zip holds no imported_visitors table: it is not a Plausible CSV export.")
    return {"tables": tables, "left_out": sorted(left_out)}


def _read_table(handle: Any, file: str, table: str, tally: Tally, spool: AggregateSpool) -> int:
    reader = csv.DictReader(io.TextIOWrapper(handle, encoding="utf-8-sig", newline=""))
    try:
        header = list(reader.fieldnames or ())
    except (UnicodeDecodeError, csv.Error):
        raise ImportFailed(f"{file} is not a CSV file in UTF-8.") from None
    if "date" not in header or "visitors" not in header:
        raise ImportFailed(f"{file} lacks the date or visitors column.")
    dimensions = [column for column in TABLES[table] if column in header]
    metrics = [column for column in METRICS if column in header]
    taken = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return taken
        except (UnicodeDecodeError, csv.Error) as error:
            raise ImportFailed(f"{file} line {reader.line_num}: {error}.") from None
        tally.read += 1
        try:
            day = _day(row.get("date") or "")
            counts = {column: _count(row.get(column), column) for column in metrics}
        except BadRow as bad:
            tally.bad(reader.line_num, f"{file} line {reader.line_num}: {bad}")
            continue
        spool.add(table, day, [(row.get(column) or "")[:512] for column in dimensions], counts)
        taken += 1


def _day(text: str) -> str:
    try:
        return date.fromisoformat(text.strip()[:10]).isoformat()
    except ValueError:
        raise BadRow(f"the date {text[:20]!r} is not YYYY-MM-DD") from None


def _count(text: str | None, column: str) -> int:
    value = (text or "0").strip() or "0"
    try:
        number = int(float(value)) if "." in value else int(value)
    except ValueError:
        raise BadRow(f"{column} {value[:20]!r} is not a number") from None
    if not 0 <= number <= MAX_COUNT:
        raise BadRow(f"{column} {number} is out of range")
    return number
