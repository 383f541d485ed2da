"""Managing a site's API keys: create, list, rename, deactivate, rotate, delete.

A secret key's value is shown once (on create and rotate) and stored only as its HMAC lookup; a public
key keeps its value (it is embedded in public pages anyway). Every change that could stop a key working
calls `KeyAuthenticator.revoked(lookup)`, so every process forgets it at once.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

import msgspec

from domain.accounts.keys import (
    KeyAuthenticator,
    StoredKey,
    display_prefix,
    generate_key,
    key_lookup,
    stored_key,
)
from domain.accounts.site_docs import StoredSite
from domain.accounts.tokens import new_id
from domain.errors import Conflict
from domain.site_items import given_changes, site_item
from storage.ports import DocumentStore

DEFAULT_EXPIRY_DAYS = 365
MAX_KEYS_PER_SITE = 100
KeyName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
ExpiryDays = Annotated[int, msgspec.Meta(ge=1, le=3650, description="days until the key expires")]


class KeyCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A new key. `expires_in_days` null means it never expires; absent means 365 days."""

    name: KeyName
    kind: Literal["public", "secret"]
    expires_in_days: ExpiryDays | None = DEFAULT_EXPIRY_DAYS


class KeyUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Rename, deactivate or reactivate a key."""

    name: KeyName | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class KeyOut(msgspec.Struct):
    """A key as the API shows it. `key` is the value: always for public keys, for secret keys only in
    the answer that created or rotated it."""

    id: str
    site_id: str
    name: str
    kind: str
    prefix: str
    active: bool
    expires_at: float | None
    last_used_at: float | None
    created_at: float
    key: str | None = None


class KeyAnswer(msgspec.Struct):
    """`{key}`."""

    key: KeyOut


class KeyList(msgspec.Struct):
    """`{keys}`."""

    keys: list[KeyOut]


def key_out(key: StoredKey, value: str | None = None) -> KeyOut:
    """The public view of a key (`value` only right after creating or rotating)."""
    return KeyOut(
        id=key.id,
        site_id=key.site_id,
        name=key.name,
        kind=key.kind,
        prefix=key.prefix,
        active=key.active,
        expires_at=key.expires_at,
        last_used_at=key.last_used_at,
        created_at=key.created_at,
        key=value or key.value,
    )


class KeyService:
    """API keys of sites."""

    def __init__(self, docs: DocumentStore, hash_key: bytes, authenticator: KeyAuthenticator) -> None:
        self._docs = docs
        self._hash_key = hash_key
        self._auth = authenticator

    def _secret_parts(self, kind: str) -> tuple[str, dict[str, Any]]:
        value = generate_key(kind)  # type: ignore[arg-type]
        parts: dict[str, Any] = {"lookup": key_lookup(self._hash_key, value), "prefix": display_prefix(value)}
        # Only public keys keep their value; a secret key is never stored in a usable form.
        parts["value"] = value if kind == "public" else None
        return value, parts

    async def create(self, site: StoredSite, body: KeyCreate) -> KeyOut:
        """A new key; its value is in the answer."""
        if await self._docs.count("api_keys", {"site_id": site.id}) >= MAX_KEYS_PER_SITE:
            raise Conflict(f"a site has at most {MAX_KEYS_PER_SITE} keys", code="too_many_keys")
        now = time.time()
        value, parts = self._secret_parts(body.kind)
        doc = {
            "id": new_id(),
            "site_id": site.id,
            "name": body.name,
            "kind": body.kind,
            **parts,
            "active": True,
            "expires_at": None if body.expires_in_days is None else now + body.expires_in_days * 86400,
            "last_used_at": None,
            "created_at": now,
        }
        await self._docs.insert("api_keys", doc)
        return key_out(stored_key(doc), value)

    async def list(self, site: StoredSite) -> list[KeyOut]:
        """The site's keys, oldest first."""
        await self._auth.flush_last_used()
        rows = await self._docs.find("api_keys", {"site_id": site.id}, sort="created_at")
        return [key_out(stored_key(row)) for row in rows]

    async def get(self, site: StoredSite, key_id: str) -> StoredKey:
        """A key of this site; 404 otherwise."""
        return stored_key(await site_item(self._docs, "api_keys", site.id, key_id, "no such key"))

    async def update(self, site: StoredSite, key_id: str, body: KeyUpdate) -> KeyOut:
        """Rename or (de)activate; takes effect in every process at once."""
        key = await self.get(site, key_id)
        changes = given_changes(body)
        if changes:
            await self._docs.update("api_keys", {"id": key.id}, changes)
            await self._auth.revoked(key.lookup)
        return key_out(msgspec.structs.replace(key, **changes))

    async def rotate(self, site: StoredSite, key_id: str) -> KeyOut:
        """A new value for the key; the old one stops working at once."""
        key = await self.get(site, key_id)
        value, parts = self._secret_parts(key.kind)
        await self._docs.update("api_keys", {"id": key.id}, {**parts, "rotated_at": time.time()})
        await self._auth.revoked(key.lookup)
        return key_out(msgspec.structs.replace(key, **parts), value)

    async def delete(self, site: StoredSite, key_id: str) -> None:
        """Delete the key; it stops working at once."""
        key = await self.get(site, key_id)
        await self._docs.delete("api_keys", {"id": key.id})
        await self._auth.revoked(key.lookup)
