"""A site as the document store keeps it (`StoredSite`), and its conversion from a store document.

The stores hand out plain documents; the domain turns a site document into a `StoredSite` where it reads
one (`stored_site`) and works on its attributes from there. A site document:
{id, owner_id, name, domain, allowed_origins: [origins], timezone (IANA), retention_days,
compat: {plausible, umami}, plausible_domain (the indexed key of Plausible traffic, set while
compat.plausible is on), umami_alias, goals (domain/goals/), currency, created_at, updated_at}.
Members, share links, keys and the rest of what belongs to a site live in their own collections.
Fields that older documents lack read as their defaults.
"""

from __future__ import annotations

from typing import Any

import msgspec

from domain.goals.definitions import Goal


class Compat(msgspec.Struct, forbid_unknown_fields=True):
    """Which other analytics' trackers and APIs the site accepts (POST /api/event, /api/send)."""

    plausible: bool = False
    umami: bool = False


class StoredSite(msgspec.Struct, kw_only=True):
    """A site document. `retention_days` None (documents older than the setting) means the server's
    longest retention; `updated_at` None means never changed since `created_at`."""

    id: str
    owner_id: str
    name: str
    domain: str
    allowed_origins: list[str] = []
    timezone: str = "UTC"
    retention_days: int | None = None
    compat: Compat = msgspec.field(default_factory=Compat)
    plausible_domain: str | None = None
    umami_alias: str | None = None
    goals: list[Goal] = []
    currency: str | None = None
    created_at: float
    updated_at: float | None = None


def stored_site(doc: dict[str, Any]) -> StoredSite:
    """A site document read from the store (fields it does not know, such as a store's own id, are left)."""
    return msgspec.convert(doc, StoredSite)


def site_document(site: StoredSite) -> dict[str, Any]:
    """The site as a plain document again (every field, defaults included)."""
    return msgspec.to_builtins(site)
