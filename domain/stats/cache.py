"""The stats query cache: answers kept in the KeyValue store under per-site version keys.

Key = `stats:v:<site>` version + a hash of the normalised query. Ingest bumps a site's version (one SET
of a fresh random token, coalesced to at most once per site per `coalesce_s`), so every cached answer of
that site is orphaned at once and expires by its short TTL: invalidation is O(1), never a KEYS/SCAN
delete. A query that raced an ingest can at worst store a pre-ingest answer under the old version, which
nobody reads.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import Sequence
from typing import Any, TypeVar

import msgspec

from storage.ports import KeyValue
from storage.records import Event

log = logging.getLogger("eddy.stats")
CACHE_TTL_S = 30.0
VERSION_TTL_S = 7 * 86400.0
COALESCE_S = 1.0
T = TypeVar("T")
_encoder = msgspec.json.Encoder()


def version_key(site_id: str) -> str:
    """The KeyValue key holding a site's cache version."""
    return f"stats:v:{site_id}"


class StatsCache:
    """Get and put answers for (site, version, query), kept as JSON and read back as their type."""

    def __init__(self, kv: KeyValue, ttl: float = CACHE_TTL_S) -> None:
        self._kv = kv
        self.ttl = ttl
        self._decoders: dict[Any, msgspec.json.Decoder[Any]] = {}

    async def version(self, site_id: str) -> str:
        """The site's current version ("0" before any ingest)."""
        raw = await self._kv.get(version_key(site_id))
        return raw.decode() if raw else "0"

    @staticmethod
    def entry_key(site_id: str, version: str, query_key: str) -> str:
        digest = hashlib.sha256(query_key.encode()).hexdigest()[:32]
        return f"stats:c:{site_id}:{version}:{digest}"

    async def get(self, key: str, kind: type[T]) -> T | None:
        """A cached answer read as `kind`, or None (a broken entry, or one of another shape, counts as
        absent)."""
        raw = await self._kv.get(key)
        if raw is None:
            return None
        decoder = self._decoders.get(kind)
        if decoder is None:  # a decoder is built once per type: building one costs more than a decode
            decoder = self._decoders[kind] = msgspec.json.Decoder(kind)
        try:
            return decoder.decode(raw)  # type: ignore[no-any-return]
        except msgspec.DecodeError:
            return None

    async def put(self, key: str, value: Any) -> None:
        """Keep an answer (a Struct or plain JSON values) for `ttl` seconds."""
        await self._kv.set(key, _encoder.encode(value), self.ttl)

    async def bump(self, site_id: str) -> None:
        """Orphan every cached answer of the site: a fresh random version (one SET; concurrent bumps
        from several processes each leave a version no cached answer was stored under)."""
        await self._kv.set(version_key(site_id), secrets.token_hex(8).encode(), VERSION_TTL_S)


class VersionBumper:
    """An event listener (run with each durable batch) that bumps the versions of the batch's sites,
    at most once per site per `coalesce_s`: a bump due inside the quiet period is deferred to its end,
    so the last batch is always followed by a bump. A component: stop() runs the pending bumps."""

    def __init__(self, cache: StatsCache, coalesce_s: float = COALESCE_S) -> None:
        self._cache = cache
        self._coalesce_s = coalesce_s
        self._last: dict[str, float] = {}
        self._pending: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Nothing to start: work begins with the first batch."""

    async def stop(self) -> None:
        """Run the deferred bumps now and wait for the running ones."""
        pending = list(self._pending)
        for handle in self._pending.values():
            handle.cancel()
        self._pending.clear()
        for site_id in pending:
            self._spawn(site_id)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def __call__(self, events: Sequence[Event]) -> None:
        now = time.monotonic()
        for site_id in {event.site_id for event in events}:
            if site_id in self._pending:
                continue  # a bump is already due at the end of the quiet period
            wait = self._last.get(site_id, -1e9) + self._coalesce_s - now
            if wait <= 0:
                self._spawn(site_id)
            else:
                loop = asyncio.get_running_loop()
                self._pending[site_id] = loop.call_later(wait, self._deferred, site_id)

    def _deferred(self, site_id: str) -> None:
        self._pending.pop(site_id, None)
        self._spawn(site_id)

    def _spawn(self, site_id: str) -> None:
        self._last[site_id] = time.monotonic()
        if len(self._last) > 100_000:  # bounded: forget sites quiet for a while
            cutoff = time.monotonic() - 60
            self._last = {k: v for k, v in self._last.items() if v > cutoff}
        task = asyncio.get_running_loop().create_task(self._bump(site_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _bump(self, site_id: str) -> None:
        try:
            await self._cache.bump(site_id)
        except Exception as error:  # noqa: BLE001 - a listener never raises; the TTL bounds staleness
            log.warning("could not bump the stats cache version of %s: %s", site_id, error)
