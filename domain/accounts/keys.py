"""API key format, hashing and authentication.

Format: `eddy_pk_<32 base62>` (public: tracker, ingest only) and `eddy_sk_<32 base62>` (secret: server-side
ingest and stats). The type prefix makes a leaked key recognisable (secret scanners can match `eddy_sk_`).
At rest a key is only its `lookup`: HMAC-SHA256 of the value under the server's hash key, so a dump of the
store holds no usable key. Public keys also keep their value (it is embedded in public pages anyway and
the snippet builder shows it again). Authentication looks the key up by that HMAC and compares in
constant time; results are cached briefly in process, and revocations are broadcast on the bus so every
process forgets the key at once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import string
import time
from dataclasses import dataclass
from typing import Any

import msgspec

from domain.accounts.principals import KeyKind, KeyPrincipal
from storage.ports import Bus, DocumentStore

PREFIXES: dict[str, str] = {"public": "eddy_pk_", "secret": "eddy_sk_"}
_ALPHABET = string.ascii_letters + string.digits
KEY_BODY_LENGTH = 32
KEY_LENGTH = len("eddy_pk_") + KEY_BODY_LENGTH
DISPLAY_PREFIX_LENGTH = len("eddy_pk_") + 4
REVOCATION_CHANNEL = "keys:revoked"
CACHE_TTL_S = 30.0
NEGATIVE_CACHE_TTL_S = 5.0
CACHE_MAX_ENTRIES = 10_000


class StoredKey(msgspec.Struct, kw_only=True):
    """A key document as the store keeps it: `lookup` is the HMAC of the value; `value` is kept for
    public keys only."""

    id: str
    site_id: str
    name: str
    kind: KeyKind
    prefix: str
    lookup: str
    value: str | None = None
    active: bool = False
    expires_at: float | None = None
    last_used_at: float | None = None
    created_at: float
    rotated_at: float | None = None


def stored_key(doc: dict[str, Any]) -> StoredKey:
    """A key document read from the store (fields it does not know, such as a store's own id, are left)."""
    return msgspec.convert(doc, StoredKey)


def generate_key(kind: KeyKind) -> str:
    """A new random key value of this kind (190 bits of entropy)."""
    return PREFIXES[kind] + "".join(secrets.choice(_ALPHABET) for _ in range(KEY_BODY_LENGTH))


def key_lookup(hash_key: bytes, value: str) -> str:
    """The stored, non-reversible identifier of a key value."""
    return hmac.new(hash_key, value.encode(), hashlib.sha256).hexdigest()


def display_prefix(value: str) -> str:
    """What lists show of a key: its type prefix and first characters."""
    return value[:DISPLAY_PREFIX_LENGTH]


def looks_like_key(value: str) -> bool:
    """Cheap shape check before any lookup (bounded length, known prefix, base62 body)."""
    return (
        len(value) == KEY_LENGTH
        and value[:8] in ("eddy_pk_", "eddy_sk_")
        and value[8:].isascii()
        and value[8:].isalnum()  # ASCII letters and digits: base62 (one C call, checked per request)
    )


@dataclass
class _Cached:
    principal: KeyPrincipal | None
    expires_at: float  # key expiry (epoch s) or inf
    cached_until: float  # monotonic


log = logging.getLogger("eddy.accounts")


class KeyAuthenticator:
    """Turns a raw key value into a KeyPrincipal, or None when unknown, inactive or expired.

    Keys live in the `api_keys` collection: {id, site_id, kind, lookup, prefix, active, expires_at (epoch s
    or None), last_used_at, name, created_at, value (public keys only)}.
    """

    def __init__(self, docs: DocumentStore, hash_key: bytes, bus: Bus | None = None) -> None:
        self._docs = docs
        self._hash_key = hash_key
        self._bus = bus
        self._cache: dict[str, _Cached] = {}
        self._used: dict[str, float] = {}

    async def start(self) -> None:
        """Listen for revocations from every process."""
        if self._bus is not None:
            await self._bus.subscribe(REVOCATION_CHANNEL, self._on_revoked)

    async def stop(self) -> None:
        """Write pending last-used times."""
        await self.flush_last_used()

    def _on_revoked(self, _channel: str, data: bytes) -> None:
        self._cache.pop(data.decode(), None)

    async def revoked(self, lookup: str) -> None:
        """Forget a key everywhere now (call after revoking, rotating, deleting or changing a key)."""
        self._cache.pop(lookup, None)
        if self._bus is not None:
            try:
                await self._bus.publish(REVOCATION_CHANNEL, lookup.encode())
            except Exception as error:  # noqa: BLE001 - others forget the key within CACHE_TTL_S
                log.warning("could not broadcast a key revocation: %s", error)

    async def authenticate(self, value: str) -> KeyPrincipal | None:
        """The principal for a key value, or None. Never raises for bad input."""
        if not looks_like_key(value):
            return None
        lookup = key_lookup(self._hash_key, value)
        now = time.monotonic()
        cached = self._cache.get(lookup)
        if cached is None or cached.cached_until <= now:
            cached = await self._load(lookup, value, now)
        if cached.principal is None or cached.expires_at <= time.time():
            return None
        self._used[cached.principal.key_id] = time.time()
        return cached.principal

    async def _load(self, lookup: str, value: str, now: float) -> _Cached:
        rows = await self._docs.find("api_keys", {"lookup": lookup}, limit=1)
        key = stored_key(rows[0]) if rows else None
        principal = None
        expires_at = float("inf")
        if (
            key is not None
            and key.active
            and hmac.compare_digest(key.lookup, key_lookup(self._hash_key, value))
            and value.startswith(PREFIXES.get(key.kind, "?"))
        ):
            principal = KeyPrincipal(key_id=key.id, site_id=key.site_id, kind=key.kind)
            if key.expires_at is not None:
                expires_at = key.expires_at
        if len(self._cache) >= CACHE_MAX_ENTRIES:
            self._cache.clear()
        entry = _Cached(principal, expires_at, now + (CACHE_TTL_S if principal else NEGATIVE_CACHE_TTL_S))
        self._cache[lookup] = entry
        return entry

    async def flush_last_used(self) -> None:
        """Coalesced last-used writes: one update per key per flush, not one per request."""
        used, self._used = self._used, {}
        for key_id, when in used.items():
            await self._docs.update("api_keys", {"id": key_id}, {"last_used_at": round(when, 3)})
