"""What every importer shares: bad rows reported by line (bounded), counters read by the progress
reports, and the check that turns a parsed record into a stored Event or a reason to skip it."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from storage.records import EVENT_TEXT_FIELDS, Event

MAX_REPORTED_ERRORS = 100
EARLIEST_MS = 946_684_800_000  # 2000-01-01
_ID = re.compile(r"[A-Za-z0-9_\-:.]{1,64}")
_KEY = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_TEXT_LIMITS = {"url": 2048, "referrer": 2048, "title": 512, "user_id": 128, "screen": 32}
_BIG = 2**53


class BadRow(Exception):
    """A row that is skipped: the message says why, in words."""


class ImportFailed(Exception):
    """The whole file cannot be imported (not the format named, a required column missing...)."""


@dataclass
class Tally:
    """Counters of one import, written by the reading thread and read by the progress reports."""

    read: int = 0
    imported: int = 0
    duplicates: int = 0
    skipped: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def bad(self, line: int, message: str) -> None:
        """Count a skipped row; the first MAX_REPORTED_ERRORS are kept with their line."""
        with self.lock:
            self.skipped += 1
            if len(self.errors) < MAX_REPORTED_ERRORS:
                self.errors.append({"line": line, "message": message})

    def snapshot(self) -> dict[str, Any]:
        """The counters as the job document keeps them."""
        with self.lock:
            return {
                "rows_read": self.read,
                "rows_imported": self.imported,
                "rows_duplicate": self.duplicates,
                "rows_skipped": self.skipped,
                "errors": list(self.errors),
            }


def checked_event(record: dict[str, Any], site_id: str, now_ms: int | None = None) -> Event:
    """An Event for `site_id` from a record with Eddy's export columns. Raises BadRow."""
    event_id = record.get("id")
    if not isinstance(event_id, str) or not _ID.fullmatch(event_id):
        raise BadRow("the id is missing or has characters outside letters, digits and _-:.")
    ts = record.get("ts")
    if isinstance(ts, str) and ts.strip().isdigit():
        ts = int(ts.strip())
    latest = (now_ms if now_ms is not None else int(time.time() * 1000)) + 86_400_000
    if isinstance(ts, bool) or not isinstance(ts, int) or not EARLIEST_MS <= ts <= latest:
        raise BadRow("the time is missing or not a millisecond time between 2000 and tomorrow")
    name = record.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 64:
        raise BadRow("the event name is missing or longer than 64 characters")
    fields: dict[str, Any] = {}
    for column in EVENT_TEXT_FIELDS:
        if column in ("id", "site_id", "name"):
            continue
        value = record.get(column, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise BadRow(f"{column} is not text")
        if len(value) > _TEXT_LIMITS.get(column, 256):
            raise BadRow(f"{column} is longer than {_TEXT_LIMITS.get(column, 256)} characters")
        fields[column] = value
    return Event(
        id=event_id,
        site_id=site_id,
        ts=ts,
        name=name,
        props=_props(record.get("props")),
        traits=_traits(record.get("traits")),
        **fields,
    )


def _props(value: Any) -> dict[str, Any]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict) or len(value) > 30:
        raise BadRow("props are not an object of at most 30 values")
    for key, item in value.items():
        if not _KEY.fullmatch(key):
            raise BadRow(f"the prop name {key[:64]!r} has characters outside letters, digits, _ and -")
        if isinstance(item, str):
            if len(item) > 512:
                raise BadRow(f"the prop {key} is longer than 512 characters")
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int | float):
            if not -_BIG <= item <= _BIG:
                raise BadRow(f"the prop {key} is out of range")
        else:
            raise BadRow(f"the prop {key} is not text, a number or true/false")
    return value


def _traits(value: Any) -> dict[str, str]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise BadRow("traits are not an object")
    known = {k: v for k, v in value.items() if k in ("age_band", "gender", "plan")}
    if not all(isinstance(v, str) and len(v) <= 64 for v in known.values()):
        raise BadRow("a trait is not short text")
    return known
