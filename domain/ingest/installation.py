"""What the installation check shows (`GET /api/v1/sites/{site_id}/installation`): per site, the last
accepted collect request (when, from which origin, with which key) and a small ring of recent refusals
with their reason (`bad_origin`, `wrong_key_kind`, `bot`, `rate_limited`, `invalid`, `spam_referrer`).

The ingest pipeline records into process memory: a tuple stored per accepted request (not per event),
a small ordered dict per refused one. Every process's records reach the key-value store (shared by the
processes on Redis) at most once per FLUSH_S per site and kind, by a flush scheduled for when that
interval has passed, so the newest record is always written and a flood of refusals costs one write per
interval. The report merges what the store holds with this process's memory. It is a diagnostic, best
effort: a write lost while the key-value store is down only leaves an older answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from typing import Any

import orjson

from storage.ports import KeyValue

RING = 20
FLUSH_S = 2.0
TTL_S = 7 * 86400
MAX_SITES = 10_000
MAX_TEXT = 200
SEEN = "seen"
REFUSED = "refused"


def _refusal(at: float, reason: str, origin: str, detail: str) -> dict[str, Any]:
    return {"at": int(at * 1000), "reason": reason, "origin": origin, "detail": detail}


def _key(kind: str, site_id: str) -> str:
    return f"install:{kind}:{site_id}"


class InstallationLog:
    """Per-site last accepted request and recent refusals, shared through the key-value store."""

    def __init__(self, kv: KeyValue, clock: Any = time.time, flush_s: float = FLUSH_S) -> None:
        self._kv = kv
        self._clock = clock
        self._flush_s = flush_s
        self._seen: dict[str, tuple[float, str, str]] = {}
        self._refused: dict[str, OrderedDict[tuple[str, str], tuple[float, str]]] = {}
        self._next_flush: dict[tuple[str, str], float] = {}
        self._pending: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._closed = False

    def seen(self, site_id: str, key_id: str, origin: str | None) -> None:
        """An accepted request of `site_id` (called once per request on the ingest path: keep it cheap)."""
        now = self._clock()
        if len(self._seen) >= MAX_SITES and site_id not in self._seen:
            self._seen.clear()
        self._seen[site_id] = (now, (origin or "")[:MAX_TEXT], key_id)
        if (SEEN, site_id) not in self._pending:
            self._schedule(SEEN, site_id, now)

    def refused(self, site_id: str, reason: str, origin: str | None, detail: str = "") -> None:
        """A refused or dropped request of `site_id`, with its reason code."""
        now = self._clock()
        ring = self._refused.get(site_id)
        if ring is None:
            if len(self._refused) >= MAX_SITES:
                self._refused.clear()
            ring = self._refused[site_id] = OrderedDict()
        entry = (reason, (origin or "")[:MAX_TEXT])
        ring[entry] = (now, detail[:MAX_TEXT])
        ring.move_to_end(entry)
        while len(ring) > RING:
            ring.popitem(last=False)
        if (REFUSED, site_id) not in self._pending:
            self._schedule(REFUSED, site_id, now)

    def _schedule(self, kind: str, site_id: str, now: float) -> None:
        if self._closed:
            return  # shutting down: the memory alone answers until the process ends
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a synchronous caller): the memory alone answers
        slot = (kind, site_id)
        self._pending.add(slot)
        delay = self._next_flush.get(slot, 0.0) - now
        if delay <= 0:
            self._start_flush(slot)
        else:
            self._timers[slot] = loop.call_later(delay, self._start_flush, slot)

    def _start_flush(self, slot: tuple[str, str]) -> None:
        self._pending.discard(slot)
        self._timers.pop(slot, None)
        if len(self._next_flush) >= MAX_SITES:
            self._next_flush.clear()
        self._next_flush[slot] = self._clock() + self._flush_s
        task = asyncio.get_running_loop().create_task(self._flush(*slot))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self, kind: str, site_id: str) -> None:
        # Best effort (module docstring): a store that is down loses this write, never the ingest.
        with contextlib.suppress(Exception):
            merged = await self._merged(kind, site_id)
            await self._kv.set(_key(kind, site_id), orjson.dumps(merged), TTL_S)

    async def _stored(self, kind: str, site_id: str) -> Any:
        raw = await self._kv.get(_key(kind, site_id))
        if not raw:
            return None
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None

    async def _merged(self, kind: str, site_id: str) -> Any:
        stored = await self._stored(kind, site_id)
        if kind == SEEN:
            mine = self._seen.get(site_id)
            if mine is None:
                return stored
            at, origin, key_id = mine
            if isinstance(stored, dict) and float(stored.get("at", 0)) >= at * 1000:
                return stored
            return {"at": int(at * 1000), "origin": origin, "key_id": key_id}
        entries: dict[tuple[str, str], dict[str, Any]] = {}
        for item in stored if isinstance(stored, list) else []:
            if isinstance(item, dict):
                entries[(str(item.get("reason", "")), str(item.get("origin", "")))] = item
        for (reason, origin), (at, detail) in (self._refused.get(site_id) or {}).items():
            old = entries.get((reason, origin))
            if old is None or float(old.get("at", 0)) < at * 1000:
                entries[(reason, origin)] = {
                    "at": int(at * 1000),
                    "reason": reason,
                    "origin": origin,
                    "detail": detail,
                }
        return sorted(entries.values(), key=lambda item: -float(item.get("at", 0)))[:RING]

    async def report(self, site_id: str) -> dict[str, Any]:
        """{seen, last_event: {at (epoch ms), origin, key_id} | None, refusals: [{at, reason, origin,
        detail}] newest first}, from every process that wrote to the shared store and this one."""
        try:
            seen = await self._merged(SEEN, site_id)
            refusals = await self._merged(REFUSED, site_id)
        except Exception:  # noqa: BLE001 - the store is down: this process's memory still answers
            mine = self._seen.get(site_id)
            seen = {"at": int(mine[0] * 1000), "origin": mine[1], "key_id": mine[2]} if mine else None
            refusals = [
                _refusal(at, reason, origin, detail)
                for (reason, origin), (at, detail) in reversed((self._refused.get(site_id) or {}).items())
            ]
        return {"seen": bool(seen), "last_event": seen or None, "refusals": refusals or []}

    async def drain(self) -> None:
        """Wait for the flushes under way (tests, shutdown)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Shutdown: write what is scheduled now (instead of when its interval ends), then wait for every
        flush, so no timer or task outlives the stores it writes to."""
        self._closed = True
        timers, self._timers = self._timers, {}
        for slot, timer in timers.items():
            timer.cancel()
            self._pending.discard(slot)
            task = asyncio.get_running_loop().create_task(self._flush(*slot))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        await self.drain()
