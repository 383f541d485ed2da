"""Eddy's own export (`GET .../export?format=json|csv`) read back: a JSON array of events (or one JSON
object per line), or the CSV with its header row. Each record becomes an event of the target site with its
id, so importing a file twice, or into the site it came from, stores each event once.

Streaming: JSON is decoded one object at a time from a bounded text buffer (`raw_decode`), CSV row by
row; the file is never held whole. A CSV cell that the export quoted against spreadsheet formulas (a
leading `'` before = + - @, tab or CR) gets its quote taken off. Blocking: runs in an executor thread.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from domain.imports.rows import BadRow, ImportFailed, Tally, checked_event
from domain.imports.spool import Spool

CHUNK = 1 << 16
MAX_RECORD_CHARS = 256 * 1024
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def spool_eddy_export(path: Path, site_id: str, tally: Tally, spool: Spool) -> None:
    """Read an export file (JSON or CSV, told apart by its first character) into the spool."""
    with path.open("rb") as handle:
        head = handle.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] in (b"[", b"{"):
        records: Iterator[tuple[int, Any]] = _json_records(path)
    elif head:
        records = _csv_records(path)
    else:
        raise ImportFailed("The file is empty.")
    for line, record in records:
        tally.read += 1
        try:
            if isinstance(record, BadRow):
                raise record
            if not isinstance(record, dict):
                raise BadRow("the record is not an object")
            spool.add(checked_event(record, site_id))
        except BadRow as bad:
            tally.bad(line, str(bad))


def _json_records(path: Path) -> Iterator[tuple[int, Any]]:
    """(record number, object) of a JSON array or of JSON lines."""
    decoder = json.JSONDecoder()
    reader = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
    buffer, at, number, ended = "", 0, 0, False
    with path.open("rb") as handle:
        while True:
            while at < len(buffer) and buffer[at] in " \t\r\n,[":
                at += 1
            if at < len(buffer) and buffer[at] == "]":
                return
            if at < len(buffer):
                try:
                    record, end = decoder.raw_decode(buffer, at)
                except json.JSONDecodeError:
                    if ended:
                        raise ImportFailed(f"Record {number + 1} is not valid JSON.") from None
                    if len(buffer) - at > MAX_RECORD_CHARS:
                        raise ImportFailed(
                            f"Record {number + 1} is over 256 KiB or not valid JSON."
                        ) from None
                else:
                    # A record may stop at the buffer's end by chance (a number cut in two): only take it
                    # when more text follows or the file is done.
                    if end < len(buffer) or ended:
                        number += 1
                        yield number, record
                        at = end
                        continue
            if ended:
                return
            try:
                chunk = reader.decode(handle.read(CHUNK))
            except UnicodeDecodeError:
                raise ImportFailed("The file is not UTF-8 text.") from None
            if not chunk:
                ended = True
                chunk = reader.decode(b"", final=True)
            buffer = buffer[at:] + chunk
            at = 0


def _uncell(value: str) -> str:
    return value[1:] if value.startswith("'") and value[1:2] and value[1] in _FORMULA else value


def _csv_records(path: Path) -> Iterator[tuple[int, Any]]:
    """(line, record) of the export's CSV; props and traits decoded from their JSON cells."""
    with path.open(encoding="utf-8-sig", newline="", errors="strict") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except (StopIteration, UnicodeDecodeError, csv.Error):
            raise ImportFailed("The CSV file has no header row.") from None
        missing = {"id", "ts", "name"} - set(header)
        if missing:
            raise ImportFailed(f"The CSV file lacks the column(s) {', '.join(sorted(missing))}.")
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError:
                raise ImportFailed(f"Line {reader.line_num + 1} is not UTF-8 text.") from None
            except csv.Error as error:
                raise ImportFailed(f"Line {reader.line_num}: {error}.") from None
            if len(row) != len(header):
                yield (
                    reader.line_num,
                    BadRow(f"the row has {len(row)} cells where the header names {len(header)}"),
                )
                continue
            record: dict[str, Any] = {name: _uncell(cell) for name, cell in zip(header, row, strict=True)}
            try:
                for name in ("props", "traits"):
                    cell = record.get(name) or ""
                    record[name] = json.loads(cell) if cell else {}
            except json.JSONDecodeError:
                yield reader.line_num, BadRow("props or traits are not valid JSON")
                continue
            yield reader.line_num, record
