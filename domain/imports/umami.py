"""Umami's raw tables exported as CSV (a zip holding `website_event.csv` and `session.csv`, as a database
export of Umami v2 writes them, header row first) → Eddy events.

Per event row: id `umami:<event_id>`; time `created_at` (UTC); a pageview for event_type 1, else the
custom event `event_name`; URL `https://<hostname><url_path>?<url_query>` (so utm_* and paths are read as
Eddy reads its own); referrer from referrer_domain/path/query (its source as Eddy names it, none when it
is the site itself); browser, OS, device, screen and country from the row's session (Umami's names mapped
to the ones Eddy's user-agent parser gives); visitor: a hash of Umami's session id; visit: its visit_id.

The sessions are read first into a dictionary (the session table is much smaller than the events); the
events stream row by row. Blocking: runs in an executor thread.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from domain.imports.rows import BadRow, ImportFailed, Tally, checked_event
from domain.imports.spool import Spool
from domain.ingest.sources import host_of, parse_page_url, source_name
from storage.records import Event

BROWSERS = {
    "chrome": "Chrome",
    "crios": "Chrome Mobile iOS",
    "chromium-webview": "Chrome Mobile WebView",
    "firefox": "Firefox",
    "fxios": "Firefox iOS",
    "safari": "Safari",
    "ios": "Mobile Safari",
    "ios-webview": "Mobile Safari UI/WKWebView",
    "edge": "Edge",
    "edge-chromium": "Edge",
    "edge-ios": "Edge Mobile",
    "opera": "Opera",
    "opera-mini": "Opera Mini",
    "samsung": "Samsung Internet",
    "yandexbrowser": "Yandex Browser",
    "facebook": "Facebook",
    "instagram": "Instagram",
    "android": "Android",
    "silk": "Amazon Silk",
}
SYSTEMS = {
    "Mac OS": "Mac OS X",
    "Android OS": "Android",
    "Chrome OS": "Chrome OS",
    "iOS": "iOS",
    "Linux": "Linux",
}
DEVICES = {"desktop": "desktop", "laptop": "desktop", "mobile": "mobile", "tablet": "tablet"}
Session = tuple[str, str, str, str, str, str]  # hostname, browser, os, device, screen, country


def _member(archive: zipfile.ZipFile, table: str) -> str:
    for name in archive.namelist():
        base = name.rsplit("/", 1)[-1].lower()
        if base == f"{table}.csv" or (base.startswith(f"{table}") and base.endswith(".csv")):
            if table == "session" and base.startswith("session_data"):
                continue
            return name
    raise ImportFailed(f"The zip holds no {table}.csv (Umami's {table} table exported as CSV).")


def _rows(handle: IO[bytes], name: str, required: set[str]) -> Iterator[tuple[int, dict[str, str]]]:
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
    reader = csv.DictReader(text)
    try:
        header = set(reader.fieldnames or ())
    except (UnicodeDecodeError, csv.Error):
        raise ImportFailed(f"{name} is not a CSV file in UTF-8.") from None
    missing = required - header
    if missing:
        raise ImportFailed(f"{name} lacks the column(s) {', '.join(sorted(missing))}.")
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except (UnicodeDecodeError, csv.Error) as error:
            raise ImportFailed(f"{name} line {reader.line_num}: {error}.") from None
        yield reader.line_num, row


def _time_ms(text: str) -> int:
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadRow(f"created_at {text[:40]!r} is not a date and time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def _hash(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8, person=b"eddy-umami").hexdigest()


def spool_umami(path: Path, site_id: str, tally: Tally, spool: Spool) -> None:
    """Read the zip's two tables into the spool."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise ImportFailed("The file is not a zip archive.") from None
    with archive:
        event_name, session_name = _member(archive, "website_event"), _member(archive, "session")
        sessions: dict[str, Session] = {}
        with archive.open(session_name) as handle:
            for _, row in _rows(handle, "session.csv", {"session_id"}):
                sessions[row["session_id"]] = (
                    (row.get("hostname") or "").lower(),
                    BROWSERS.get(row.get("browser") or "", (row.get("browser") or "").title()),
                    SYSTEMS.get(row.get("os") or "", row.get("os") or ""),
                    DEVICES.get(row.get("device") or "", ""),
                    row.get("screen") or "",
                    (row.get("country") or "").upper()[:2],
                )
        required = {"event_id", "session_id", "created_at", "url_path", "event_type"}
        with archive.open(event_name) as handle:
            for line, row in _rows(handle, "website_event.csv", required):
                tally.read += 1
                try:
                    spool.add(_event(row, sessions, site_id))
                except BadRow as bad:
                    tally.bad(line, f"website_event.csv line {line}: {bad}")


def _event(row: dict[str, str], sessions: dict[str, Session], site_id: str) -> Event:
    session = sessions.get(row["session_id"])
    if session is None:
        raise BadRow("its session_id is not in session.csv")
    hostname, browser, os_name, device, screen, country = session
    hostname = (row.get("hostname") or hostname or "localhost").lower()
    kind = (row.get("event_type") or "").strip()
    if kind == "1":
        name = "pageview"
    elif kind == "2":
        name = (row.get("event_name") or "").strip()
        if not name:
            raise BadRow("a custom event (event_type 2) without event_name")
    else:
        raise BadRow(f"event_type {kind[:10]!r} is neither 1 (pageview) nor 2 (custom event)")
    path = row.get("url_path") or "/"
    query = row.get("url_query") or ""
    url = f"https://{hostname}{path if path.startswith('/') else '/' + path}" + (f"?{query}" if query else "")
    ref_domain = (row.get("referrer_domain") or "").lower()
    referrer = ""
    if ref_domain:
        ref_query = row.get("referrer_query") or ""
        referrer = f"https://{ref_domain}{row.get('referrer_path') or '/'}" + (
            f"?{ref_query}" if ref_query else ""
        )
    page = parse_page_url(url)
    ref_host = host_of(referrer) if referrer else ""
    utm = page.utm
    source = (
        utm[0]
        or page.click_source
        or (source_name(ref_host) if ref_host and ref_host != page.hostname else "")
    )
    record = {
        "id": f"umami:{row['event_id']}",
        "ts": _time_ms(row["created_at"]),
        "name": name[:64],
        "url": url[:2048],
        "path": page.path,
        "hostname": page.hostname,
        "title": (row.get("page_title") or "")[:512],
        "referrer": referrer[:2048],
        "source": source,
        "utm_source": utm[0],
        "utm_medium": utm[1],
        "utm_campaign": utm[2],
        "utm_term": utm[3],
        "utm_content": utm[4],
        "country": country,
        "browser": browser,
        "os": os_name,
        "device": device,
        "screen": screen[:32],
        "visitor_id": _hash(row["session_id"]),
        "session_id": _hash(row.get("visit_id") or row["session_id"]),
        "props": {"tag": row["tag"][:512]} if row.get("tag") else {},
    }
    return checked_event(record, site_id)
