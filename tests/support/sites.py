"""Sites, API keys and metric configs written straight into the documents store, for tests that need
them without going through the management API."""

from __future__ import annotations

import time
import uuid
from typing import Any

from domain.accounts.keys import display_prefix, generate_key, key_lookup
from handlers.context import AppContext


async def make_site(
    ctx: AppContext, *, origins: list[str] | None = None, owner_id: str = ""
) -> dict[str, Any]:
    """A site document (allowed origins default to https://shop.example)."""
    now = time.time()
    site = {
        "id": uuid.uuid4().hex,
        "owner_id": owner_id or uuid.uuid4().hex,
        "name": "Shop",
        "domain": "shop.example",
        "allowed_origins": origins if origins is not None else ["https://shop.example"],
        "timezone": "UTC",
        "retention_days": 30,
        "created_at": now,
        "updated_at": now,
    }
    await ctx.stores.docs.insert("sites", site)
    return site


async def make_key(ctx: AppContext, site_id: str, kind: str = "secret") -> str:
    """A new active key of `kind` for the site; returns its value."""
    value = generate_key(kind)  # type: ignore[arg-type]
    doc = {
        "id": uuid.uuid4().hex,
        "site_id": site_id,
        "name": f"{kind} key",
        "kind": kind,
        "lookup": key_lookup(ctx.secrets.hash_key, value),
        "prefix": display_prefix(value),
        "active": True,
        "expires_at": None,
        "last_used_at": None,
        "created_at": time.time(),
    }
    if kind == "public":
        doc["value"] = value
    await ctx.stores.docs.insert("api_keys", doc)
    return value


async def add_metric_config(
    ctx: AppContext,
    site_id: str,
    name: str,
    kind: str = "counter",
    labels: list[str] | None = None,
    buckets: list[float] | None = None,
    help_text: str = "",
) -> dict[str, Any]:
    """A metric config document."""
    now = time.time()
    doc = {
        "id": uuid.uuid4().hex,
        "site_id": site_id,
        "name": name,
        "type": kind,
        "help": help_text or f"{name} of the site",
        "labels": labels or [],
        "buckets": buckets,
        "created_at": now,
        "updated_at": now,
    }
    await ctx.stores.docs.insert("metric_configs", doc)
    return doc
