"""Visitor ids and sessions without cookies and without storing IP addresses.

visitor id = keyed BLAKE2b of (site, IP, user agent) under a random salt of the UTC day. Salts live in the
`salts` document collection ({id: "YYYY-MM-DD", salt}) so every process and host hashes alike; the first
process to need a day's salt creates it with an insert that loses gracefully to a concurrent one. Yesterday's
salt is kept so a session that spans midnight keeps its visitor. The raw IP is used only in memory.

Sessions: when the tracker sends no session id, one is kept per visitor in the key-value store and ends
after 30 minutes of inactivity.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import time
from datetime import UTC, datetime, timedelta

import orjson

from storage.errors import DuplicateKeyError
from storage.ports import DocumentStore, KeyValue

SESSION_TIMEOUT_S = 30 * 60
# A live session's expiry is pushed back at most once a minute, so a busy visitor costs one read a request.
SESSION_REFRESH_S = 60


def utc_day(epoch_s: float) -> str:
    """The UTC date of an instant, as the salt id."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d")


def visitor_hash(salt: bytes, site_id: str, ip: str, user_agent: str) -> str:
    """The visitor id: 16 hex digits, not reversible without the day's salt."""
    data = f"{site_id}\x00{ip}\x00{user_agent}".encode()
    return hashlib.blake2b(data, key=salt, digest_size=8).hexdigest()


class SaltBook:
    """Today's and yesterday's salts, shared through the document store and cached in process."""

    def __init__(self, docs: DocumentStore) -> None:
        self._docs = docs
        self._salts: dict[str, bytes] = {}
        self._current: tuple[int, bytes, bytes | None] | None = None

    async def salts(self, now: float) -> tuple[bytes, bytes | None]:
        """(today's salt, yesterday's salt or None when no one used that day)."""
        day = int(now // 86400)
        current = self._current
        if current is not None and current[0] == day:
            return current[1], current[2]
        pair = await self._load(now)
        self._current = (day, *pair)
        return pair

    async def _load(self, now: float) -> tuple[bytes, bytes | None]:
        today = utc_day(now)
        salt = self._salts.get(today)
        if salt is None:
            salt = await self._today(today)
            yesterday = (datetime.fromtimestamp(now, UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
            old = await self._docs.get("salts", yesterday)
            self._salts = {today: salt}
            if old is not None:
                self._salts[yesterday] = bytes.fromhex(old["salt"])
            await self._prune(today, yesterday)
        yesterday_salt = next((value for day, value in self._salts.items() if day != today), None)
        return salt, yesterday_salt

    async def _today(self, today: str) -> bytes:
        doc = await self._docs.get("salts", today)
        if doc is None:
            with contextlib.suppress(DuplicateKeyError):  # another process made it first: use theirs
                await self._docs.insert("salts", {"id": today, "salt": secrets.token_hex(32)})
            doc = await self._docs.get("salts", today)
        if doc is None:
            raise RuntimeError("the day's salt vanished")
        return bytes.fromhex(doc["salt"])

    async def _prune(self, today: str, yesterday: str) -> None:
        # Older salts are destroyed so old visitor ids can never be linked again.
        for doc in await self._docs.find("salts", {}):
            if doc["id"] not in (today, yesterday):
                await self._docs.delete("salts", {"id": doc["id"]})


class Sessions:
    """Session ids by 30-minute inactivity, kept in the key-value store (shared across processes)."""

    def __init__(self, kv: KeyValue, timeout_s: float = SESSION_TIMEOUT_S) -> None:
        self._kv = kv
        self._timeout = timeout_s

    async def session_for(
        self, site_id: str, visitor_id: str, previous_visitor: str | None = None
    ) -> tuple[str, str]:
        """(session id, visitor id) for a visitor, starting a new session after `timeout_s` of silence.
        A session still alive under `previous_visitor` (yesterday's id, just after midnight) carries on,
        and so does that visitor id, so one visit is not split in two at midnight."""
        session_id, visitor_id, _ = await self.visit_for(site_id, visitor_id, previous_visitor, ())
        return session_id, visitor_id

    async def visit_for(
        self,
        site_id: str,
        visitor_id: str,
        previous_visitor: str | None,
        acquisition: Acquisition,
    ) -> tuple[str, str, Acquisition]:
        """As `session_for`, plus the visit's acquisition (referrer, source, utm_*): the one given here
        when the session starts, the one its first request brought while it goes on."""
        now = time.time()
        key = f"sess:{site_id}:{visitor_id}"
        value = await self._kv.get(key)
        if value is None and previous_visitor is not None:
            old_key = f"sess:{site_id}:{previous_visitor}"
            value = await self._kv.get(old_key)
            if value is not None:
                key, visitor_id = old_key, previous_visitor
        if value is None:
            session_id = secrets.token_hex(8)
            await self._kv.set(key, _session_value(session_id, now, acquisition), self._timeout)
            return session_id, visitor_id, acquisition
        session_id, _, rest = value.decode().partition(":")
        touched, _, stored = rest.partition(":")
        kept = _acquisition(stored, acquisition)
        if now - float(touched or 0) >= SESSION_REFRESH_S:
            await self._kv.set(key, _session_value(session_id, now, kept), self._timeout)
        return session_id, visitor_id, kept


# A visit's acquisition: (referrer, source, utm_source, utm_medium, utm_campaign, utm_term, utm_content).
Acquisition = tuple[str, ...]
ACQUISITION_FIELDS = (
    "referrer",
    "source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
)


def _session_value(session_id: str, now: float, acquisition: Acquisition) -> bytes:
    return f"{session_id}:{int(now)}:".encode() + orjson.dumps(list(acquisition))


def _acquisition(stored: str, fallback: Acquisition) -> Acquisition:
    """The stored acquisition, or `fallback` for a session kept before acquisitions were stored."""
    if not stored:
        return fallback
    try:
        values = orjson.loads(stored)
    except orjson.JSONDecodeError:
        return fallback
    if isinstance(values, list) and len(values) == len(ACQUISITION_FIELDS):
        return tuple(str(value) for value in values)
    return fallback
