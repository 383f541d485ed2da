"""Which site a Plausible or Umami request is for, and whether it may send it.

Plausible names a site by its domain (`www.` stripped; a comma-separated list sends to each), Umami by its
website id: the Eddy site id or the site's `umami_alias`. Only sites that switched the compatibility on
answer. Like the collect pipeline, sites are cached in process for SITE_CACHE_S (a switch turned off takes
effect within that time), misses included, so unknown names cannot make every request a store read.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from domain.accounts.site_docs import StoredSite, stored_site
from domain.accounts.sites import plausible_domain
from domain.ingest.pipeline import normalize_origin, site_origins
from storage.ports import DocumentStore

SITE_CACHE_S = 30.0
SITE_CACHE_ENTRIES = 10_000
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")


@dataclass(frozen=True, slots=True)
class CompatSite:
    """What a compatibility request needs of its site."""

    id: str
    domain: str
    origins: frozenset[str]

    def allows_origin(self, origin: str | None) -> bool:
        """Browser requests (with an Origin) must come from one of the site's allowed origins (or, when
        it lists none, its own domain); server calls carry no Origin and are let through."""
        return origin is None or normalize_origin(origin) in self.origins


def _compat_site(site: StoredSite) -> CompatSite:
    return CompatSite(site.id, site.domain.strip().lower(), frozenset(site_origins(site)))


class CompatSites:
    """Looks sites up by Plausible domain or Umami website id, with a small in-process cache."""

    def __init__(self, docs: DocumentStore, ttl_s: float = SITE_CACHE_S) -> None:
        self._docs = docs
        self._ttl = ttl_s
        self._cache: dict[tuple[str, str], tuple[CompatSite | None, float]] = {}

    async def plausible(self, domain: str) -> CompatSite | None:
        """The site taking Plausible traffic for `domain`, or None."""
        key = plausible_domain(domain)
        if not key or len(key) > 253:
            return None
        return await self._cached("plausible", key, self._find_plausible)

    async def umami(self, website: str) -> CompatSite | None:
        """The site taking Umami traffic for `website` (its id or alias), or None."""
        if not website or len(website) > 64:
            return None
        # Aliases are UUIDs, stored lower-case; site ids are case-sensitive.
        key = website.lower() if _UUID.fullmatch(website) else website
        return await self._cached("umami", key, self._find_umami)

    async def _find_plausible(self, key: str) -> StoredSite | None:
        for doc in await self._docs.find("sites", {"plausible_domain": key}, limit=1):
            site = stored_site(doc)
            if site.compat.plausible:
                return site
        return None

    async def _find_umami(self, website: str) -> StoredSite | None:
        candidates = []
        if _UUID.fullmatch(website):
            candidates = await self._docs.find("sites", {"umami_alias": website}, limit=1)
        if not candidates:
            by_id = await self._docs.get("sites", website)
            candidates = [by_id] if by_id is not None else []
        for doc in candidates:
            site = stored_site(doc)
            if site.compat.umami:
                return site
        return None

    async def _cached(self, kind: str, key: str, find: Any) -> CompatSite | None:
        now = time.monotonic()
        hit = self._cache.get((kind, key))
        if hit is not None and hit[1] > now:
            return hit[0]
        found = await find(key)
        site = _compat_site(found) if found is not None else None
        if len(self._cache) >= SITE_CACHE_ENTRIES:
            self._cache.clear()
        self._cache[(kind, key)] = (site, now + self._ttl)
        return site
