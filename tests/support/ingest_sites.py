"""Sites and API keys for ingestion tests, written straight into the document store with the account
module's key functions (the same shapes the management API stores)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from domain.accounts.keys import display_prefix, generate_key, key_lookup
from server.context import AppContext

ORIGIN = "https://shop.example"
BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


@dataclass
class SiteKey:
    """A site and one of its keys."""

    site_id: str
    key_id: str
    value: str


async def make_site(ctx: AppContext, origins: tuple[str, ...] = (ORIGIN,)) -> str:
    """A new site allowing `origins`; returns its id."""
    site_id = uuid.uuid4().hex
    now = time.time()
    await ctx.stores.docs.insert(
        "sites",
        {
            "id": site_id,
            "owner_id": "owner",
            "name": "Shop",
            "domain": "shop.example",
            "allowed_origins": list(origins),
            "timezone": "UTC",
            "retention_days": 400,
            "created_at": now,
            "updated_at": now,
        },
    )
    return site_id


async def make_key(
    ctx: AppContext,
    site_id: str,
    kind: str = "public",
    *,
    active: bool = True,
    expires_at: float | None = None,
) -> SiteKey:
    """A key of `kind` for the site."""
    value = generate_key(kind)  # type: ignore[arg-type]
    key_id = uuid.uuid4().hex
    await ctx.stores.docs.insert(
        "api_keys",
        {
            "id": key_id,
            "site_id": site_id,
            "name": kind,
            "kind": kind,
            "lookup": key_lookup(ctx.secrets.hash_key, value),
            "prefix": display_prefix(value),
            "active": active,
            "expires_at": expires_at,
            "last_used_at": None,
            "created_at": time.time(),
            **({"value": value} if kind == "public" else {}),
        },
    )
    return SiteKey(site_id, key_id, value)


async def make_site_key(ctx: AppContext, kind: str = "public") -> SiteKey:
    """A new site with one key of `kind`."""
    return await make_key(ctx, await make_site(ctx), kind)
